"""PHP call stacks as Xdebug prints them under an error: its HTML table copied as text, its
CLI ``Call Stack:`` and its ``PHP Stack trace:`` lines in ``error_log``.

    ( ! ) Fatal error: Call to a member function getName() on null in /x/page.php on line 106
    Call Stack
    # Time    Memory  Function    Location
    1   0.0000  232744  {main}( )   ../index.php:0
    2   0.0124  778584  RWF\\Request\\RequestHandler::handleRequest( )    ../index.php:25

        0.0001     393000   1. {main}() /var/www/index.php:0
    PHP   2. App\\Service->load($id = 3) /var/www/index.php:25

Each row names the called function and the call site, outermost first: the same frames as a
PHP trace (``#0 file(line): function()``) in reverse, so they are reversed and named as the PHP
parser names them. The time and memory columns, which vary per run, are not read. The error is
the one-line error above the stack (``php_error_line.find_error``) without its location.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra._php import named_frame
from triagebot.stack.extra.php_error_line import find_error
from triagebot.stack.model import ExceptionInfo, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: Literal marks of the three layouts, searched before any pattern runs.
_MARKS = ("Call Stack", "PHP Stack trace:")
# The header line of a stack: "Call Stack", "Call Stack:", "PHP Stack trace:"
_HEADER = re.compile(LINE_START + r"[ \t]*+(?:Call Stack:?|PHP Stack trace:)[ \t]*+$", re.MULTILINE)
# "1   0.0000  232744  {main}( )   ../index.php:0", "    0.0001     393000   1. {main}() /x.php:0",
# "PHP   2. App\Service->load($id = 3) /var/www/index.php:25": a number, time and memory in the
# layout's order, then the call and its call site.
_ROW = re.compile(
    LINE_START + r"[ \t]*+(?:PHP[ \t]++\d++\.|\d++[ \t]++\d++\.\d++[ \t]++\d++"
    r"|\d++\.\d++[ \t]++\d++[ \t]++\d++\.)[ \t]++"
    r"(?P<call>[^\s(][^\n(]*?\([^\n]*?\))[ \t]++(?P<file>\S+?):(?P<line>\d++)[ \t]*+$",
    re.MULTILINE,
)
#: Characters above the stack searched for its error line.
_ABOVE = 2000


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal mark of a layout, the first test of ``read``."""
    return any(mark in text for mark in _MARKS)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Xdebug call stack of ``text`` and the error above it, or None."""
    if not has_marker(text):
        return None
    header = _HEADER.search(text)
    row = None if header is None else _ROW.search(text, header.end())
    if header is None or row is None or text.count("\n", header.end(), row.start()) > 3:
        return None
    rows: list[re.Match[str]] = []
    while row is not None:
        rows.append(row)
        row = _ROW.match(text, row.end() + 1)  # rows are consecutive lines
    kept = rows[max(0, len(rows) - max_frames) :]  # the innermost calls, the last rows
    frames = tuple(
        named_frame(row["call"], row["file"], int(row["line"]), row[0].strip())
        for row in reversed(kept)
    )
    error = find_error(text[max(0, header.start() - _ABOVE) : header.start()])
    exc = ExceptionInfo(
        type=error.type if error else "<unknown>",
        message=error.message if error else "",
        frames=frames,
    )
    return Trace(language="php", exceptions=(exc,), dropped=len(rows) - len(kept))


READER = Reader(read=read, marker=has_marker)
