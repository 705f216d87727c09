"""Go stacks pasted without their file lines: the goroutine header and the calls, with no
``/path/x.go:42 +0x1d`` below any of them (a reporter who kept only the function names, or cut
the paste after the first call line), and often without the ``panic:`` line too::

    [signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x113e0c5]

    goroutine 1 [running]:
    github.com/catchplay/scaffold/scaffold.(*scaffold).genFormStaticFle.func1(0xc0000aa580, 0x3b)

The Go parser needs a file line under each call; here the calls alone are the frames, keyed
as the parser keys them (package, then function). A stack in which any call has its file line
is the parser's (its reading and signature stay as they are). Without a panic line the
signal line says what happened (``signal SIGSEGV``); without either the type is unknown.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, go
from triagebot.stack.model import UNKNOWN_TYPE, ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

#: Literal mark of a goroutine header, looked for before any pattern runs.
_MARK = "goroutine "
# "goroutine 1 [running]:" as a whole line
_HEADER = re.compile(LINE_START + r"[ \t]*+goroutine \d++ \[[^\]\n]*+\]:[ \t]*+$")
# "github.com/a/b.(*T).M.func1(0xc0000aa580, 0x3b)", "main.main()",
# "created by main.run in goroutine 1"
_CALL = re.compile(
    LINE_START + r"[ \t]*+(?:created by (?P<created>\S++)(?: in goroutine \d++)?"
    r"|(?P<func>[\w./*()%-]+?)\([^()\n]*+\))[ \t]*+$"
)
# "/usr/local/go/src/runtime/panic.go:199 +0x44", "\t???:0"
_LOCATION = re.compile(LINE_START + r"[ \t]*+\S[^\n]*?(?:\.go|\?\?):\d++")
# "[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x113e0c5]"
_SIGNAL = re.compile(r"\[signal (?P<signal>SIG\w++):[ \t]*+(?P<message>[^\]\n]*+)\]")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal start of ``_HEADER``, the first test of ``read``."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first goroutine's calls of ``text`` when none has a file line, or None."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _MARK in line and _HEADER.match(line)), -1)
    if start < 0:
        return None
    budget = FrameBudget(max_frames)
    frames: list[Frame] = []
    for line in lines[start + 1 :]:
        if _LOCATION.match(line):
            return None
        call = _CALL.match(line)
        if call is None:
            break
        if budget.room(frames):
            module, function = go._split(call["created"] or call["func"])
            frames.append(Frame(module, function, raw=line.strip()))
    if not frames:
        return None
    above = "\n".join(lines[:start])
    chain = go._panics(above, len(above)) or [_signal(above)]
    chain[0] = ExceptionInfo(chain[0].type, chain[0].message, tuple(frames))
    return Trace(language="go", exceptions=tuple(chain), dropped=budget.dropped)


def _signal(text: str) -> ExceptionInfo:
    """The signal the runtime printed above the stack, or an unknown type."""
    found = _SIGNAL.search(text)
    if found is None:
        return ExceptionInfo(type=UNKNOWN_TYPE)
    return ExceptionInfo(type=f"signal {found['signal']}", message=found["message"].strip())


READER = Reader(read=read, marker=has_marker)
