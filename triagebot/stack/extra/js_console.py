"""JavaScript stacks whose frames have no column, as older Chrome consoles, Angular's error
handler and zone.js print them (``at e.value (native-player.js:89)``, ``at index.html:18``).

``js.parse`` looks for ``line:col`` first and so never sees these. Frames are built as it
builds a V8 frame (module and file are the location as printed, the function the name before
it), so ``js.normalize_frame`` keys them alike; a location with a column is left to the parser.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    FrameBudget,
    first_frame_line,
    frames_while,
)

__all__ = ["READER", "has_marker", "read"]

#: A location that ends a line with ``:line`` and maybe ``)``: where a frame may be.
_QUICK = re.compile(r":\d++\)?[ \t]*+$", re.M)
# "    at e.value (native-player.js:89)", "    at index.html:18", "at Array.forEach (<anonymous>)"
_FRAME = re.compile(
    LINE_START + r"[ \t]*+at (?:(?P<func>(?:[^()\s]| (?!\())++) \((?P<loc>[^()\n]++)\)"
    r"|(?P<bare>[^()\s]++))[ \t]*+$"
)
_BUILTIN = frozenset({"<anonymous>", "native"})
#: A script the browser or Node runs (``?v=3`` and ``#hash`` suffixes allowed).
_SCRIPT = re.compile(r"\.(?:[cm]?js|jsx|tsx?|vue|svelte|html?)(?:[?#][^:]*+)?$")
# "TypeError: x", "native-player.js:89 Uncaught TypeError: x", "...; Value: TypeError: x"
_HEADER = re.compile(
    r"(?<![\w$.])(?P<type>(?:[A-Za-z_$][\w$]*+\.)*+[\w$]*?(?:Error|Exception)): (?P<msg>[^\n]*+)"
)
#: Lines above the first frame searched for the header.
_HEADER_LOOKBACK = 5


def has_marker(text: str) -> bool:
    """Whether ``text`` holds a line that ends in a location (``_QUICK``, literal-led), the first
    test of ``read``."""
    return _QUICK.search(text) is not None


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first column-less V8 stack in ``text``, or None."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    first = first_frame_line(text, lines, _QUICK.search, _FRAME)
    if first is None:
        return None
    budget = FrameBudget(max_frames)
    frames = frames_while(lines[first:], _frame_line, budget)
    if not any(_SCRIPT.search(f.file or "") for f in frames):
        return None
    exc_type, message = _header(lines[max(0, first - _HEADER_LOOKBACK) : first])
    exception = ExceptionInfo(type=exc_type, message=message, frames=tuple(frames))
    return Trace(language="javascript", exceptions=(exception,), dropped=budget.dropped)


def _frame(match: re.Match[str], raw: str) -> Frame | None:
    """The frame, or None for a location with a column (the parser's) or without a line."""
    func = (match["func"] or "").removeprefix("async ")
    loc = match["loc"] or match["bare"]
    if loc in _BUILTIN:
        return Frame(module=loc, function=func, file=loc, raw=raw)
    file, _, line = loc.rpartition(":")
    if not (file and line.isdigit()) or file.rpartition(":")[2].isdigit():
        return None
    return Frame(module=file, function=func, file=file, line=int(line), raw=raw)


def _header(above: list[str]) -> tuple[str, str]:
    """Type and message from the nearest ``Type: message`` line above the frames."""
    for line in reversed(above):
        match = _HEADER.search(line)
        if match is not None:
            return match["type"], match["msg"].strip()
    return "<unknown>", ""


def _frame_line(line: str) -> Frame | None:
    match = _FRAME.match(line)
    return None if match is None else _frame(match, line.strip())


READER = Reader(read=read, marker=has_marker)
