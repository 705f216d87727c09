"""Bugsnag notifier payloads: the JSON an app sends to Bugsnag, pasted from a debug log.

Each exception of ``events[].exceptions`` has an ``errorClass``, a ``message`` and a
``stacktrace`` of flat frame objects, innermost first; the reported exception comes first, its
causes after it::

    "exceptions": [
      {
        "errorClass": "java.lang.NullPointerException",
        "message": "Attempt to invoke virtual method ... on a null object reference",
        "stacktrace": [
          {"method": "org.flyve.inventory.agent.utils.HttpInventory$1.run",
           "file": "HttpInventory.java", "lineNumber": 160, "inProject": true},

Pasted payloads are often cut, so the JSON is not parsed whole: each field and frame object is
read where it stands, and the frames go through the Bugsnag report's own frame reading
(``extra.bugsnag.build``).
"""

from __future__ import annotations

import json
import re

from triagebot.stack import Reader
from triagebot.stack.extra.bugsnag import Error, build
from triagebot.stack.model import Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

_ERROR_CLASS = '"errorClass"'
_STRING = r'[ \t]*+:[ \t]*+"(?P<value>(?:[^"\\\n]|\\.)*+)"'
_CLASS_FIELD = re.compile(_ERROR_CLASS + _STRING)
_MESSAGE_FIELD = re.compile(r'"message"' + _STRING)
_STACKTRACE_KEY = '"stacktrace"'
_STACKTRACE = re.compile(_STACKTRACE_KEY + r"[ \t]*+:[ \t]*+\[")
#: The next frame object (flat, so no brace inside it) after "[" or the previous one; a run of
#: blanks is entered only at its first character (linear on any text).
_FRAME_OBJECT = re.compile(r"(?<![\s,])[\s,]*+(\{[^{}]*+\})")
#: The causes read after the reported exception.
_MAX_ERRORS = 8


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``errorClass`` field ``read`` starts from and the ``stacktrace``
    field an error needs after it: ``read`` finds nothing without both."""
    return _ERROR_CLASS in text and _STACKTRACE_KEY in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The error of a Bugsnag payload in ``text``, or ``None`` when there is none."""
    if _ERROR_CLASS not in text:
        return None
    errors: list[Error] = []
    for match in _CLASS_FIELD.finditer(text):
        stack = _STACKTRACE.search(text, match.end())
        if stack is None:
            break
        message = _MESSAGE_FIELD.search(text, match.end(), stack.start())
        errors.append(
            Error(
                type=_unquote(match["value"]),
                message=_unquote(message["value"]) if message is not None else "",
                frames=_frames(text, stack.end(), max_frames),
            )
        )
        if len(errors) > _MAX_ERRORS:
            break
    return build(errors, max_frames) if errors else None


def _frames(text: str, pos: int, max_frames: int) -> list[tuple[str, str]]:
    """``(location, name)`` of the frame objects from ``pos``, as the Markdown report has them."""
    frames: list[tuple[str, str]] = []
    while len(frames) < max_frames:
        found = _FRAME_OBJECT.match(text, pos)
        if found is None:
            break
        pos = found.end()
        try:
            frame = json.loads(found[1])
        except ValueError:
            break
        method, file, line = frame.get("method"), frame.get("file") or "", frame.get("lineNumber")
        if isinstance(method, str) and isinstance(file, str) and isinstance(line, int):
            frames.append((f"{file}:{line}", method))
    return frames


def _unquote(value: str) -> str:
    try:
        return str(json.loads(f'"{value}"'))
    except ValueError:
        return value


READER = Reader(read=read, marker=has_marker)
