"""JavaScript stack traces: V8 (Node, Chrome, Edge) ``at`` frames and Gecko/WebKit
(Firefox, Safari) ``function@url:line:col`` frames, with Node's ``[cause]:`` chains.

A frame's module is its script location as printed (path or URL, no line/column). Keys drop
what differs per deployment: scheme, host and install prefix (only the last two path
components stay, or the path below ``node_modules/``), query strings and content hashes in
bundle names (``main.3f9a1c.js`` → ``main.js``). Anonymous functions are keyed on their file.
"""

from __future__ import annotations

import re

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.python import source_key
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    SHORT_COLLAPSED_LINE,
    SPACES,
    FrameBudget,
    restore_breaks,
)

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

# What may end a frame line: blanks, or Node's " {" (error properties follow). Blanks are read
# once: "[ \t]*\{?[ \t]*" tried every split of a long run of blanks before other text.
_END = r"[ \t]*+(?:\{[ \t]*+)?$"
#: Every JavaScript frame ends in "line:col" (optionally ")" and Node's " {"), or names a
#: builtin location; these literal-prefixed searches decide whether to look further.
_LINE_COL = re.compile(r":\d+:\d+\)?" + _END, re.M)
_BUILTIN = re.compile(r"\((?:native|<anonymous>|index \d+)\)")
#: A frame followed by another on the same line: a trace whose line breaks were lost
#: ("...(a.js:1:2) at b (...)"; the literal start keeps the search cheap).
_COLLAPSED = re.compile(r"\) at (?=[^\s()]+ \(|[^\s()]+:\d+:\d+)")

_FILE_LOC = r"[^\n]+?:\d+(?::\d+)?"
_BUILTIN_LOC = r"<anonymous>|native|index \d+|unknown location"
_LOC = r"(?:" + _FILE_LOC + "|" + _BUILTIN_LOC + ")"
# "    at Object.load (/srv/app/src/cases.js:42:17)", "    at async Promise.all (index 0)",
# "    at /srv/app/x.js:1:2", "    at node:internal/process/task_queues:95:5 {"
# The function is what precedes the first " (" whose rest is a location. A file location runs to
# the line's end, so only the first " (" can start one: it is tried there once, and builtin
# locations (short) after every " ("; "at a (a (a (..." tried a file location from each.
_V8 = (
    r"[ \t]*+at (?:(?P<func>(?:[^ \n]| (?!\())++(?= \(" + _FILE_LOC + r"\)" + _END + r")"
    r"|[^\n]+?(?= \((?:" + _BUILTIN_LOC + r")\)" + _END + r")) \((?P<loc>" + _LOC + r")\)"
    r"|(?P<bare>" + _LOC + r"))" + _END
)
# "load@https://app.example.com/static/js/main.3f9a1c.js:2:1234", "@debugger eval code:1:1",
# "global code@https://x/y.js:1:1", "async*load@...", "promise callback*f@..."
_GECKO = r"[ \t]*+(?P<gfunc>[^@\s][^@\n]*?)?@(?P<gloc>[^@\n]*?):(?P<gline>\d+):\d+[ \t]*$"
_FRAME = re.compile(LINE_START + "(?:" + _V8 + "|" + _GECKO + ")")
_FIRST = re.compile(r"^(?:" + _V8 + "|" + _GECKO + ")", re.M)
_LOC_SPLIT = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")  # "^": used with match
# "    ... 7 lines matching cause stack trace ...", "    ... 2 more"
_ELISION = re.compile(LINE_START + r"[ \t]*+\.\.\. \d+ (?:lines matching cause stack trace|more)")
_CAUSE = re.compile(LINE_START + r"[ \t]*+\[cause\]: (?P<head>.*)$")
# "TypeError: x", "Uncaught (in promise) Error: x", "[ts] ERROR api TypeError: x",
# "Error [ERR_HTTP_HEADERS_SENT]: Cannot set headers" (Node's error code stays out of the type)
_HEADER = re.compile(
    r"(?<![\w$.])(?P<type>(?:[A-Za-z_$][\w$]*\.)*[\w$]*(?:Error|Exception))"
    r"(?: \[[A-Z][A-Z0-9_]*\])?(?::[ \t]?(?P<msg>.*))?$"
)
_HEADER_PLAIN = re.compile(
    LINE_START
    + r"[ \t]*+(?:Uncaught (?:\(in promise\) )?)?(?P<type>[A-Za-z_$][\w$.]*): (?P<msg>.*)$"
)
#: Lines above the first frame searched for the "Type: message" header.
_HEADER_LOOKBACK = 5
#: Characters above the trace split into lines for that search (keeps it O(1)).
_LOOKBACK_CHARS = 2000
# Where a collapsed trace gets its line breaks back: a run of whitespace (read once) before a V8
# frame, "[cause]:" or a Gecko frame. An alias ends at the next "[" ("[as " many times, no "]").
_BREAKS = re.compile(
    SPACES + r"(?=at (?:(?:async|new) )?[^\s()]++(?: \[as [^\][]*\])? \("
    r"|at (?:async )?[^\s()]+:\d+:\d+|\[cause\]:"
    r"|[^\s@]*@[^\s@]+:\d+:\d+(?:\s|$))"
)

# Normalisation. "https://cdn.example.com", "webpack://app-name", "file://"
_ORIGIN = re.compile(r"^(?:[a-z][\w+.-]*://[^/]*)")
# "main.3f9a1c.js", "2.3f9a1c22.chunk.js", "index-BqX1a2Zc.js"
_CONTENT_HASH = re.compile(r"[.-](?=[\w]*\d)(?:[0-9a-f]{6,}|[0-9A-Za-z_]{8})(?=\.)")
_ROOTS = re.compile(r"^.*/node_modules/")  # "^": used with match, and a search stays linear
# Firefox nested-function suffixes "load/<", "a/</<", "Foo/this.bar<" (a run of "/<" is tried
# from its start only, and an alias ends at the next "[": each keeps a search over many linear).
_GECKO_NESTING = re.compile(r"(?<!/<)(?:/<)++$|<$")
_ALIAS = re.compile(r" \[as [^\][]*\]$")
_ANONYMOUS = frozenset({"", "<anonymous>", "anonymous", "Object.<anonymous>"})


def _frame(match: re.Match[str], raw: str) -> Frame:
    if match["gloc"] is not None:
        func = (match["gfunc"] or "").rpartition("*")[2]
        loc = match["gloc"]
        return Frame(module=loc, function=func, file=loc, line=int(match["gline"]), raw=raw)
    func = match["func"] or ""
    loc = match["loc"] or match["bare"]
    if func.startswith("async "):
        func = func[6:]
    loc = loc.removeprefix("async ")
    if loc.startswith("eval at "):  # "eval at run (file.js:1:1), <anonymous>:1:1"
        loc = loc.rpartition(", ")[2]
    split = _LOC_SPLIT.match(loc)
    if split is None:  # "<anonymous>", "native", "index 0": a builtin without source
        file = None if loc.startswith("index ") else loc
        return Frame(module=file or "", function=func, file=file, raw=raw)
    file = split["file"]
    return Frame(module=file, function=func, file=file, line=int(split["line"]), raw=raw)


def _frames(lines: list[str], i: int, budget: FrameBudget) -> tuple[list[Frame], int, bool]:
    """Consecutive frame lines from ``i``; also whether the last one opened a ``{`` block."""
    frames: list[Frame] = []
    opened = False
    while i < len(lines):
        line = lines[i]
        match = _FRAME.match(line)
        if match is None:
            if _ELISION.match(line):
                i += 1
                continue
            break
        if budget.room(frames):
            frames.append(_frame(match, line.strip()))
        opened = line.rstrip().endswith("{")
        i += 1
    return frames, i, opened


def _header(line: str) -> tuple[str, str] | None:
    match = _HEADER.search(line) or _HEADER_PLAIN.match(line)
    return (match["type"], (match["msg"] or "").strip()) if match else None


def _find_header(before: list[str]) -> tuple[str, str]:
    for line in reversed(before[-_HEADER_LOOKBACK:]):
        if not line.strip():
            break
        found = _header(line)
        if found is not None:
            return found
    return "<unknown>", ""


def _candidate(text: str) -> int | None:
    """Start of the first line that may hold a frame (``_FIRST`` is slow over long text).

    The line must also say ``at `` or ``@`` before its location, so a ``Time: 01:22:47``
    metadata line does not send every mail down the slow path.
    """
    starts: list[int] = []
    for regex in (_LINE_COL, _BUILTIN, _COLLAPSED):
        line_start = read = 0  # the current line's start; its head was read up to ``read``
        for match in regex.finditer(text):
            start = match.start()
            newline = text.rfind("\n", read, start)
            if newline >= 0:
                line_start = read = newline + 1
            # only the part not read yet (2 back for an "at " across): many matches on one
            # long line ("(native)" again and again) would read its head again each time
            head = text[max(line_start, read - 2) : start]
            if "at " in head or "@" in head:
                starts.append(line_start)
                break
            read = start
    return min(starts) if starts else None


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first JavaScript stack (with Node ``[cause]`` chain) in ``text``, or None; each
    exception keeps at most ``max_frames`` frames."""
    if _candidate(text) is None:
        return None
    text = restore_breaks(text, _BREAKS, SHORT_COLLAPSED_LINE)
    candidate = _candidate(text)
    first = None if candidate is None else _FIRST.search(text, candidate)
    if first is None:
        return None
    line_start = first.start()
    while line_start > 0:  # frames above without line:col ("at <anonymous>")
        above = text.rfind("\n", 0, line_start - 1) + 1
        if _FRAME.match(text, above, line_start - 1) is None:
            break
        line_start = above
    lines = text[line_start:].splitlines()
    budget = FrameBudget(max_frames)
    frames, i, opened = _frames(lines, 0, budget)
    exc_type, message = _find_header(
        text[max(0, line_start - _LOOKBACK_CHARS) : line_start].splitlines()
    )
    exceptions = [ExceptionInfo(type=exc_type, message=message, frames=tuple(frames))]
    while opened and i < len(lines):
        line = lines[i]
        i += 1
        cause = _CAUSE.match(line)
        if cause is not None:
            found = _header(cause["head"])
            if found is None:
                break
            frames, i, opened = _frames(lines, i, budget)
            exceptions.append(ExceptionInfo(type=found[0], message=found[1], frames=tuple(frames)))
        elif not line.strip() or line == "}":
            break
    return Trace(language="javascript", exceptions=tuple(exceptions), dropped=budget.dropped)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``at `` or ``@`` that ``_candidate`` requires on a frame's line
    before its location: ``parse`` reads nothing when ``_candidate`` finds no such line."""
    return "at " in text or "@" in text


def _path(file: str) -> str:
    if file.startswith(("node:", "internal/", "<")) or ("/" not in file and "\\" not in file):
        return file
    path = _ORIGIN.sub("", file.split("?", 1)[0].split("#", 1)[0])
    return source_key(_CONTENT_HASH.sub("", path), _ROOTS)


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """``path:function`` without host, install prefix, hash, line and column."""
    func = _ALIAS.sub("", _GECKO_NESTING.sub("", frame.function)).removeprefix("new ")
    folded = "line/column, origin, install path and content hash dropped"
    if func in _ANONYMOUS or func.endswith(".<anonymous>"):
        func = "<anonymous>"
        folded += "; anonymous function keyed on its file"
    if frame.file is None or frame.line is None:
        return NormalizedFrame(key=func, hint="builtin frame without source", skip=True)
    return NormalizedFrame(key=f"{_path(frame.file)}:{func}", hint=folded)


LANGUAGE = Language(
    name="javascript",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAKS,),
)
