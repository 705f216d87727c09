"""PHP exceptions logged as JSON objects: Nextcloud's log entries and the error objects of
Symfony-style serializers, pretty-printed or on one line, often cut by the reporter.

    "Exception": "Error", "Message": "Trying to access array offset ...",
    "Trace": [{"file": "/var/www/html/test.php", "line": 15, "function": "onAll",
               "class": "OC\\\\Log\\\\ErrorHandler", "type": "::", "args": [...]}, ...]

    "class": "Error", "message": "Call to a member function user() on null",
    "file": "/app/src/Command/CommentCommand.php:122", "trace": ["/app/src/...php:75", ...]

A ``Trace`` array is ``Throwable::getTrace()``: each object is a frame as PHP prints it
(``#0 file(line): Class::function()``), so it gets the PHP parser's key. A ``trace`` of bare
locations names no function: the error is then read like a one-line error, by the file it was
raised in (``php_error_line.location_frame``). The JSON is walked token by token, so a cut
object still gives the frames before the cut.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra.php_error_line import location_frame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

#: Literal marks of either shape, searched before any pattern runs.
_MARKS = ('"Exception"', '"class"')
_STRING = r'"(?:[^"\\\n]|\\.)*+"'
_COLON = r"[ \t]*+:\s*+"
# '"Exception": "Error"', '"class": "Doctrine\\DBAL\\Exception"'
_TYPE = re.compile(r'"(?:Exception|class)"' + _COLON + r'"(?P<type>[A-Za-z_\\][\w\\]*+)"')
_MESSAGE = re.compile(r'"(?:Message|message)"' + _COLON + r"(?P<message>" + _STRING + ")")
_TRACE = re.compile(r'"Trace"' + _COLON + r"\[")
# '"file": "/app/src/Command/CommentNonMergeablePullRequestsCommand.php:122"'
_FILE_LINE = re.compile(r'"file"' + _COLON + r'"(?P<file>[^"\n]+?\.php):(?P<line>\d+)"')
#: The tokens of a frame object: a key, a string or number value, a bracket.
_TOKEN = re.compile(
    r"(?P<string>" + _STRING + r")(?P<key>" + _COLON + r")?|(?P<number>\d++)|(?P<open>[\[{])"
    r"|(?P<close>[\]}])"
)
#: Characters after the type searched for its message and trace (one log entry).
_ENTRY = 4000
_ESCAPES = re.compile(r"\\(.)")
_FIELDS = ("file", "line", "function", "class")


def _text(token: str) -> str:
    """A JSON string's text (``\\\\`` and ``\\"`` undone; other escapes kept as written)."""
    return _ESCAPES.sub(r"\1", token[1:-1])


def _frames(text: str, pos: int, budget: FrameBudget) -> tuple[Frame, ...]:
    """The frame objects of the ``Trace`` array whose ``[`` ends at ``pos``."""
    frames: list[Frame] = []
    depth = 1
    fields: dict[str, str] = {}
    key = ""
    for token in _TOKEN.finditer(text, pos):
        if token["open"]:
            depth += 1
            fields = {} if depth == 2 else fields
        elif token["close"]:
            depth -= 1
            if depth == 1 and "function" in fields and budget.room(frames):
                frames.append(_frame(fields))
            if depth == 0:
                break
        elif depth == 2 and token["key"]:
            key = _text(token["string"])
        elif depth == 2 and key in _FIELDS:
            fields[key] = _text(token["string"]) if token["string"] else token["number"]
            key = ""
    return tuple(frames)


def _frame(fields: dict[str, str]) -> Frame:
    line = fields.get("line", "")
    return Frame(
        module=fields.get("class", ""),
        function=fields["function"],
        file=fields.get("file"),
        line=int(line) if line.isdigit() else None,
        raw=" ".join(f"{k}={v}" for k, v in fields.items()),
    )


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal mark of either shape, the first test of ``read``."""
    return any(mark in text for mark in _MARKS)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first PHP exception logged as a JSON object in ``text``, or None."""
    if not has_marker(text):
        return None
    head = _TYPE.search(text)
    if head is None:
        return None
    end = min(len(text), head.end() + _ENTRY)
    said = _MESSAGE.search(text, head.end(), end)
    message = _text(said["message"]) if said else ""
    budget = FrameBudget(max_frames)
    trace = _TRACE.search(text, head.end(), end)
    frames = _frames(text, trace.end(), budget) if trace is not None else ()
    if not frames and (where := _FILE_LINE.search(text, head.end(), end)) is not None:
        frames = (location_frame(where["file"], int(where["line"]), where[0]),)
    if not frames:
        return None
    exception = ExceptionInfo(type=head["type"], message=message, frames=frames)
    return Trace(language="php", exceptions=(exception,), dropped=budget.dropped)


READER = Reader(read=read, marker=has_marker)
