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
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import first_frame_line, restore_breaks, weave_side_exceptions

__all__ = ["LANGUAGE", "normalize_frame", "parse"]

# The "at" word per runtime language: en at, de bei, fr à, es en, pt em, it in, ru в, pl w,
# nl bij, sv vid, da/nb ved, cs v, ja 場所, zh 在.
_AT = r"(?:at|bei|à|en|em|in|в|w|bij|vid|ved|v|場所|在)"
# "()", "(Int32 id)", "(Object , Object[] )": never Java's "(Native Method)" or "(Foo.java:42)".
_PARAMS = r"\((?!Unknown Source\)|Native Method\))(?:[^():\n \t]*[ \t][^():\n]*)?\)"
_WRAPPER = r"\(wrapper [^)\n]*\)[ \t]+"  # Mono: "at (wrapper managed-to-native) System.X.Y(...)"

#: A frame anywhere (collapsed lines included). Searched only just before a parameter list found
#: by ``_PARAMS_ANY``: that regex starts with a literal, so a body without one costs microseconds.
_FRAME_ANY = re.compile(_AT + r"[ \t]+(?:" + _WRAPPER + r"|[^\s(]+[ \t]?" + _PARAMS + ")")
_PARAMS_ANY = re.compile(_PARAMS)
_NAME_WINDOW = 600  # how far before a parameter list the "at Name" part may start

#: Where a collapsed trace gets its line breaks back: before frames, separators, sections.
_BREAK = re.compile(
    r"[ \t]+(?:"
    + _AT
    + r"[ \t]+(?:"
    + _WRAPPER
    + r"|[^\s(]+[ \t]?"
    + _PARAMS
    + r")|--- (?=[^-\n()]{3,160}? ---)|---> \([^)\n]*#\d+\))"
)

# "   at Acme.Cases.CaseViewModel.Load(Int32 id) in C:\src\CaseViewModel.cs:line 42"
# "   bei Acme.X.Load(Int32 id) in C:\src\X.cs:Zeile 42", "   à Acme.X.Load() dans C:\X.cs:ligne 42"
# "  at Acme.X.Load (System.Int32 id) [0x00012] in /src/X.cs:42" (Mono)
_FRAME = re.compile(
    r"[ \t]*" + _AT + r"[ \t]+(?P<wrapper>" + _WRAPPER + r")?(?P<name>[^\s(]+)[ \t]?"
    r"\((?(wrapper)[^()\n]*|(?!Unknown Source\)|Native Method\))(?:[^():\n \t]*[ \t][^():\n]*)?)\)"
    r"(?:[ \t]+\[0x[0-9a-fA-F]+\]|[ \t]+<0x[0-9a-fA-F]+ \+ 0x[0-9a-fA-F]+>"
    r"|[ \t]*\+[ \t]*0x[0-9a-fA-F]+)?"
    r"(?:[ \t]+\S{1,6}[ \t]+(?P<file>[^\n]{1,400}?):(?:[^\W\d_]+[ \t]?)?(?P<line>\d+))?"
    r"(?:[ \t]*(?P<close><---)|[ \t]+[^\n]*|[ \t]*)$"
)

# "   --- End of inner exception stack trace ---",
# "   --- Ende der internen Ausnahmestapelüberwachung ---",
# "--- End of stack trace from previous location ---" (a separator inside one stack only).
_MARKER = re.compile(r"[ \t]*--- (?P<text>[^\n]*?) ---[ \t]*$")
_INNER_END = re.compile(r"inner|intern|внутрен|内部|wewnętrz", re.IGNORECASE)
# "---> (Inner Exception #1) System.IO.IOException: Disk full"
_SECTION = re.compile(r"[ \t]*---> \([^)\n]*#\d+\)[ \t]*(?P<rest>.*)$")
_ARROW_LINE = re.compile(r"[ \t]*---> ")

_TYPE = r"[A-Za-z_][\w`]*(?:[.+][A-Za-z_][\w`]*)+"
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
_HEAD = re.compile(r"[ \t]*" + _PREFIX + r"(?P<type>" + _TYPE + r")" + _CODE + _TYPE_END)
# "2026-11-27 10:00:01 ERROR Load failed System.TimeoutException: The operation timed out"
_HEAD_EMBEDDED = re.compile(
    r"(?<![\w.`+])(?P<type>(?:[A-Za-z_][\w`]*[.+])+[A-Za-z_]\w*(?:Exception|Fault))" + _CODE + r":"
)
_SPLIT = re.compile(r"---> (?=" + _TYPE + _CODE + r"(?:[ \t]*[:\n]|[ \t]*$|[ \t]+--->))")
_SEGMENT = re.compile(
    r"(?P<type>" + _TYPE + r")" + _CODE + r"(?:[ \t]*:[ \t]*(?P<message>.*))?", re.DOTALL
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
_WRAPPER_RAW = re.compile(r"\S+[ \t]+\(wrapper ")


def parse(text: str) -> Trace | None:
    """The first .NET exception chain in ``text``, or ``None`` when it holds no .NET frame."""
    if _search_frame(text, 0) is None:
        return None
    restored = restore_breaks(text.replace("\r\n", "\n") if "\r" in text else text, _BREAK)
    lines = restored.split("\n")
    first = first_frame_line(restored, lines, _search_frame, _FRAME)
    if first is None:
        return None
    body = first
    while body > 0 and _MARKER.match(lines[body - 1]):
        body -= 1
    header = _header(lines, body)
    reader = _Reader(lines, body)
    return Trace(language="dotnet", exceptions=reader.chain(header))


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
        match = _HEAD.match(line) or _HEAD_EMBEDDED.search(line)
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


def _split_name(name: str) -> tuple[str, str]:
    """``Acme.X.Load`` → (``Acme.X``, ``Load``); compiler-generated parts stay with the method:
    ``Acme.X.<LoadAsync>d__12.MoveNext`` → (``Acme.X``, ``<LoadAsync>d__12.MoveNext``)."""
    cut = name.find(".<")
    if cut > 0:
        return name[:cut], name[cut + 1 :]
    cut = name.find("..")  # constructors: "Acme.X..ctor", "Acme.X..cctor"
    if cut > 0:
        return name[:cut], name[cut + 1 :]
    generic = name.find("[")  # generic method arguments may hold dots
    cut = name.rfind(".", 0, generic if generic > 0 else len(name))
    return (name[:cut], name[cut + 1 :]) if cut > 0 else ("", name)


class _Reader:
    """Reads frame blocks, separators and AggregateException sections from a line position."""

    __slots__ = ("lines", "pos")

    def __init__(self, lines: list[str], pos: int) -> None:
        self.lines = lines
        self.pos = pos

    def chain(self, header: str, closed: bool = False, depth: int = 0) -> tuple[ExceptionInfo, ...]:
        """One exception chain: its header's exceptions plus the frame blocks that follow.

        ``depth`` counts enclosing AggregateException sections (an unclosed one nests the next).
        """
        lines = self.lines
        blocks: list[list[Frame]] = [[]]
        sections: list[list[tuple[ExceptionInfo, ...]]] = [[]]
        while not closed and self.pos < len(lines):
            line = lines[self.pos]
            match = _FRAME.match(line)
            if match is not None:
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
            if not line.strip() and self._skip_blank():
                continue
            break
        return _assemble(_heads(header), blocks, sections)

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
        if pos < len(lines) and _structural(lines[pos]):
            self.pos = pos
            return True
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
    if _WRAPPER_RAW.match(frame.raw):
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


LANGUAGE = Language(name="dotnet", version="v1", parse=parse, normalize_frame=normalize_frame)
