"""Go stacks that a recover handler logged with ``runtime/debug.Stack()``, pasted without the
goroutine header that output starts with.

        runtime/debug.Stack(0xc4201c4030, 0x9472c1, 0xe)
                /root/.gvm/gos/go1.9.2/src/runtime/debug/stack.go:24 +0xa7
        main.logPanicExitPeer(0xc42028a0c0)
                /var/omnibus/src/src/github.com/sni/lmd/lmd/peer.go:2754 +0x12f
        panic(0x8b9ce0, 0x9a4dd0)
                /root/.gvm/gos/go1.9.2/src/runtime/panic.go:491 +0x283
        main.(*DataTable).AddItem(...)

The dump is the running goroutine's stack from ``debug.Stack`` outwards: it is read by the Go
parser under the header it lost, from ``debug.Stack`` on (a paste whose line breaks were lost
runs the sentence above into it), so its frames have the parser's keys. The panic value was
printed, if at all, by the handler in its own words: the type stays unknown.
"""

from __future__ import annotations

from triagebot.stack import Reader, go
from triagebot.stack.model import Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: Where the dump starts (a literal, searched before any parsing).
_DUMP = "runtime/debug.Stack("
#: What ``debug.Stack`` prints above its frames.
_HEADER = "goroutine 1 [running]:\n"
#: Characters above the dump in which a header means the Go parser read the dump.
_ABOVE = 200


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the dump's start, which ``read`` reads from: it reads nothing
    without it."""
    return _DUMP in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The ``debug.Stack`` dump of ``text`` without its goroutine header, or None."""
    start = text.find(_DUMP)
    if start < 0 or "goroutine " in text[max(0, start - _ABOVE) : start]:
        return None
    return go.parse(_HEADER + text[start:], max_frames)


READER = Reader(read=read, marker=has_marker)
