"""Go panics from before Go 1.5, whose runtime was partly written in C.

    goroutine 1 [running]:
    runtime.panic(0x6a9cc0, 0xa270aa)
        /usr/lib/go/src/pkg/runtime/panic.c:266 +0xb6
    main.splitDockerImage(0xc21006e3c0, 0x20, 0x40, 0xc2100489a0, 0x0, ...)
        GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:80 +0x251

The panicking goroutine's first frame is then ``runtime.panic`` in ``panic.c``, where the Go
parser, which reads ``.go`` locations, stops before any frame. The runtime's C (and assembly)
frames are dropped and the rest is read by the Go parser, so every frame keeps the key the
parser gives it; they are runtime frames, never the application's.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, go
from triagebot.stack.model import Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: Literal marks searched before any pattern runs: a goroutine and a C or assembly location.
_GOROUTINE = "goroutine "
_SOURCES = (".c:", ".s:")
# "    /usr/lib/go/src/pkg/runtime/panic.c:266 +0xb6", "\t/go/src/pkg/runtime/asm_amd64.s:2232"
_C_LOCATION = re.compile(
    LINE_START + r"[ \t]*+\S+?\.[cs]:\d++(?:[ \t]++\+0x[0-9a-f]++)?[ \t]*+(?:\n|$)"
)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds a goroutine and a C or assembly location, the first test of
    ``read``."""
    return _GOROUTINE in text and any(source in text for source in _SOURCES)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The Go trace of ``text`` once its runtime's C frames are dropped, or None."""
    if not has_marker(text):
        return None
    kept: list[str] = []
    dropped = False
    for line in text.split("\n"):
        if kept and kept[-1].rstrip().endswith(")") and _C_LOCATION.match(line):
            kept.pop()  # the frame's call line
            dropped = True
            continue
        kept.append(line)
    return go.parse("\n".join(kept), max_frames) if dropped else None


READER = Reader(read=read, marker=has_marker)
