"""Python tracebacks: ``Traceback (most recent call last):`` blocks, chained and grouped.

Chains print the root cause first and the reported exception last, each block listing the
most recent call last; both orders are reversed to follow ``triagebot.stack.model``.
Exception groups yield the group itself (with its frames); sub-exceptions are not followed.

Module naming, so one piece of code gets one key on every machine: the dotted path below the
last library root (``site-packages``, ``dist-packages``, stdlib ``lib/pythonX.Y``), e.g.
``requests.adapters``; application files have no such root, so their module is the last two
path components (``/srv/releases/20261127/app/cases/views.py`` → ``cases.views``). Pseudo
files (``<frozen importlib._bootstrap>``, ``<string>``) are kept verbatim.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import replace

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import UNKNOWN_TYPE, ExceptionInfo, Frame, Trace
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    SHORT_COLLAPSED_LINE,
    FrameBudget,
    restore_breaks,
)

__all__ = [
    "LANGUAGE",
    "has_marker",
    "is_exception_line",
    "is_frame_line",
    "normalize_frame",
    "parse",
    "source_key",
]

_HEADER = re.compile(r"Traceback \(most recent call last\):")
_FILE = re.compile(r'File "[^"\n]+", line \d+')
# Before frames and section markers of a trace whose line breaks were lost (also the line the
# interpreter prints before an exception it ignores, "Exception ignored in: <function ...>");
# never between "Exception Group" and "Traceback", nor between an exception group's "|" and
# what it prefixes. A run of whitespace is tried from its first character only and read once.
_BREAKS = re.compile(
    r"(?<!\s)(?:"
    r'(?<![|+])\s++(?=(?:[|+][ \t]*)?File "[^"\n]+", line \d+)'
    r"|(?<!Group)\s++(?=Traceback \(most recent call last\):)"
    r"|(?<=\(most recent call last\):)\s+"
    r"|\s++(?=During handling of the above exception|The above exception was the direct cause"
    r"|Exception (?:Type|Value|ignored in): ))"
)
# '  File "/srv/app/cases/views.py", line 12, in load' (SyntaxError locations have no "in")
_FRAME = re.compile(
    LINE_START
    + r'[ \t]*+File "(?P<file>[^"\n]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?(?P<rest>.*)$'
)
# "requests.exceptions.ConnectionError: HTTPSConnectionPool(...)", "KeyboardInterrupt"
_EXCEPTION = re.compile(LINE_START + r"(?P<type>[A-Za-z_][\w.]*)(?::[ \t]?(?P<msg>.*))?$")
# A collapsed frame line ends with its source and then the exception:
# 'raise ValueError("x") ValueError: x'; a bare "raise ValueError" source is not the exception.
# Qualified names with a message need no telling suffix: "app.models.Plan.DoesNotExist: ...",
# "psycopg.errors.UniqueViolation: duplicate key ...".
_INLINE_EXCEPTION = re.compile(
    r"(?<![\w.])(?<!raise )(?:(?P<type>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*"
    r"(?:Error|Exception|Warning|Exit|Interrupt|Group|Iteration|Fault))(?:: (?P<msg>.*))?"
    r"|(?P<qtype>(?:[a-z_]\w*\.)+(?:[A-Z]\w*\.)*[A-Z]\w*): (?P<qmsg>.*))$"
)
# Django's technical 500 text (its HTML error mail) ends a traceback without the exception line,
# then says "Exception Type: ZeroDivisionError at /x/" and "Exception Value: division by zero".
_SUMMARY_TYPE = re.compile(
    LINE_START + r"[ \t]*+Exception Type: (?P<type>[A-Za-z_][\w.]*)(?: at \S*)?[ \t]*$"
)
_SUMMARY_VALUE = re.compile(LINE_START + r"[ \t]*+Exception Value: ?(?P<msg>.*)$")
_SUMMARY_LOOKAHEAD = 3
# "  | ValueError: x", "  + Exception Group Traceback ...": exception group indentation.
_GROUP_PREFIX = re.compile(LINE_START + r"[ \t]*+[|+] ?")
_CHAIN_MARKERS = frozenset(
    {
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    }
)
#: Lines after an exception line searched for a chain marker (multi-line messages).
_CHAIN_LOOKAHEAD = 12

# Install roots of libraries: everything up to the last one is machine-specific ("^": only
# ever matched at a path's start, and a search stays linear).
_ROOTS = re.compile(
    r"^.*(?:/(?:site|dist)-packages/|/lib(?:64)?/python\d[\d.]*/|/lib/pypy\d[\d.]*/|/Lib/|\.egg/)"
)


def source_key(path: str, roots: re.Pattern[str]) -> str:
    """A machine-independent name for a source file, ``/``-separated, without extension.

    The path below the last match of ``roots`` (a library root such as ``site-packages/``,
    ``node_modules/``, ``gems/``, ``vendor/``), else the last two components: install prefixes
    (``/home/alice/app``, ``/srv/releases/20261127/app``, ``C:\\inetpub\\app``) differ per
    machine while the tail is what the code calls itself. Shared by the script-language parsers.
    """
    p = path.replace("\\", "/")
    if p[1:2] == ":":
        p = p[2:]
    match = roots.match(p)
    rest = p[match.end() :] if match else "/".join(p.rsplit("/", 2)[-2:])
    head, dot, ext = rest.rpartition(".")
    return head if dot and head and "/" not in ext else rest


def _module(file: str) -> str:
    if file.startswith("<"):
        return file
    module = source_key(file, _ROOTS).replace("/", ".")
    return module.removesuffix(".__init__")


def _frame(match: re.Match[str], raw: str) -> Frame:
    file = match["file"]
    return Frame(
        module=_module(file),
        function=match["func"] or "",
        file=file,
        line=int(match["line"]),
        raw=raw.strip(),
    )


def _ungroup(line: str) -> str:
    match = _GROUP_PREFIX.match(line)
    return line[match.end() :] if match else line


def _block(lines: list[str], i: int, budget: FrameBudget) -> tuple[ExceptionInfo, int]:
    """One traceback block from line ``i``: frames, then the exception line.

    The most recent call is printed last, so the last ``budget.limit`` frames are the ones
    kept; a frame is built only once the block is read.
    """
    found: deque[tuple[re.Match[str], str]] = deque(maxlen=budget.limit)
    if i < len(lines) and _HEADER.search(lines[i]):
        i += 1
    while i < len(lines):
        line = _ungroup(lines[i])
        i += 1
        match = _FRAME.match(line)
        if match is not None:
            if len(found) == budget.limit:
                budget.dropped += 1  # the oldest call goes
            found.append((match, line))
            inline = _INLINE_EXCEPTION.search(match["rest"]) if match["rest"].strip() else None
            if inline is not None:
                return _inline_exception(inline, _frames(found)), i
            continue
        if not line.strip():
            break
        if line[0] in " \t":  # source line, caret/~~^^ marker, "[Previous line repeated ...]"
            continue
        if _SUMMARY_TYPE.match(line):
            i -= 1
            break
        exc = _EXCEPTION.match(line.rstrip())
        if exc is not None:
            return _exception(exc, _frames(found)), i
        break
    exc_type, message = _summary(lines, i)
    return ExceptionInfo(type=exc_type, message=message, frames=tuple(reversed(_frames(found)))), i


def _frames(found: deque[tuple[re.Match[str], str]]) -> list[Frame]:
    return [_frame(match, line) for match, line in found]


def _summary(lines: list[str], i: int) -> tuple[str, str]:
    """Type and message from Django's ``Exception Type:``/``Exception Value:`` lines after ``i``."""
    for j in range(i, min(i + _SUMMARY_LOOKAHEAD, len(lines))):
        found = _SUMMARY_TYPE.match(lines[j])
        if found is not None:
            value = _SUMMARY_VALUE.match(lines[j + 1]) if j + 1 < len(lines) else None
            return found["type"], value["msg"].strip() if value else ""
    return UNKNOWN_TYPE, ""


def _exception(match: re.Match[str], frames: list[Frame]) -> ExceptionInfo:
    return ExceptionInfo(
        type=match["type"], message=(match["msg"] or "").strip(), frames=tuple(reversed(frames))
    )


#: What closes a Markdown code block: in a trace that lost its line breaks, it follows the
#: exception's message on the same line ("KeyError: '1_new' `").
_FENCES = ("`", "```")


def _inline_exception(match: re.Match[str], frames: list[Frame]) -> ExceptionInfo:
    """The exception that ends a collapsed frame line, without a code fence run into it."""
    message = (match["msg"] or match["qmsg"] or "").strip()
    head, blank, last = message.rpartition(" ")
    if blank and last in _FENCES:
        message = head.rstrip()
    return ExceptionInfo(
        type=match["type"] or match["qtype"], message=message, frames=tuple(reversed(frames))
    )


def _chained(lines: list[str], i: int) -> int | None:
    """Index of the next block's header when a chain marker follows line ``i``."""
    for j in range(i, min(i + _CHAIN_LOOKAHEAD, len(lines))):
        line = _ungroup(lines[j])
        if line.strip() in _CHAIN_MARKERS:
            for k in range(j + 1, min(j + 4, len(lines))):
                if _HEADER.search(lines[k]):
                    return k
                if lines[k].strip():
                    return None
            return None
        if _HEADER.search(line) or _FRAME.match(line):
            return None
    return None


def _start(text: str) -> int | None:
    """Where the first traceback (or bare ``File`` location) starts; two literal-prefixed
    searches are several times faster than one alternation."""
    found = [m.start() for m in (_HEADER.search(text), _FILE.search(text)) if m is not None]
    return min(found) if found else None


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Python traceback (with its chain) in ``text``, or None; each exception keeps
    at most ``max_frames`` frames (the most recent)."""
    if _start(text) is None:
        return None
    text = restore_breaks(text, _BREAKS, SHORT_COLLAPSED_LINE)
    start = _start(text)
    if start is None:
        return None
    lines = text[text.rfind("\n", 0, start) + 1 :].splitlines()
    exceptions: list[ExceptionInfo] = []
    budget = FrameBudget(max_frames)
    i: int | None = 0
    while i is not None:
        exc, i = _block(lines, i, budget)
        exceptions.append(exc)
        i = _chained(lines, i)
    if not any(exc.frames for exc in exceptions):
        return None
    exceptions.reverse()
    return Trace(language="python", exceptions=tuple(exceptions), dropped=budget.dropped)


def names(text: str) -> ExceptionInfo | None:
    """The exception of a traceback indented as a whole (a Markdown code block, a quoted log):
    its type line is at the header's indentation, where ``parse`` reads none (``Trace.named``)."""
    header = _HEADER.search(text)
    if header is None:
        return None
    start = text.rfind("\n", 0, header.start()) + 1
    indent = text[start : header.start()]
    if not indent or indent.strip():
        return None
    lines = text[start:].splitlines()
    dedented = "\n".join(line.removeprefix(indent) for line in lines)
    trace = parse(dedented)
    named = trace.exceptions[-1] if trace is not None else None
    return named if named is not None and named.type != UNKNOWN_TYPE else None


#: Folders a console script's launcher is installed in.
_LAUNCHER_FOLDERS = frozenset({"bin", "Scripts"})


def renames(frame: Frame) -> tuple[Frame, str] | None:
    """A console script's launcher by its name alone, without the version it ends in:
    ``/usr/bin/pip``, ``/usr/local/bin/pip3.8`` and ``C:\\Python37\\Scripts\\pip3`` are one
    program installed under several names and systems (``Language.renames``)."""
    parts = (frame.file or "").replace("\\", "/").split("/")
    if len(parts) < 2 or parts[-2] not in _LAUNCHER_FOLDERS:
        return None
    name = parts[-1].removesuffix(".py").removesuffix(".exe")
    name = name.rstrip("0123456789.").rstrip("-") or name
    return replace(frame, module=name, file=name), "a launcher, keyed by its name alone"


def is_frame_line(line: str) -> bool:
    """Whether ``line`` is a frame line (``File "...", line N``), at any indentation."""
    return _FRAME.match(line) is not None


def is_exception_line(line: str) -> bool:
    """Whether ``line`` reads as an exception line: ``Type: message``, or a bare type whose
    name says it is one (``KeyboardInterrupt``), never a bare word (a ``raise`` source line)."""
    line = line.rstrip()
    found = _EXCEPTION.match(line)
    return found is not None and (
        found["msg"] is not None or _INLINE_EXCEPTION.match(line) is not None
    )


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal start of ``_HEADER`` or ``_FILE``: ``parse`` reads
    nothing when ``_start`` finds neither in the text it is given."""
    return "Traceback (most recent call last):" in text or 'File "' in text


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """``module.function`` with the line dropped and the module derived from the path."""
    key = f"{frame.module}.{frame.function}" if frame.function else frame.module
    return NormalizedFrame(key=key, hint=f"line dropped; module {frame.module!r} from path")


LANGUAGE = Language(
    name="python",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAKS,),
    names=names,
    renames=renames,
)
