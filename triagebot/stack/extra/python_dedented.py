"""Python tracebacks whose lines lost their indentation: the text of an HTML mail written
without ``<pre>`` (a line per ``<div>``, its leading spaces collapsed as a browser collapses
them), a CI console, a chat paste::

    Traceback (most recent call last):
    File "/var/lib/jenkins/.../validation.py", line 114, in get_last_audit_entry_date
    data = json.loads(raw)
    File "/usr/lib/python3.6/json/__init__.py", line 354, in loads
    return _default_decoder.decode(s)
    json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 777 (char 776)

``python.parse`` tells a frame's source line by its indentation, so it stops at the first one.
Here the line under a frame line gets its indentation back unless it is the exception, and
``python.parse`` reads the text: the frames are built and keyed as it builds them.
"""

from __future__ import annotations

from triagebot.stack import Reader, python
from triagebot.stack.model import Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

_FRAME_START = 'File "'
#: Characters of the line that marks the failing part of a source line (Python 3.11 on).
_CARETS = frozenset("^~ ")


def has_marker(text: str) -> bool:
    """Whether a line of ``text`` starts with a frame's ``File "``: ``read`` finds nothing
    without one."""
    return text.startswith(_FRAME_START) or f"\n{_FRAME_START}" in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The traceback read with its source lines indented again, or None when no frame line
    starts a line or none is followed by an unindented source line."""
    lines = text.splitlines()
    out = list(lines)
    indented = False
    for index in range(1, len(lines)):
        if _is_source(lines, index) or (indented and _is_carets(lines[index])):
            out[index] = "    " + lines[index]
            indented = True
        else:
            indented = False
    if out == lines:
        return None
    return python.parse("\n".join(out), max_frames)


def _is_source(lines: list[str], index: int) -> bool:
    """Whether ``lines[index]`` is the source line of the unindented frame line above it. A
    line another frame follows always is; any other is too, unless it reads as an exception
    line and the line after it does not (``x: int = f()`` before the exception is source)."""
    line = lines[index]
    if not _is_frame(lines[index - 1]) or not line[:1].strip() or _is_frame(line):
        return False
    after = lines[index + 1] if index + 1 < len(lines) else ""
    return _is_frame(after) or not python.is_exception_line(line) or python.is_exception_line(after)


def _is_frame(line: str) -> bool:
    """Whether ``line`` is a frame line at the start of the line (unindented)."""
    return line.startswith(_FRAME_START) and python.is_frame_line(line)


def _is_carets(line: str) -> bool:
    return bool(line.strip()) and set(line) <= _CARETS


READER = Reader(read=read, marker=has_marker, since="v6")
