"""An exception an application's logger wrote at an error level, with no frame and no location
in the text: the record was cut, or the logger never printed the stack::

    production.ERROR: exception 'Symfony\\Component\\Debug\\Exception\\FatalErrorException' with message 'Call to a member function first() on null'

    F, [2019-08-15T15:10:54.717460 #1] FATAL -- : [e964437f-...] ActionView::Template::Error (undefined method `includes' for nil:NilClass):

Laravel (up to 5.0) and Monolog write ``channel.LEVEL: exception 'Type' with message '...'``;
Ruby's Logger writes ``LEVEL -- progname: `` and Rails its tags before the ``Type (message):``
line of a failed request. The trace is that exception alone, marked with the level it was
logged at (``Trace.logged_at``): an application's own error record is a report though it has
no frames (``mail.parse``), and is grouped by its type and message.
"""  # noqa: E501

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: Where each layout's record is found in a line (the first such place only: a line is read
#: once, whatever it repeats).
_MONOLOG_MARK = ": exception '"
_LOGGER_MARK = " -- "
_MONOLOG_LEVELS = frozenset({"ERROR", "CRITICAL", "ALERT", "EMERGENCY"})
_LOGGER_LEVELS = frozenset({"FATAL", "ERROR"})
# ": exception 'X\\Y' with message 'text'" (the message runs to the line's end)
_MONOLOG = re.compile(r": exception '(?P<type>[A-Za-z_\\][\w\\]*+)' with message '(?P<message>.*+)")
_CHANNEL = re.compile(r"[\w-]++")
# " -- progname: [e964437f-...] ActionView::Template::Error (message):" after the level; a
# program name and a tag are short (bounded: a search never reads a line again from each " -- ")
_LOGGER = re.compile(
    r" -- [^:\n]{0,64}+: (?:\[[^\]\n]{0,128}+\][ \t]*+)*+"
    r"(?P<type>[A-Z]\w*+(?:::[A-Z]\w*+)*+) \((?P<message>.*+)"
)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the mark of either layout's record: ``read`` reads nothing
    without one."""
    return _MONOLOG_MARK in text or _LOGGER_MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first exception logged at an error level in ``text`` without a location, or None."""
    monolog, logger = _MONOLOG_MARK in text, _LOGGER_MARK in text
    if not (monolog or logger):
        return None
    for line in text.split("\n"):
        found = (monolog and _monolog(line)) or (logger and _logger(line)) or None
        if found is not None:
            return found
    return None


def _monolog(line: str) -> Trace | None:
    """``channel.LEVEL: exception 'Type' with message 'text'`` ending ``line``."""
    at = line.find(_MONOLOG_MARK)
    if at < 0:
        return None
    channel, _, level = line[:at].rpartition(" ")[2].rpartition(".")
    record = _MONOLOG.match(line, at)
    message = record["message"].rstrip() if record is not None else ""
    if level not in _MONOLOG_LEVELS or not _CHANNEL.fullmatch(channel) or record is None:
        return None
    if not message.endswith("'"):
        return None  # a location or more follows: the PHP parser's
    return _trace("php", record["type"], message[:-1], level)


def _logger(line: str) -> Trace | None:
    """``LEVEL -- progname: [tags] Type (message):`` ending ``line``."""
    at = line.find(_LOGGER_MARK)
    if at < 0:
        return None
    level = line[:at].rpartition(" ")[2]
    record = _LOGGER.match(line, at)
    message = record["message"].rstrip() if record is not None else ""
    if level not in _LOGGER_LEVELS or record is None or not message.endswith("):"):
        return None
    return _trace("ruby", record["type"], message[:-2], level)


def _trace(language: str, kind: str, message: str, level: str) -> Trace:
    exception = ExceptionInfo(type=kind, message=message.strip())
    return Trace(language=language, exceptions=(exception,), logged_at=level)


READER = Reader(read=read, marker=has_marker)
