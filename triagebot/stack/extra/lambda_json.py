"""Python errors as AWS Lambda returns them: a JSON object with ``errorType``, ``errorMessage``
and a ``stackTrace`` list, whose entries are ``[file, line, function, source]`` arrays
(python2.7 runtimes) or escaped ``"  File \\"...\\", line N, in f\\n..."`` strings (python3).

The list runs from the outermost call to the most recent one, as a traceback prints it, and is
reversed to follow ``triagebot.stack.model``. Frames are named as ``python.parse`` names them,
so ``python.normalize_frame`` keys them alike.
"""

from __future__ import annotations

import json
import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.python import _module as python_module
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

_MARK = '"stackTrace"'
# ["/var/task/s3_lambda_es.py", 64, "lambda_handler", "bucket = ..."]
_ARRAY_FRAME = re.compile(
    r'\[\s*+"(?P<file>[^"\n]++)",\s*+(?P<line>\d++),\s*+"(?P<func>[^"\\\n]++)"'
)
# "  File \"/var/task/lambda_function.py\", line 10, in lambda_handler\n    x = event['a']\n"
# (its quotes unescaped when ``unwrap`` restored the line breaks of a long entry)
_STRING_FRAME = re.compile(
    r'"[ \t]*+File \\?"(?P<file>[^"\\\n]++)\\?", line (?P<line>\d++), in (?P<func>[^\s\\"]++)'
)
_FIELD = re.compile(r'"(?P<key>errorType|errorMessage)"\s*+:\s*+(?P<value>"(?:[^"\\\n]|\\.)*+")')
#: Characters after ``"stackTrace"`` read for frames and fields (a Lambda error is short).
_WINDOW = 20_000
#: Characters before it searched for the fields (they may come first).
_LOOKBACK_CHARS = 2000


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``stackTrace`` field ``read`` reads from: it reads nothing
    without it."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Lambda Python error in ``text``, or None."""
    start = text.find(_MARK)
    if start < 0:
        return None
    window = text[start : start + _WINDOW]
    budget = FrameBudget(max_frames)
    found: list[re.Match[str]] = []
    for layout in (_ARRAY_FRAME, _STRING_FRAME):
        found = list(layout.finditer(window))
        if found:
            break
    frames: list[Frame] = []
    for match in reversed(found):  # the most recent call is listed last
        if budget.room(frames):
            file = match["file"]
            frames.append(
                Frame(
                    module=python_module(file),
                    function=match["func"],
                    file=file,
                    line=int(match["line"]),
                    raw=" ".join(match[0].split()),
                )
            )
    if not any(f.file and f.file.endswith(".py") for f in frames):
        return None
    fields = {
        m["key"]: _string(m["value"])
        for m in _FIELD.finditer(text[max(0, start - _LOOKBACK_CHARS) : start + _WINDOW])
    }
    exception = ExceptionInfo(
        type=fields.get("errorType") or "<unknown>",
        message=fields.get("errorMessage", ""),
        frames=tuple(frames),
    )
    return Trace(language="python", exceptions=(exception,), dropped=budget.dropped)


def _string(literal: str) -> str:
    """A JSON string literal's value (as printed when it is not valid JSON)."""
    try:
        value = json.loads(literal)
    except ValueError:
        return literal[1:-1]
    return value if isinstance(value, str) else literal[1:-1]


READER = Reader(read=read, marker=has_marker)
