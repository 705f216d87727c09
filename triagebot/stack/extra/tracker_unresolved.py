"""Error-tracker issues whose stack the tracker could not resolve: Bugsnag's GitHub
integration with only ``unknown file:0 - unknown method`` under its stack heading, Rollbar's
with only ``File "(unknown)", line unknown`` frames (a browser's cross-origin ``Script
error.``)::

    **kotlinx.coroutines.JobCancellationException** in **unknown method:0**
    Job was cancelled
    ...
    ## Stacktrace

        unknown file:0 - unknown method

    (unknown): Script error.
      File "(unknown)", line unknown, in [anonymous]

The tracker filed an error report, so it is one; its frames say only that code ran there. They
are read as unresolved frames (``UNRESOLVED_FUNCTION``), which signing skips: such a report is
grouped by its type and message. A stack with any resolved frame is the other readers'.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra import bugsnag
from triagebot.stack.model import UNKNOWN_TYPE, UNRESOLVED_FUNCTION, ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget, frames_while

__all__ = ["READER", "has_marker", "read"]

#: Bugsnag's name of a frame it could not resolve, also looked for before any pattern runs.
_BUGSNAG_UNRESOLVED = "unknown method"
#: Literal mark of Rollbar's layout.
_ROLLBAR_MARK = '"(unknown)", line unknown'
# '  File "(unknown)", line unknown, in [anonymous]'
_ROLLBAR_FRAME = re.compile(
    LINE_START + r"[ \t]*+File \"\(unknown\)\", line unknown(?:, in [^\n]*+)?$"
)
# "(unknown): Script error.", "TypeError: x is undefined" on the line above the frames
_ROLLBAR_ERROR = re.compile(LINE_START + r"[ \t]*+(?P<type>[^\s:][^:\n]*?):[ \t]*+(?P<message>.*)")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the mark of either tracker's layout: ``read`` reads nothing
    without one."""
    return _BUGSNAG_UNRESOLVED in text or _ROLLBAR_MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The unresolved stack of a Bugsnag or Rollbar issue in ``text``, or None."""
    found = _bugsnag(text, max_frames) if _BUGSNAG_UNRESOLVED in text else None
    if found is None and _ROLLBAR_MARK in text:
        found = _rollbar(text, max_frames)
    return found


def _bugsnag(text: str, max_frames: int) -> Trace | None:
    """A Bugsnag issue whose every frame is ``unknown method``."""
    start = text.find(bugsnag.STACKTRACE)
    header = bugsnag.header(text, start)
    if header is None:
        return None
    frames = bugsnag.frames(text[start + len(bugsnag.STACKTRACE) :])
    if not frames or any(name != _BUGSNAG_UNRESOLVED for _, name in frames):
        return None
    budget = FrameBudget(max_frames)
    kept: list[Frame] = []
    for where, name in frames:
        if budget.room(kept):
            kept.append(_unresolved(f"{where} - {name}"))
    message = bugsnag.message(text[header.end() : start])
    return _trace(header["type"], message, kept, budget.dropped)


def _rollbar(text: str, max_frames: int) -> Trace | None:
    """A Rollbar issue whose every frame is ``File "(unknown)"``."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _ROLLBAR_FRAME.match(line)), None)
    if not start:
        return None
    error = _ROLLBAR_ERROR.match(lines[start - 1])
    if error is None:
        return None
    budget = FrameBudget(max_frames)
    frames = frames_while(lines[start:], _rollbar_frame, budget)
    kind = error["type"].strip()
    kind = UNKNOWN_TYPE if kind == "(unknown)" else kind
    return _trace(kind, error["message"], frames, budget.dropped)


def _rollbar_frame(line: str) -> Frame | None:
    return _unresolved(line) if _ROLLBAR_FRAME.match(line) else None


def _unresolved(raw: str) -> Frame:
    return Frame(module="", function=UNRESOLVED_FUNCTION, raw=raw.strip())


def _trace(kind: str, message: str, frames: list[Frame], dropped: int) -> Trace:
    exception = ExceptionInfo(type=kind, message=message.strip(), frames=tuple(frames))
    return Trace(language="unknown", exceptions=(exception,), dropped=dropped)


READER = Reader(read=read, marker=has_marker)
