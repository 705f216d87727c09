"""JVM thread stacks as heap-dump analysers show them (Eclipse MAT, VisualVM): frames carry the
method's JVM descriptor, and the stack of the thread that ran out of memory has no exception
line, only the throwable's constructor on top::

      at java.lang.OutOfMemoryError.<init>()V (OutOfMemoryError.java:48)
      at java.util.Arrays.copyOf([CI)[C (Arrays.java:3332)
      at java.lang.AbstractStringBuilder.ensureCapacityInternal(I)V (AbstractStringBuilder.java:124)

The descriptor is dropped, and constructor frames of a throwable on top name the exception (as
``printStackTrace`` would have, which never prints them). The frames are handed to the JVM parser
as the trace it would have read.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, java
from triagebot.stack.model import Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

# "()V", "([CI)[C", "(Ljava/lang/String;)Ljava/lang/StringBuilder;"
_DESCRIPTOR = r"\((?:\[*+(?:[BCDFIJSZ]|L[\w/$]++;))*+\)\[*+(?:[BCDFIJSVZ]|L[\w/$]++;)"
#: What only this layout holds: a descriptor's end, a blank, then a location.
_DESCRIPTOR_ANY = re.compile(r"\)\[*+(?:[BCDFIJSVZ]|L[\w/$]++;) \(")
_FRAME = re.compile(
    LINE_START
    + r"[` \t]*+at[ \t]++(?P<name>[A-Za-z_$][\w$]*+(?:\.[\w$<>-]++)++)"
    + _DESCRIPTOR
    + r"[ \t]++\((?P<where>Native Method|Unknown Source|[\w$-]++\.\w++(?::\d++)?)\)[ \t]*+$"
)
_INIT = ".<init>"
_THROWABLES = ("Error", "Exception", "Throwable")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds a descriptor's end before a location (``_DESCRIPTOR_ANY``, which is
    literal-led), the first test of ``read``."""
    return _DESCRIPTOR_ANY.search(text) is not None


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The stack of a heap-dump analyser's thread in ``text``, or ``None``."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    top: int | None = None  # the first frame line
    thrown = ""  # the throwable whose constructor is on top
    for index, line in enumerate(lines):
        match = _FRAME.match(line) if "(" in line else None
        if match is None:
            continue
        lines[index] = f"\tat {match['name']}({match['where']})"
        init = _throwable_built(match["name"])
        if top is None or (thrown and index == top + 1 and init):
            top = index
            if init:
                thrown = init
                lines[index] = ""
    if top is None:
        return None
    if thrown:
        lines[top] = thrown
    trace = java.parse("\n".join(lines), max_frames)
    if trace is None or not trace.frame_count or not trace.exceptions[0].type:
        return None
    return trace


def _throwable_built(name: str) -> str:
    """``java.lang.OutOfMemoryError`` for ``java.lang.OutOfMemoryError.<init>``, else ""."""
    owner = name.removesuffix(_INIT)
    return owner if owner != name and owner.endswith(_THROWABLES) else ""


READER = Reader(read=read, marker=has_marker)
