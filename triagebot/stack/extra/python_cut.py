"""Python tracebacks pasted from their middle: the first frame line cut before its path ends,
or before its path, so no ``File "`` starts it, and prose may run into it::

    当它在进行训练的时候，会发生报错：Anaconda3\\envs\\yolo\\lib\\site-packages\\keras\\engine\\saving.py", line 1004, in load_weights_from_hdf5_group
        original_keras_version = f.attrs['keras_version'].decode('utf8')
    AttributeError: 'str' object has no attribute 'decode'

The cut line is given back its ``File "`` (and ``<unknown>`` for a path cut away entirely) and
the rest is read by ``python.parse``, so the frames are built and keyed as it builds them.
"""  # noqa: E501

from __future__ import annotations

import re

from triagebot.stack import Reader, python
from triagebot.stack.model import UNKNOWN_TYPE, Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

# '...saving.py", line 1004, in load_weights', 'line 296, in get_throttling_function_name'
_CUT = re.compile(r'(?:(?<=\.py", )|^[ \t]*+)line (?P<line>\d++), in (?P<func>\S++)[ \t]*+$', re.M)
#: What a cut path is made of, read backwards from its closing quote (prose before it is not).
_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~/\\:")
#: What every cut line holds (``has_marker``).
_MARK = re.compile(r"line \d++, in ")
_HEADER = "Traceback (most recent call last):\n"
#: Cut lines tried, and the longest path read back from one: a text of many lookalikes is not
#: read again from each.
_TRIES = 3
_MAX_PATH = 1000


def has_marker(text: str) -> bool:
    """Whether ``text`` holds a ``line N, in``: ``read`` finds nothing without one."""
    return _MARK.search(text) is not None


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The traceback that a cut frame line starts, if the text goes on as one and names its
    exception, or None."""
    for _, cut in zip(range(_TRIES), _CUT.finditer(text), strict=False):
        trace = python.parse(_HEADER + _frame_line(text, cut) + text[cut.end() :], max_frames)
        if trace is not None and trace.root is not None and trace.root.type != UNKNOWN_TYPE:
            return trace
    return None


def _frame_line(text: str, cut: re.Match[str]) -> str:
    """The cut line as the interpreter printed it: the path's readable tail, or ``<unknown>``."""
    start = end = cut.start() - len('", ')
    if text.startswith('", ', end):
        while start > max(0, end - _MAX_PATH) and text[start - 1] in _PATH_CHARS:
            start -= 1
    path = text[start:end] if start < end else "<unknown>"
    return f'  File "{path}", line {cut["line"]}, in {cut["func"]}'


READER = Reader(read=read, marker=has_marker, since="v5")
