"""PHP errors logged as one line with a location and no stack: what ``error_log``,
``display_errors`` and framework loggers print for warnings, notices and fatal errors.

    PHP Fatal error:  Uncaught Error: Call to a member function prepare() on null in /x.php:9
    PHP Notice:  Undefined index: user_id in /var/www/api/responder.php on line 86, referer: ...
    Fatal error: Can't use function return value in write context in /x/features.php on line 45
    |ERROR| PHP Uncaught PHP Exception Exception: "boo" at /src/HelloController.php line 15
    main.CRITICAL: ... {"exception":"[object] (Exception(code: 0): Item ... at /x/Data.php:404)"}

The only place such a line names is the file it was raised in. Its one frame is that file's code
as a whole, ``<file>::{main}`` (the file as ``php`` frames name it without install prefix), an
entry point to the signature: the file alone does not tell two errors of one file apart, so the
signature adds the normalised message. A text holding a PHP stack (``Stack trace:``) is left to
the parser, which reads the same header with its frames.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.php import _ROOTS
from triagebot.stack.python import source_key
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "find_error", "has_marker", "location_frame", "read"]

# Where an error starts, through its type when it names one:
# "PHP Fatal error:  Uncaught TypeError: ", "Warning: ", "Uncaught PHP Exception Exception: ",
# "[object] (ErrorException(code: 0): ",
# "PHP Fatal error:  Uncaught exception 'Exception' with message '" (PHP 5)
_HEAD = re.compile(
    r"\[object\] \((?P<object>[A-Za-z_\\][\w\\]*+)\(code: [^()\n]*+\): "
    r"|Uncaught PHP Exception (?P<symfony>[A-Za-z_\\][\w\\]*+): "
    r"|\b(?P<level>(?:Catchable |Recoverable )?[Ff]atal error|Parse error|Warning|Notice"
    r"|Deprecated|Strict Standards):[ \t]++(?:Uncaught (?:(?P<uncaught>[A-Za-z_\\][\w\\]*+): "
    r"|exception '(?P<old>[^'\n]++)' with message '))?"
)
_KINDS = ("object", "symfony", "old", "level")
# The location that ends the message: " in /x.php on line 12", " in /x.php:12", " at /x.php
# line 15" (Symfony), " at /x.php:404" (Laravel). A file is one word ending in a PHP extension,
# tried from each " in "/" at " to the end of its word only.
_LOCATION = re.compile(
    r" (?:in|at) (?P<file>[^\s\"'`]+?\.(?:php\d?|phtml|inc))(?: on line | line |:)(?P<line>\d+)"
)
#: A text with a PHP stack is the parser's.
_STACK = "Stack trace:"
#: What every ``_LOCATION`` match holds: a PHP file's extension (``.php7`` holds ``.php``).
#: Literal-led, so it costs about what one literal test does.
_EXTENSION = re.compile(r"\.(?:php|phtml|inc)")
#: What every ``_HEAD`` match holds: its literal start, or its level's end and colon (``error:``
#: ends each fatal and parse error).
_HEAD_MARKS = (
    "[object] (",
    "Uncaught PHP Exception ",
    "error:",
    "Warning:",
    "Notice:",
    "Deprecated:",
    "Standards:",
)


def _message(text: str, kind: str) -> str:
    """The message as logged, its JSON escapes and the quotes a logger put around it undone."""
    if "\\" in text:
        text = text.replace('\\"', '"').replace("\\\\", "\\")
    text = text.strip()
    if kind == "old":  # "with message 'msg' in": the opening quote was the head's
        return text.removesuffix("'")
    if kind == "symfony" and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def location_frame(file: str, line: int, raw: str) -> Frame:
    """The one frame of an error that names only its file: ``<file>::{main}``."""
    return Frame(module=source_key(file, _ROOTS), function="{main}", file=file, line=line, raw=raw)


def find_error(text: str) -> ExceptionInfo | None:
    """The first one-line PHP error with a location in ``text``, its one frame where it was
    raised, or None."""
    pos = 0
    while (head := _HEAD.search(text, pos)) is not None:
        line_end = text.find("\n", head.end())
        line_end = len(text) if line_end < 0 else line_end
        where = _LOCATION.search(text, head.end(), line_end)
        if where is None:  # a later head on this line would search the same rest of it
            pos = line_end + 1
            continue
        kind = next(name for name in _KINDS if head[name] is not None)
        frame = location_frame(where["file"], int(where["line"]), where[0].strip())
        message = _message(text[head.end() : where.start()], kind)
        return ExceptionInfo(type=head["uncaught"] or head[kind], message=message, frames=(frame,))
    return None


def has_marker(text: str) -> bool:
    """Whether ``text`` may hold a one-line error: ``read`` finds nothing in a text without a PHP
    file's extension (``_LOCATION``) or the start of an error (``_HEAD``), or with a PHP stack.
    Literal tests, the rarest first, many times cheaper than ``_HEAD``'s search, which no
    literal leads."""
    return (
        _EXTENSION.search(text) is not None
        and _STACK not in text
        and any(mark in text for mark in _HEAD_MARKS)
    )


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first one-line PHP error with a location in ``text``, or None."""
    if _STACK in text or max_frames < 1:
        return None
    error = find_error(text)
    return Trace(language="php", exceptions=(error,)) if error is not None else None


READER = Reader(read=read, marker=has_marker)
