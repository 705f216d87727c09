"""PHP stack traces: ``Throwable::__toString()`` / uncaught fatal errors and Laravel/Monolog
``[stacktrace]`` blocks.

Chain order: PHP prints the innermost (previous) exception first and each enclosing one after a
``Next Type: message`` line, so a trace with ``Next`` sections is reversed to run outermost
first. Laravel logs print the reported exception first and its causes under
``[previous exception]``, which is already outermost first.

``#0 /var/www/a.php(12): App\\Service->load(Array)`` names the called function and the call
site: a frame's module is the class (``App\\Service``; empty for plain functions), its file and
line are the call site. Keys are ``Class::method`` (or the function name), which is the same on
every machine; closures and anonymous classes lose their file/line suffixes.
"""

from __future__ import annotations

import json
import re

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.python import source_key
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    SPACES,
    FrameBudget,
    restore_breaks,
)

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

# Every trace has a "file(line): " call site or ends in "#N {main}": two literal-prefixed searches
# find a candidate fast, then the frame pattern runs from just above it.
_CALL_SITE = re.compile(r"\(\d+\): ")
_MAIN = re.compile(r"#\d+ \{main\}")
#: Characters above a candidate where the first frame (maybe "[internal function]") may start.
_CANDIDATE_SLACK = 512
# A file ends at its "(", or at the next "#N " ("#1 #1 #1 ..." without "(": each would read on to
# the line's end).
_FIRST = re.compile(r"#\d+ (?:\{main\}|\[internal function\]: |\S(?:[^\n(#]|#(?!\d+ ))*+\(\d+\): )")
#: The rest of a line without its trailing blanks (at least one character): ``.+?[ \t]*$``
#: read the rest of a run of blanks from each of its blanks.
_TRIMMED = r"(?:[ \t]*+[^ \t\n])++|[ \t]"
# "#0 /var/www/html/app/Y.php(5): App\Service->load(Array)", "#1 [internal function]: f()",
# "#2 {main}"
_FRAME = re.compile(
    LINE_START + r"[ \t]*+#\d+ (?:\{main\}|\[internal function\]: (?P<icall>" + _TRIMMED + ")"
    r"|(?P<file>\S[^\n(]*?)\((?P<line>\d+)\): (?P<call>" + _TRIMMED + r"))[ \t]*$"
)
# "App\Service->load", "Illuminate\Pipeline\Pipeline->Illuminate\Pipeline\{closure}",
# "{closure:App\Foo::bar():12}" (PHP 8.4: no class split inside braces)
_CALL_NAME = re.compile(r"(?P<name>(?:\{[^{}\n]*\}|[^\s(){}])+)")
_MEMBER = re.compile(r"^(?P<cls>[^\s{}]+?)(?:->|::)(?P<fn>.+)$")  # "^": used with match
_BREAKS = re.compile(
    SPACES + r"(?=#\d+ (?:\{main\}|\[internal function\]|\S[^#\n(]*?\(\d+\): )"
    r"|Stack trace:|\[stacktrace\]|\[previous exception\]|Next [\w\\]+: |Next exception '"
    r"|thrown in )"
)
# Headers: where one starts (through its type) is searched for, then the message and location are
# matched once on the rest of the line. One regex searched from every start ("Next E: " many
# times) read the rest of the line from each; the rest can only match for the first start if
# at all (a later one sees less of the same line).
# "PHP Fatal error:  Uncaught Exception: msg in /x.php:12", "Next RuntimeException: m in /x:3",
# "Exception: msg in /x.php:12" (echo $e)
# The thrown form goes first: in a collapsed trace the line starts with other "Key: value" text.
_THROWN_START = re.compile(r"(?:(?<=Uncaught )|(?<=Next ))(?P<type>[A-Za-z_\\][\w\\]*): ")
_PLAIN_START = re.compile(r"^[ \t]*+(?P<type>[A-Za-z_\\][\w\\]*): ")
# "msg in /x.php:12": the message runs to the last " in " before a file; checking first that the
# line ends in ":line" spares trying a file from every " in " of a line that does not.
_MESSAGE_IN = re.compile(r"^(?=.*:\d+[ \t]*+$)(?P<msg>.*) in (?P<file>\S.*?):(?P<line>\d+)[ \t]*$")
# PHP 5: "Uncaught exception 'Exception' with message 'msg' in /x.php:12"
_OLD_START = re.compile(r"(?:Uncaught|Next) exception '(?P<type>[^']+)' with message '")
_OLD_MESSAGE = re.compile(
    r"^(?=.*:\d+[ \t]*+$)(?P<msg>.*)' in (?P<file>\S.*?):(?P<line>\d+)[ \t]*$"
)
# Laravel: "[object] (Illuminate\\Database\\QueryException(code: 42S02): msg at /x.php:712)".
# The file after the last " at " that has one; it cannot hold another such " at ", so a file
# tried from each " at " stops at the next.
_OBJECT_START = re.compile(r"\[object\] \((?P<type>[\w\\]+)\(code: [^()]*\): ")
_OBJECT_MESSAGE = re.compile(r"^(?P<msg>.*) at (?P<file>\S(?:(?! at (?!:\d)\S).)*?):(?P<line>\d+)")
_HEADS = (
    (_OBJECT_START, _OBJECT_MESSAGE),
    (_THROWN_START, _MESSAGE_IN),
    (_PLAIN_START, _MESSAGE_IN),
    (_OLD_START, _OLD_MESSAGE),
)
#: Lines searched above a frame block for its header, and after one for the next section.
_LOOKAROUND = 6
#: Characters above the trace split into lines for that search (keeps it O(1)).
_LOOKBACK_CHARS = 2000

# Normalisation
_ROOTS = re.compile(r"^.*/vendor/")  # "^": used with match, and a search stays linear
_CLOSURE_SITE = re.compile(r"\{closure:(?P<where>[^{}]*?):\d+\}")
_ANONYMOUS_CLASS = re.compile(r"class@anonymous\S*")


def _unescape(line: str) -> str:
    """Laravel logs JSON-escape backslashes: ``Illuminate\\\\Database``."""
    return line.replace("\\\\", "\\") if "\\\\" in line else line


def _frame(match: re.Match[str], raw: str) -> Frame:
    call = match["call"] or match["icall"]
    if call is None:
        return Frame(module="", function="{main}", raw=raw)
    named = _CALL_NAME.match(call)
    name = named["name"] if named else call
    member = None if name.startswith("{") else _MEMBER.match(name)
    module, function = (member["cls"], member["fn"]) if member else ("", name)
    line = match["line"]
    return Frame(
        module=module,
        function=function,
        file=match["file"],
        line=int(line) if line else None,
        raw=raw,
    )


def _head(line: str) -> tuple[str, str, Frame] | None:
    """Type, message and throw site (``in /x.php:12``) of a header line."""
    line = _unescape(line)
    for start, message in _HEADS:
        head = start.search(line)
        rest = None if head is None else message.match(line[head.end() :])
        if head is not None and rest is not None:
            site = Frame(module="", function="{main}", file=rest["file"], line=int(rest["line"]))
            return head["type"], rest["msg"].strip(), site
    return None


def _with_site(frames: tuple[Frame, ...], site: Frame | None) -> tuple[Frame, ...]:
    """A trace that names no file below its header ("#0 {main}" only, or no frame: the fatal
    error came from a script's top level) keeps the header's throw site as its one frame."""
    if site is None or any(frame.file for frame in frames):
        return frames
    return (site, *frames)


def _frames(lines: list[str], i: int, budget: FrameBudget) -> tuple[tuple[Frame, ...], int]:
    frames: list[Frame] = []
    while i < len(lines):
        line = _unescape(lines[i].strip())
        match = _FRAME.match(line)
        if match is None:
            break
        if budget.room(frames):
            frames.append(_frame(match, line))
        i += 1
    return tuple(frames), i


def _next_section(lines: list[str], i: int) -> tuple[str, str, int, bool] | None:
    """After a frame block: the next ``Next``/``[previous exception]`` header, the index of
    its first frame and whether it is a ``Next`` (innermost-first) section."""
    for j in range(i, min(i + _LOOKAROUND, len(lines))):
        line = lines[j]
        if _FRAME.match(line):
            return None
        is_next = line.lstrip().startswith("Next ")
        if not is_next and "[previous exception]" not in line:
            continue
        head = _head(line)
        if head is None:
            return None
        for k in range(j + 1, min(j + _LOOKAROUND, len(lines))):
            if _FRAME.match(lines[k]):
                return head[0], head[1], k, is_next
        return None
    return None


def _candidate(text: str) -> int | None:
    found = [m.start() for m in (_CALL_SITE.search(text), _MAIN.search(text)) if m is not None]
    return max(0, min(found) - _CANDIDATE_SLACK) if found else None


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first PHP stack trace (with its previous/next chain) in ``text``, or None; each
    exception keeps at most ``max_frames`` frames."""
    if _candidate(text) is None:
        return None
    text = restore_breaks(text, _BREAKS)
    candidate = _candidate(text)
    first = None if candidate is None else _FIRST.search(text, candidate)
    if first is None:
        return None
    line_start = text.rfind("\n", 0, first.start()) + 1
    before = text[max(0, line_start - _LOOKBACK_CHARS) : line_start].splitlines()[-_LOOKAROUND:]
    head = next(filter(None, map(_head, reversed(before))), ("<unknown>", "", None))
    lines = text[line_start:].splitlines()
    budget = FrameBudget(max_frames)
    frames, i = _frames(lines, 0, budget)
    frames = _with_site(frames, head[2])
    exceptions = [ExceptionInfo(type=head[0], message=head[1], frames=frames)]
    innermost_first = False
    while (section := _next_section(lines, i)) is not None:
        exc_type, message, start, is_next = section
        innermost_first = innermost_first or is_next
        frames, i = _frames(lines, start, budget)
        exceptions.append(ExceptionInfo(type=exc_type, message=message, frames=frames))
    if innermost_first:
        exceptions.reverse()
    return Trace(language="php", exceptions=tuple(exceptions), dropped=budget.dropped)


# Where a text names the exception of a trace the parser read without its header (signature
# versions from v4 on, ``Language.names``): PHP's uncaught error with its throw site, wherever
# its line breaks went ("Fatal error: Uncaught Error: Call to undefined function
# mysql_connect() in /opt/lampp/htdocs/st/userlogin.php:66 Stack trace: #0 {main} thrown in
# ..."), or an error handler's JSON record ({"class":"DivisionByZeroError","msg":"Division by
# zero",...,"trace":["#0 {main}"]}). The message runs to the throw site, across single line
# breaks, for at most 500 characters.
_UNCAUGHT = re.compile(
    r"\bUncaught (?P<type>[A-Za-z_\\][\w\\]*+):\s++"
    r"(?P<msg>(?:[^\n]|\n(?![ \t]*+\n)){0,500}?) in \S{1,300}?\.php(?::|\()\d+"
)
_JSON_RECORD = re.compile(
    r'"(?:class|type|exception)"\s*+:\s*+"(?P<type>[A-Za-z_\\][\w\\]{0,200}+)"\s*+,\s*+'
    r'"(?:msg|message)"\s*+:\s*+"(?P<msg>(?:[^"\\\n]|\\.){0,500}+)"'
)


def names(text: str) -> ExceptionInfo | None:
    """The uncaught error or the error record a trace of ``{main}`` alone was printed for
    (``Trace.named``)."""
    found = _UNCAUGHT.search(text)
    if found is not None:
        return ExceptionInfo(type=_unescape(found["type"]), message=found["msg"].strip())
    found = _JSON_RECORD.search(text)
    if found is None:
        return None
    try:
        message = json.loads(f'"{found["msg"]}"')
    except ValueError:  # an escape JSON does not know: the text as it is
        message = found["msg"]
    return ExceptionInfo(type=_unescape(found["type"]), message=message)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``): `` of a ``_CALL_SITE`` or the ``{main}`` of a ``_MAIN``:
    ``parse`` reads nothing when ``_candidate`` finds neither."""
    return "): " in text or "{main}" in text


def _closure_site(match: re.Match[str]) -> str:
    """``{closure:/var/www/app/x.php:12}`` → ``{closure:app/x}``; ``{closure:A::b():3}`` →
    ``{closure:A::b()}``."""
    where = match["where"]
    return "{closure:" + (source_key(where, _ROOTS) if where.endswith(".php") else where) + "}"


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """``Class::method`` or ``function``; closure sites and anonymous class paths folded."""
    if frame.function == "{main}" and not frame.module:
        where = f"script entry point ({frame.file})" if frame.file else "script entry point"
        return NormalizedFrame(key="{main}", hint=where, skip=True)
    function = _CLOSURE_SITE.sub(_closure_site, frame.function)
    module = _ANONYMOUS_CLASS.sub("class@anonymous", frame.module)
    hint = "call-site file and line dropped"
    if (function, module) != (frame.function, frame.module):
        hint += "; closure/anonymous class location folded"
    return NormalizedFrame(key=f"{module}::{function}" if module else function, hint=hint)


LANGUAGE = Language(
    name="php",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAKS,),
    names=names,
)
