"""Python tracebacks pasted on one short line (``Traceback (most recent call last): File
"/usr/bin/pip", line 9, in <module> from pip import main ImportError: ...``).

``python.parse`` restores the line breaks of collapsed lines longer than a three-frame
traceback only, so a shorter one is left to this reader: it breaks each line that holds the
header after it and before each frame, and lets the parser read the result (its frames, keys
and signature are the parser's own).
"""

from __future__ import annotations

from triagebot.stack import Reader, python
from triagebot.stack.model import Trace
from triagebot.stack.python import _BREAKS as PYTHON_BREAKS
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

_MARK = 'Traceback (most recent call last): File "'


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the one-line traceback's start, the first test of ``read``."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first traceback on one line in ``text``, or None."""
    if not has_marker(text):
        return None
    lines = [PYTHON_BREAKS.sub("\n", line) if _MARK in line else line for line in text.split("\n")]
    return python.parse("\n".join(lines), max_frames)


READER = Reader(read=read, marker=has_marker)
