"""Node stacks as pretty-printing build tools show them: each frame is a ``- file:line function``
item over its full location, and packages are written ``[name]``::

    Error: error:0308010C:digital envelope routines::unsupported
      - createHash.js:145 BulkUpdateDecorator.hashFactory
        [my-app]/[webpack]/lib/util/createHash.js:145:18

Frames are built as ``js.parse`` builds a V8 frame, with ``[name]/`` turned back into the
``node_modules/name/`` it stands for, so ``js.normalize_frame`` keys them alike.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

# "  - hash:71 new Hash", "  - NormalModule.js:1032 " (an anonymous function)
_ITEM = re.compile(LINE_START + r"[ \t]*+- (?P<short>\S++)(?P<func>[^\n]*+)$", re.M)
_SHORT_LINE = re.compile(r":\d")
# "[cff-initializer-javascript]/" (the project), then "[webpack]/" (a package)
_PROJECT = re.compile(r"^\[[^\]/]*+\]/")
_PACKAGE = re.compile(r"\[(?P<name>[^][/]++)\]/")
# "Error: error:0308010C:digital envelope routines::unsupported"
_HEADER = re.compile(r"^[ \t]*+(?P<type>[A-Za-z_$][\w$.]*+): (?P<msg>.*+)")
#: Lines above the first item searched for the header.
_HEADER_LOOKBACK = 5


#: What every ``_ITEM`` whose location has a line (``_SHORT_LINE``) holds: its "- ", then a
#: location with ``:digit``. Literal-led, so much cheaper than ``_ITEM``, which is tried at every
#: position.
_ITEM_ANY = re.compile(r"- \S*?:\d")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds an item with a line number (``_ITEM_ANY``): ``read`` finds nothing
    without one."""
    return _ITEM_ANY.search(text) is not None


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first pretty-printed Node stack in ``text``, or None."""
    item = _ITEM.search(text)
    while item is not None and _SHORT_LINE.search(item["short"]) is None:
        item = _ITEM.search(text, item.end())
    if item is None:
        return None
    lines = text[item.start() :].split("\n")
    budget = FrameBudget(max_frames)
    frames: list[Frame] = []
    i = 0
    while i + 1 < len(lines):
        match = _ITEM.match(lines[i])
        frame = None if match is None else _frame(match, lines[i + 1])
        if frame is None:
            break
        if budget.room(frames):
            frames.append(frame)
        i += 2
        while i < len(lines) and not lines[i].strip():
            i += 1
    if len(frames) < 2:  # one "- x:1 y" item over a path is a list, not a stack
        return None
    above = text[: item.start()].split("\n")[-_HEADER_LOOKBACK - 1 :]
    exc_type, message = _header(above)
    exception = ExceptionInfo(type=exc_type, message=message, frames=tuple(frames))
    return Trace(language="javascript", exceptions=(exception,), dropped=budget.dropped)


def _frame(item: re.Match[str], location: str) -> Frame | None:
    """The frame of an item and the location line under it, or None."""
    loc = "".join(location.split())  # "RawSource.js:70    :8" as copied from a CI log
    rest, _, last = loc.rpartition(":")
    file, _, line = rest.rpartition(":")
    if not (line.isdigit() and last.isdigit()):
        file, line = rest, last
    if not (file and line.isdigit() and location[:1] in " \t"):
        return None
    if file.startswith("["):
        file = _PACKAGE.sub(r"node_modules/\g<name>/", _PROJECT.sub("/", file))
    func = item["func"].strip()
    return Frame(module=file, function=func, file=file, line=int(line), raw=item[0].strip())


def _header(above: list[str]) -> tuple[str, str]:
    """Type and message from the nearest ``Type: message`` line above the stack."""
    for line in reversed(above):
        match = _HEADER.match(line)
        if match is not None:
            return match["type"], match["msg"].strip()
    return "<unknown>", ""


READER = Reader(read=read, marker=has_marker)
