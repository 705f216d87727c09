"""SimpleSAMLphp's logged backtraces, usually under a syslog prefix on every line.

    ... idp[39313]: 3 [6810ea4612] SimpleSAML\\Error\\Error: UNHANDLEDEXCEPTION
    ... idp[39313]: 3 [6810ea4612] Backtrace:
    ... idp[39313]: 3 [6810ea4612] 2 /www/_include.php:20 (SimpleSAML_exception_handler)
    ... idp[39313]: 3 [6810ea4612] 0 [builtin] (N/A)
    ... idp[39313]: 3 [6810ea4612] Caused by: Symfony\\...\\UndefinedFunctionError: ...
    ... idp[39313]: 3 [6810ea4612] Backtrace:
    ... idp[39313]: 3 [6810ea4612] 5 /lib/Controller/Config.php:114 (Config::main)

Each ``Backtrace:`` follows its exception's line, the wrapper first and each ``Caused by:``
after it (outermost first). A frame is ``depth file:line (function)``, innermost first, the
function being ``getTrace()``'s (``Class::method``), so it gets the PHP parser's key; the last,
``[builtin] (N/A)``, names none and ends the frames.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra._php import named_frame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

#: Literal mark of a backtrace, searched before any pattern runs.
_BACKTRACE = "Backtrace:"
# "SimpleSAML\Error\Error: UNHANDLEDEXCEPTION", "Caused by: Symfony\...\UndefinedFunctionError: m"
_EXCEPTION = re.compile(
    r"(?<![\w\\])(?P<type>[A-Za-z_][\w\\]*?(?:Exception|Error)): (?P<message>.*)"
)
# "2 /apps/simplesamlphp/www/_include.php:20 (SimpleSAML_exception_handler)"
_FRAME = re.compile(
    r"(?<!\S)\d++ (?P<file>\S+?):(?P<line>\d++) \((?P<function>[^()\s]++)\)[ \t]*+$"
)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal mark of a backtrace, the first test of ``read``."""
    return _BACKTRACE in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The SimpleSAMLphp exception chain of ``text`` with its backtraces, or None."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    budget = FrameBudget(max_frames)
    chain: list[ExceptionInfo] = []
    for index in range(1, len(lines)):
        if not lines[index].rstrip().endswith(_BACKTRACE):
            continue
        head = _EXCEPTION.search(lines[index - 1])
        if head is None:
            continue
        frames: list[Frame] = []
        following = index + 1
        while following < len(lines) and (match := _FRAME.search(lines[following])) is not None:
            if budget.room(frames):
                frames.append(
                    named_frame(match["function"], match["file"], int(match["line"]), match[0])
                )
            following += 1
        message = head["message"].strip()
        chain.append(ExceptionInfo(type=head["type"], message=message, frames=tuple(frames)))
    if not any(exc.frames for exc in chain):
        return None
    return Trace(language="php", exceptions=tuple(chain), dropped=budget.dropped)


READER = Reader(read=read, marker=has_marker)
