""".NET stack traces (``Exception.ToString()`` output): find, parse, normalise frames.

Covers .NET Framework and .NET (Core) layouts, localised runtimes (the "at" word, the
``in FILE:line N`` suffix and the separators are translated), Mono frames, inner exceptions and
AggregateException's extra inner exceptions.

``A: outer ---> B: inner`` prints the innermost stack first, then one
``--- End of inner exception stack trace ---`` per level before the enclosing frames, so frame
blocks are mapped back from the last (outermost) one. AggregateException's
``---> (Inner Exception #N) ... <---`` sections are side exceptions of the exception whose
frames they follow (placed by ``weave_side_exceptions``); a section that repeats the chain's own
inner exception (.NET Framework prints #0 twice) is dropped.

Unity (Mono and IL2CPP players, the editor console) prints frames without the "at" word:
``Type.Method (params) (at path:line)``, ``Type.Method () [0x00000] in <mvid>:0`` and, in
``Debug.Log`` stack traces, ``Namespace.Type/Nested:Method (params)``. Its exception lines use
the short type name, and ``StackTraceUtility`` prints an inner-exception chain inside-out: the
root cause's ``Type: message`` and frames first, then one ``Rethrow as Outer: message`` line per
enclosing exception, each followed by that exception's frames, the outermost last; the stack of
the method that logged the exception comes after all of them. So the chain is read in print
order and reversed. A Unity frame starts a trace only when it is unmistakable (a location or a
``Namespace.Type:Method`` name); bare ``Type.Method (params)`` lines only continue one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    FrameBudget,
    first_frame_line,
    has_long_line,
    restore_breaks,
    weave_side_exceptions,
)

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

# The "at" word per runtime language: en at, de bei, fr à, es en, pt em, it in, ru в, pl w,
# nl bij, sv vid, da/nb ved, cs v, ja 場所, zh 在.
_AT = r"(?:at|bei|à|en|em|in|в|w|bij|vid|ved|v|場所|在)"
# "()", "(Int32 id)", "(Object , Object[] )": never Java's "(Native Method)" or "(Foo.java:42)".
# Stack overflow dumps print bare types: "(Acme.Catalog.Category)", "(System.String[])"; a Java
# frame without a line number ("(Foo.java)") is not one of them.
_PARAM_BODY = (
    r"(?!Unknown Source\)|Native Method\))(?:[^():\n \t]*[ \t][^():\n]*"
    r"|[A-Za-z_][\w`]*(?:\.[\w`]+)+(?<!\.java)(?<!\.kt)(?<!\.kts)(?<!\.scala)(?<!\.groovy)"
    r"(?:<[^()\n]*>)?(?:\[,*\])*[&*]?)?"
)
_PARAMS = r"\(" + _PARAM_BODY + r"\)"
# Mono: "at (wrapper managed-to-native) System.X.Y(...)". No "(" inside, so a search from each of
# many "(wrapper " in one line stops at the next one instead of reading to the line's end.
_WRAPPER = r"\(wrapper [^()\n]*\)[ \t]++"

#: A frame anywhere (collapsed lines included). Searched only just before a parameter list found
#: by ``_PARAMS_ANY``: that regex starts with a literal, so a body without one costs microseconds.
_FRAME_ANY = re.compile(_AT + r"[ \t]+(?:" + _WRAPPER + r"|[^\s(]+[ \t]?" + _PARAMS + ")")
_PARAMS_ANY = re.compile(_PARAMS)
_NAME_WINDOW = 600  # how far before a parameter list the "at Name" part may start
#: What every line ``_FRAME`` matches starts with, up to its parameter list's "(" (a wrapper's
#: "(" included). Searched only from each "\n" and at the text's start, so several times cheaper
#: than ``_search_frame`` (``has_marker``); the parameter list itself would cost more to read
#: here than it saves.
_FRAME_START = r"[ \t]*+" + _AT + r"[ \t]++[^\s(]*+[ \t]?\("
_LINE_FRAME_START = re.compile(r"\n" + _FRAME_START)
_TEXT_FRAME_START = re.compile(r"\A" + _FRAME_START)

#: Where a collapsed trace gets its line breaks back: before frames, separators, sections.
#: ``restore_breaks`` runs it over a whole line, so a run of blanks is read once (from its first
#: blank, or from where a match ending in "--- " left it) and a section label ends at the next
#: "(" ("---> (" many times, no ")").
_BREAK = re.compile(
    r"[ \t](?<!(?<!---)[ \t]{2})[ \t]*+(?:"
    + _AT
    + r"[ \t]++(?:"
    + _WRAPPER
    + r"|[^\s(]++[ \t]?"
    + _PARAMS
    + r")|--- (?=[^-\n()]{3,160}? ---)|---> \([^()\n]*#\d+\))"
)

# "   at Acme.Cases.CaseViewModel.Load(Int32 id) in C:\src\CaseViewModel.cs:line 42"
# "   bei Acme.X.Load(Int32 id) in C:\src\X.cs:Zeile 42", "   à Acme.X.Load() dans C:\X.cs:ligne 42"
# "  at Acme.X.Load (System.Int32 id) [0x00012] in /src/X.cs:42" (Mono)
# "   at Dapper.SqlMapper.QueryImpl[T](IDbConnection cnn)+MoveNext() in /_/SqlMapper.cs:line 1093"
# Matched against whole lines; LINE_START keeps a search over a run of blanks linear.
_FRAME = re.compile(
    LINE_START + r"[ \t]*+" + _AT + r"[ \t]+(?P<wrapper>" + _WRAPPER + r")?(?P<name>[^\s(]+)[ \t]?"
    r"\((?(wrapper)[^()\n]*|" + _PARAM_BODY + r")\)"
    r"(?:[ \t]+\[0x[0-9a-fA-F]+\]|[ \t]+<0x[0-9a-fA-F]+ \+ 0x[0-9a-fA-F]+>"
    r"|[ \t]*\+[ \t]*0x[0-9a-fA-F]+|\+[\w.]+\(\))?"
    r"(?:[ \t]+\S{1,6}[ \t]+(?P<file>[^\n]{1,400}?):(?:[^\W\d_]+[ \t]?)?(?P<line>\d+))?"
    r"(?:[ \t]*(?P<close><---)|[ \t]+[^\n]*|[ \t]*)$"
)

# Unity frames (no "at"); the name holds a "." or ":" so "Bob (Support)" is no frame:
# "PlayerController.Update () (at Assets/Scripts/PlayerController.cs:25)"
# "Task.Execute () [0x00000] in <00000000000000000000000000000000>:0" (IL2CPP)
# "UnityEngine.Debug:Log (object)", "Game.UI.Menu/<Open>d__4:MoveNext () (at Assets/Menu.cs:9)"
# "(wrapper managed-to-native) System.Reflection.MonoMethod:InternalInvoke (object,object[])"
_UNITY_FRAME = re.compile(
    LINE_START + r"[ \t]*+(?:" + _WRAPPER + r")?"
    r"(?P<name>(?=[^\s(]*[.:])[A-Za-z_<.][^\s(:]*)(?::(?P<method>[A-Za-z_<.][^\s(:]*))?"
    r"[ \t]?\([^()\n]*\)"
    r"(?:[ \t]+(?:(?P<at>\(at )|\[0x[0-9a-fA-F]+\][ \t]+in[ \t]+)"
    r"(?P<file>[^\n]*?):(?P<line>\d+)(?(at)\)))?[ \t]*$"
)
#: What only a Unity frame line holds: a location after the parameters, or ":Method (" of the
#: ``Debug.Log`` form. Two searches, each starting with a literal, so a body without either is
#: rejected in microseconds (one regex with both alternatives is several times slower).
_UNITY_LOCATION = re.compile(r"\)[ \t]+(?:\(at |\[0x)")
_UNITY_METHOD = re.compile(r":[A-Za-z_<.][^\s(:]*[ \t]?\(")
#: Where a collapsed Unity trace gets its line breaks back: before "Rethrow as", before a frame
#: with a location, a ``Type:Method (`` frame or a ``Type.Method (`` right after a ")", but
#: never inside "(wrapper managed-to-native) Type:Method (". Only from the first blank of a run;
#: a name is read once (possessive), and "a name with a dot" is a lookahead plus one pass, as
#: ``[^\s()]*\.[^\s()]*`` tries every dot of "a.a.a.a..." with every split of the rest.
_UNITY_BREAK = re.compile(
    r"(?<!-native\))(?<!-method\))(?<!-invoke\))(?<!-managed\))(?<![ \t])"
    r"(?:[ \t]++(?=Rethrow as |(?:" + _WRAPPER + r")?(?:[^\s()]++[ \t]?\([^()\n]*\)[ \t]+"
    r"(?:\(at |\[0x)|[^\s():]++:[A-Za-z_<.][^\s(:]*+[ \t]?\())"
    r"|(?<=\))[ \t]++(?=(?=[^\s()]*\.)[^\s()]*+[ \t]?\([^()\n]*\)))"
)
# "Rethrow as TargetInvocationException: Exception has been thrown by the target of ..."
_RETHROW = re.compile(LINE_START + r"[ \t]*+Rethrow as (?P<rest>\S[^\n]*)$")

# "   --- End of inner exception stack trace ---",
# "   --- Ende der internen Ausnahmestapelüberwachung ---",
# "--- End of stack trace from previous location ---" (a separator inside one stack only).
_MARKER = re.compile(LINE_START + r"[ \t]*+--- (?P<text>[^\n]*?) ---[ \t]*$")
_INNER_END = re.compile(r"inner|intern|внутрен|内部|wewnętrz", re.IGNORECASE)
# "---> (Inner Exception #1) System.IO.IOException: Disk full"
_SECTION = re.compile(LINE_START + r"[ \t]*+---> \([^)\n]*#\d+\)[ \t]*(?P<rest>.*)$")
_ARROW_LINE = re.compile(LINE_START + r"[ \t]*+---> ")
# .NET 5+ fatal stack overflow: "Stack overflow." then "Repeat 12053 times:" between dash rules.
_OVERFLOW_HEAD = re.compile(r"(?:^|(?<=\s))Stack overflow\.(?=\s|$)")
_OVERFLOW_TYPE = "System.StackOverflowException"
_REPEAT = re.compile(LINE_START + r"[ \t]*+(?:Repeat \d+ times:|-{5,})[ \t]*$")
#: Lines an exception's ``ToString()`` may append after its frames ("ClientConnectionId:...",
#: "Error Number:2601,State:1,Class:14" of SqlException) before the inner exception ends.
_MAX_TRAILER_LINES = 4

_TYPE = r"[A-Za-z_][\w`]*(?:[.+][A-Za-z_][\w`]*)+"
_TYPE_ANY = r"[A-Za-z_][\w`]*(?:[.+][A-Za-z_][\w`]*)*"  # short names too, for Unity's headers
# "System.Net.Sockets.SocketException (10060):",
# "System.ComponentModel.Win32Exception (0x80004005):"
_CODE = r"(?:[ \t]\((?:0x[0-9A-Fa-f]+|-?\d+)\))?"
_TYPE_END = r"(?=[ \t]*(?::|$|--->))"
_PREFIX = (
    r"(?:(?:Unhandled [Ee]xception|Unbehandelte Ausnahme|Exception non gérée"
    r"|Excepción no controlada|Exceção sem tratamento|Необработанное исключение"
    r"|Exception Info|Exception|Error)[ \t]*[.:][ \t]*)?"
)
# "Unhandled exception. System.InvalidOperationException: Sequence contains no elements"
_HEAD = re.compile(
    LINE_START + r"[ \t]*+" + _PREFIX + r"(?P<type>" + _TYPE + r")" + _CODE + _TYPE_END
)
# "2026-11-27 10:00:01 ERROR Load failed System.TimeoutException: The operation timed out",
# "Time: 2026-11-12 03:35 System.Exception: Exception of type 'System.Exception' was thrown."
# (the last name may be "Exception" itself once a namespace is before it)
_HEAD_EMBEDDED = re.compile(
    r"(?<![\w.`+])(?P<type>(?:[A-Za-z_][\w`]*[.+])+\w*(?:Exception|Fault))" + _CODE + r":"
)
# Unity names the type without its namespace: "NullReferenceException: Object reference not set
# to an instance of an object", "Exception: Save slot 3 is corrupt", also after a log prefix.
_SHORT_HEAD = re.compile(
    r"(?:^[ \t]*|(?<=[ \t]))(?P<type>(?:[A-Za-z_]\w*)?Exception)(?=[ \t]*(?::|$))"
)
_SPLIT = re.compile(r"---> (?=" + _TYPE + _CODE + r"(?:[ \t]*[:\n]|[ \t]*$|[ \t]+--->))")
_SEGMENT = re.compile(
    r"(?P<type>" + _TYPE_ANY + r")" + _CODE + r"(?:[ \t]*:[ \t]*(?P<message>.*))?",
    re.DOTALL,
)

_MAX_HEADER_LINES = 40
_MAX_SECTION_DEPTH = 8

# Normalisation. "<Main>g__Local|0_0" (local function), "<LoadAsync>d__12" (state machine),
# "<Run>b__0" (lambda), "<Main>$" (top-level statements), "<<Run>b__0>d.MoveNext" (async lambda).
_LOCAL_FUNCTION = re.compile(r"<(?P<outer>\.?\w+)>g__(?P<inner>\w+)\|")
_GENERATED = re.compile(r"(?<![\w`])<(?P<name>\.?\w+)>")
_ARITY = re.compile(r"`\d+")
_GENERIC_ARGS = re.compile(r"\[[^\[\]]*\]$|(?<=\w)<[^<>]*>$")  # Get[T], Get<T>
_LAMBDA_METHOD = re.compile(r"lambda_method\d*")  # compiled expression trees
_WRAPPER_RAW = re.compile(r"^(?:\S+[ \t]+)?\(wrapper ")  # Unity prints no "at" before it


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first .NET exception chain in ``text``, or ``None`` when it holds no .NET frame.

    The ``at`` layouts are looked for first; Unity's only when the text holds none of them.
    Each frame block keeps at most ``max_frames`` frames.
    """
    unity = False
    found = _locate(text, _search_frame, _search_frame, _BREAK, _FRAME)
    if found is None:
        unity = True
        found = _locate(text, _unity_hint, _search_unity, _UNITY_BREAK, _UNITY_FRAME)
        if found is None:
            return None
    lines, body = found
    while body > 0 and _MARKER.match(lines[body - 1]):
        body -= 1
    header = _header(lines, body)
    reader = _Reader(lines, body, FrameBudget(max_frames), unity)
    exceptions = reader.chain(header)
    return Trace(language="dotnet", exceptions=exceptions, dropped=reader.budget.dropped)


def has_marker(text: str) -> bool:
    """Whether ``text`` may hold a .NET trace. ``_locate`` reads the "at" layouts from the first
    line ``_FRAME`` matches, which is a line of the text (a ``_LINE_FRAME_START`` or
    ``_TEXT_FRAME_START`` match) or one ``restore_breaks`` split off a line longer than
    ``COLLAPSED_LINE``; Unity's only when ``_unity_hint`` finds a hint. ``parse`` reads nothing
    in a text with none of these."""
    return (
        _LINE_FRAME_START.search(text) is not None
        or _TEXT_FRAME_START.match(text) is not None
        or has_long_line(text)
        or _unity_hint(text, 0) is not None
    )


def _locate(
    text: str,
    reject: Callable[[str, int], re.Match[str] | None],
    search: Callable[[str, int], re.Match[str] | None],
    breaks: re.Pattern[str],
    frame_line: re.Pattern[str],
) -> tuple[list[str], int] | None:
    """The text's lines (breaks restored) and the index of its first frame in one layout.

    ``reject`` is the cheap unanchored test (it must also find frames in collapsed lines);
    ``search`` finds frame candidates in the restored text for ``first_frame_line``.
    """
    if reject(text, 0) is None:
        return None
    restored = restore_breaks(text.replace("\r\n", "\n") if "\r" in text else text, breaks)
    lines = restored.split("\n")
    first = first_frame_line(restored, lines, search, frame_line)
    return None if first is None else (lines, first)


def _unity_hint(text: str, pos: int) -> re.Match[str] | None:
    """The first text from ``pos`` that only a Unity frame holds."""
    location = _UNITY_LOCATION.search(text, pos)
    method = _UNITY_METHOD.search(text, pos, location.start() if location else len(text))
    return method or location


def _earlier(a: re.Match[str] | None, b: re.Match[str] | None) -> re.Match[str] | None:
    if a is None or (b is not None and b.start() < a.start()):
        return b
    return a


def _search_unity(text: str, pos: int) -> re.Match[str] | None:
    """The first Unity hint from ``pos`` whose whole line is a frame that can start a trace.

    Each kind of hint is searched again only once passed, so a long text stays linear.
    """
    location = _UNITY_LOCATION.search(text, pos)
    method = _UNITY_METHOD.search(text, pos)
    while (hint := _earlier(location, method)) is not None:
        start = text.rfind("\n", 0, hint.start()) + 1
        end = text.find("\n", hint.end())
        if end < 0:
            end = len(text)
        match = _UNITY_FRAME.match(text, start, end - 1 if text[end - 1 : end] == "\r" else end)
        if match is not None and _starts_trace(match):
            return hint
        if location is not None and location.start() < end:
            location = _UNITY_LOCATION.search(text, end)
        if method is not None and method.start() < end:
            method = _UNITY_METHOD.search(text, end)
    return None


def _starts_trace(match: re.Match[str]) -> bool:
    """A Unity frame with a location, or ``Namespace.Type:Method``: never ordinary prose."""
    return match["file"] is not None or (match["method"] is not None and "." in match["name"])


def _search_frame(text: str, pos: int) -> re.Match[str] | None:
    """The first frame-like text from ``pos``: parameter lists first, then what precedes them."""
    while (params := _PARAMS_ANY.search(text, pos)) is not None:
        found = _FRAME_ANY.search(text, max(pos, params.start() - _NAME_WINDOW), params.end())
        if found is not None:
            return found
        pos = params.end()
    return None


def _header(lines: list[str], body: int) -> str:
    """The ``Type: message ---> Inner: message`` text that ends where the body starts.

    Walks back from the first frame to the nearest line starting an exception; lines starting
    with ``--->`` (.NET Core puts each inner exception on its own line) keep it walking.
    """
    for index in range(body - 1, max(-1, body - 1 - _MAX_HEADER_LINES), -1):
        line = lines[index]
        if _ARROW_LINE.match(line):
            continue
        if "Stack overflow." in line and _OVERFLOW_HEAD.search(line):
            return _OVERFLOW_TYPE
        match = _HEAD.match(line) or _HEAD_EMBEDDED.search(line) or _SHORT_HEAD.search(line)
        if match is None or line[: match.start("type")].endswith("---> "):
            continue
        return "\n".join([line[match.start("type") :], *lines[index + 1 : body]])
    return ""


def _heads(header: str) -> list[tuple[str, str]]:
    """``[(type, message), ...]`` outermost first; one nameless entry when there is no header."""
    heads: list[tuple[str, str]] = []
    for segment in _SPLIT.split(header):
        match = _SEGMENT.match(segment.strip())
        if match is not None:
            heads.append((match["type"], (match["message"] or "").strip()))
    return heads or [("", header.strip())]


def _frame(match: re.Match[str], line: str) -> Frame:
    name = match["name"]
    module, function = _split_name(name)
    number = match["line"]
    return Frame(
        module=module,
        function=function,
        file=match["file"],
        line=int(number) if number is not None else None,
        raw=line.strip().removesuffix("<---").rstrip(),
    )


def _unity_frame(match: re.Match[str], line: str) -> Frame:
    """A Unity frame; ``Type/Nested:Method`` is split at the colon, ``/`` read as ``+``."""
    name = match["name"].replace("/", "+")
    method = match["method"]
    if method is None:
        module, function = _split_name(name)
    elif (cut := _generated_type(name)) > 0:
        module, function = name[:cut], f"{name[cut + 1 :]}.{method}"
    else:
        module, function = name, method
    number = match["line"]
    return Frame(
        module=module,
        function=function,
        file=match["file"],
        line=int(number) if number is not None else None,
        raw=line.strip(),
    )


def _generated_type(name: str) -> int:
    """Where a compiler-generated nested type starts: ``.<`` (.NET) or ``+<`` (Mono, Unity;
    not inside generic arguments), or -1."""
    dot = name.find(".<")
    plus = name.find("+<")
    if plus > 0 and (dot < 0 or plus < dot) and "<" not in name[:plus]:
        return plus
    return dot


@lru_cache(maxsize=4096)  # the same frames recur in every report of a bug
def _split_name(name: str) -> tuple[str, str]:
    """``Acme.X.Load`` → (``Acme.X``, ``Load``); compiler-generated parts stay with the method:
    ``Acme.X.<LoadAsync>d__12.MoveNext`` and ``Acme.X+<LoadAsync>d__12.MoveNext`` →
    (``Acme.X``, ``<LoadAsync>d__12.MoveNext``)."""
    cut = _generated_type(name)
    if cut > 0:
        return name[:cut], name[cut + 1 :]
    cut = name.find("..")  # constructors: "Acme.X..ctor", "Acme.X..cctor"
    if cut > 0:
        return name[:cut], name[cut + 1 :]
    # Generic method arguments may hold dots ("Get[System.String]"); Mono's generic type
    # arguments are inside the type ("InvokableCall`1[T1].Invoke").
    cut = name.rfind(".", 0, _bracket_start(name) if name.endswith("]") else len(name))
    return (name[:cut], name[cut + 1 :]) if cut > 0 else ("", name)


def _bracket_start(name: str) -> int:
    """Index of the ``[`` that opens the bracket group ending ``name``."""
    depth = 0
    for index in range(len(name) - 1, -1, -1):
        char = name[index]
        if char == "]":
            depth += 1
        elif char == "[":
            depth -= 1
            if depth == 0:
                return index
    return len(name)


class _Reader:
    """Reads frame blocks, separators and AggregateException sections from a line position.

    ``unity``: the trace is Unity's, so bare ``Type.Method (params)`` lines are frames too.
    """

    __slots__ = ("budget", "lines", "pos", "unity")

    def __init__(
        self, lines: list[str], pos: int, budget: FrameBudget, unity: bool = False
    ) -> None:
        self.lines = lines
        self.pos = pos
        self.budget = budget
        self.unity = unity

    def chain(self, header: str, closed: bool = False, depth: int = 0) -> tuple[ExceptionInfo, ...]:
        """One exception chain: its header's exceptions plus the frame blocks that follow.

        ``depth`` counts enclosing AggregateException sections (an unclosed one nests the next).
        """
        lines = self.lines
        blocks: list[list[Frame]] = [[]]
        sections: list[list[tuple[ExceptionInfo, ...]]] = [[]]
        rethrows: list[tuple[int, str]] = []  # (first block, header) per "Rethrow as"
        while not closed and self.pos < len(lines):
            line = lines[self.pos]
            match = _FRAME.match(line)
            if match is not None:
                if self.budget.room(blocks[-1]):
                    blocks[-1].append(_frame(match, line))
                self.pos += 1
                closed = match["close"] is not None
                continue
            match = _MARKER.match(line)
            if match is not None:
                if _INNER_END.search(match["text"]):
                    blocks.append([])
                    sections.append([])
                self.pos += 1
                continue
            match = _SECTION.match(line)
            if match is not None and depth < _MAX_SECTION_DEPTH:
                self.pos += 1
                header_text, header_closed = self._section_header(match["rest"])
                sections[-1].append(self.chain(header_text, header_closed, depth + 1))
                continue
            if line.strip() == "<---":
                self.pos += 1
                break
            if _REPEAT.match(line):
                self.pos += 1
                continue
            frame = self._as_unity_frame(line)
            if frame is not None:
                if self.budget.room(blocks[-1]):
                    blocks[-1].append(frame)
                self.pos += 1
                continue
            match = _RETHROW.match(line)
            if match is not None:
                self.unity = True
                blocks.append([])
                sections.append([])
                rethrows.append((len(blocks) - 1, self._rethrow_header(match["rest"])))
                continue
            if not line.strip() and self._skip_blank():
                continue
            if self._skip_trailer():
                continue
            break
        if rethrows:
            return _rethrown(header, rethrows, blocks)
        return _assemble(_heads(header), blocks, sections)

    def _as_unity_frame(self, line: str) -> Frame | None:
        """The line as a Unity frame; a bare one only once the trace is known to be Unity's."""
        if "(" not in line:
            return None
        match = _UNITY_FRAME.match(line)
        if match is None or not (self.unity or _starts_trace(match)):
            return None
        self.unity = True
        return _unity_frame(match, line)

    def _rethrow_header(self, first: str) -> str:
        """A ``Rethrow as`` header with the message lines that follow it up to the next frame."""
        lines = self.lines
        start = self.pos + 1
        for pos in range(start, min(start + _MAX_HEADER_LINES, len(lines))):
            line = lines[pos]
            if not line.strip():
                break
            if _FRAME.match(line) or _UNITY_FRAME.match(line) or _RETHROW.match(line):
                self.pos = pos
                return "\n".join([first, *lines[start:pos]])
        self.pos = start
        return first

    def _section_header(self, first: str) -> tuple[str, bool]:
        """A section's header text and whether it already closed (``...: message<---``)."""
        parts = [first]
        lines = self.lines
        while (
            not parts[-1].rstrip().endswith("<---")
            and self.pos < len(lines)
            and len(parts) < _MAX_HEADER_LINES
            and not _structural(lines[self.pos])
        ):
            parts.append(lines[self.pos])
            self.pos += 1
        text = "\n".join(parts).rstrip()
        if text.endswith("<---"):
            return text[:-4], True
        return text, False

    def _skip_blank(self) -> bool:
        """Skip blank lines when the trace goes on after them (AggregateException sections)."""
        lines = self.lines
        pos = self.pos
        while pos < len(lines) and not lines[pos].strip():
            pos += 1
        if pos < len(lines) and (
            _structural(lines[pos]) or (self.unity and _UNITY_FRAME.match(lines[pos]))
        ):
            self.pos = pos
            return True
        return False

    def _skip_trailer(self) -> bool:
        """Skip detail lines an exception printed after its frames when its inner-exception
        end marker follows (SqlException's ``ClientConnectionId``/``Error Number`` lines)."""
        lines = self.lines
        for pos in range(self.pos + 1, min(self.pos + 1 + _MAX_TRAILER_LINES, len(lines))):
            line = lines[pos]
            if "---" not in line:  # cheap: no marker here
                if "(" in line and _FRAME.match(line):
                    return False
                continue
            match = _MARKER.match(line)
            if match is not None and _INNER_END.search(match["text"]):
                self.pos = pos
                return True
            return False
        return False


def _structural(line: str) -> bool:
    return bool(_FRAME.match(line) or _MARKER.match(line) or _SECTION.match(line))


def _assemble(
    heads: list[tuple[str, str]],
    blocks: list[list[Frame]],
    sections: list[list[tuple[ExceptionInfo, ...]]],
) -> tuple[ExceptionInfo, ...]:
    """Give block ``j`` (of ``k``) to exception ``k-1-j``: the last block is the outermost's."""
    count = len(heads)
    frames: list[list[Frame]] = [[] for _ in heads]
    owned: list[list[tuple[ExceptionInfo, ...]]] = [[] for _ in heads]
    last = len(blocks) - 1
    for j, block in enumerate(blocks):
        index = min(last - j, count - 1)
        frames[index].extend(block)
        owned[index].extend(sections[j])
    chain = [
        ExceptionInfo(type=type_, message=message, frames=tuple(found))
        for (type_, message), found in zip(heads, frames, strict=True)
    ]
    sides = [_side_exceptions(chain, index, found) for index, found in enumerate(owned)]
    return weave_side_exceptions(chain, sides)


def _rethrown(
    header: str, rethrows: list[tuple[int, str]], blocks: list[list[Frame]]
) -> tuple[ExceptionInfo, ...]:
    """Unity's inside-out chain: the header is the root cause and owns the blocks before the
    first ``Rethrow as``; each rethrow owns the blocks up to the next. Reversed to outermost
    first (Unity's header names one exception; AggregateException sections do not occur)."""
    heads = [(0, _heads(header)[-1]), *((first, _heads(text)[0]) for first, text in rethrows)]
    ends = [first for first, _ in rethrows] + [len(blocks)]
    chain = [
        ExceptionInfo(
            type=type_,
            message=message,
            frames=tuple(frame for block in blocks[first:end] for frame in block),
        )
        for (first, (type_, message)), end in zip(heads, ends, strict=True)
    ]
    return tuple(reversed(chain))


def _side_exceptions(
    chain: list[ExceptionInfo], index: int, found: Sequence[tuple[ExceptionInfo, ...]]
) -> list[ExceptionInfo]:
    """Flatten the sections of ``chain[index]``, minus one repeating its inner exception."""
    inner = chain[index + 1] if index + 1 < len(chain) else None
    out: list[ExceptionInfo] = []
    for section in found:
        head = section[0]
        if inner is not None and (head.type, head.message) == (inner.type, inner.message):
            inner = None  # only the first repeat is the .NET Framework duplicate
            continue
        out.extend(section)
    return out


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """Stable identity of a .NET frame: compiler-generated names folded to the source method."""
    module = _ARITY.sub("", frame.module)
    function = frame.function
    if _is_wrapper(frame):
        return NormalizedFrame(key=_join(module, function), hint="Mono runtime wrapper", skip=True)
    if _LAMBDA_METHOD.fullmatch(function):
        return NormalizedFrame(
            key=_join(module, "lambda_method"),
            hint=f"compiled expression {function} is generated",
            skip=True,
        )
    if module.startswith("Castle.Proxies."):
        return NormalizedFrame(
            key=_join("Castle.Proxies", function), hint=f"dynamic proxy {module}", skip=True
        )
    hints: list[str] = []
    local = _LOCAL_FUNCTION.search(function)
    generated = None if local else _GENERATED.search(function)
    if local is not None:
        name = f"{local['outer']}.{local['inner']}"
        hints.append(f"local function {frame.function} folded to {name}")
    elif generated is not None:
        name = generated["name"]
        hints.append(f"{_generated_kind(function)} {frame.function} folded to {name}")
    else:
        name = _GENERIC_ARGS.sub("", _ARITY.sub("", function))
        if name != function:
            hints.append(f"generic arguments of {function} dropped")
    if module != frame.module:
        hints.append(f"generic arity of {frame.module} dropped")
    return NormalizedFrame(key=_join(module, name), hint="; ".join(hints))


def _is_wrapper(frame: Frame) -> bool:
    """A Mono runtime wrapper, which only the printed line shows."""
    return _WRAPPER_RAW.match(frame.raw) is not None


def _generated_kind(function: str) -> str:
    if function.endswith("MoveNext") and ">d" in function:
        return "async state machine"
    if "b__" in function:
        return "closure lambda" if "DisplayClass" in function else "lambda"
    if ">$" in function:
        return "top-level statements"
    return "compiler-generated member"


def _join(module: str, function: str) -> str:
    return f"{module}.{function}" if module else function


# Windows' Application event log: "Exception Info: System.IO.FileNotFoundException" above
# "Stack:" and its frames, which a collapsed copy runs into one line.
_EXCEPTION_INFO = re.compile(r"\bException Info: (?P<type>(?:[A-Za-z_]\w*+\.)++[A-Za-z_]\w*+)")


def names(text: str) -> ExceptionInfo | None:
    """The exception an event log entry names above its frames (``Trace.named``)."""
    found = _EXCEPTION_INFO.search(text)
    return ExceptionInfo(type=found["type"]) if found is not None else None


LANGUAGE = Language(
    name="dotnet",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAK, _UNITY_BREAK),
    judged_on=_is_wrapper,
    names=names,
)
