"""Go stacks as the Delve debugger prints them (``stack``, and VS Code's call stack on a panic).

    Exception has occurred: panic "runtime error: index out of range [1] with length 1"
    Stack:
        3  0x0000000000c16509 in roaster.initialize
            at C:/Projects/Go/src/roaster/roaster.go:88
        4  0x0000000000c18037 in roaster.Roast
            at C:/Projects/Go/src/roaster/roaster.go:238

Each frame is numbered, with its program counter and function, its location on the next line.
Functions are split and panic messages typed as the Go parser does, so a panic read here and
from the runtime's own output has the same frame keys and exception type.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, go
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

#: Literal marks of a frame, searched before any pattern runs.
_MARKS = (" 0x", " in ")
# "\t3  0x0000000000c16509 in roaster.initialize\n\t    at C:/Projects/Go/src/roaster/roaster.go:88"
_FRAME = re.compile(
    LINE_START + r"[ \t]*+\d++[ \t]++0x[0-9a-fA-F]++ in (?P<func>\S++)[ \t]*+\n"
    r"[ \t]*+at (?P<file>\S[^\n]*?\.go):(?P<line>\d++)[ \t]*+(?:\n|$)"
)
# 'Exception has occurred: panic "runtime error: index out of range [1] with length 1"'
_HEADER = re.compile(
    r"Exception has occurred: (?P<kind>panic|fatal error)[ \t]*+\"(?P<message>[^\"\n]*+)\""
)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal marks of a frame, the first test of ``read``."""
    return all(mark in text for mark in _MARKS)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Delve stack of ``text`` and the panic above it, or None."""
    if not has_marker(text):
        return None
    first = _FRAME.search(text)
    if first is None:
        return None
    budget = FrameBudget(max_frames)
    frames: list[Frame] = []
    match: re.Match[str] | None = first
    while match is not None:
        if budget.room(frames):
            module, function = go._split(match["func"])
            line = int(match["line"])
            raw = " ".join(match[0].split())
            frames.append(Frame(module, function, file=match["file"], line=line, raw=raw))
        match = _FRAME.match(text, match.end())
    header = _HEADER.search(text, 0, first.start())
    exception = (
        go._exception(header["kind"], header["message"])
        if header is not None
        else ExceptionInfo(type="<unknown>")
    )
    exception = ExceptionInfo(exception.type, exception.message, tuple(frames))
    return Trace(language="go", exceptions=(exception,), dropped=budget.dropped)


READER = Reader(read=read, marker=has_marker)
