"""Template errors as Rails 2 logs them: ``ActionView::TemplateError (message) on line #42 of
app/views/x/_index.html.erb:``, the template's source, then the backtrace, whose template frames
are ``path:line`` without a method (the framework's frames that may follow carry
``:in `method'``).

Frames are built as ``ruby.parse`` builds them (module and file are the path, the function the
label, empty for a template line), so ``ruby.normalize_frame`` keys them alike.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget, frames_while

__all__ = ["READER", "has_marker", "read"]

_MARK = ") on line #"
# "ActionView::TemplateError (undefined method `html_safe' for #<String:0x6229344>) on line #42
# of vendor/plugins/x/app/views/y/_index.html.erb:"
_HEADER = re.compile(
    LINE_START + r"(?P<type>[A-Z]\w*+(?:::[A-Z]\w*+)*+) \((?P<msg>[^\n]*?)\) on line #\d++ of ",
    re.M,
)
# "    vendor/plugins/x/app/views/y/_index.html.erb:42", "    app/models/user.rb:12:in `name'"
_FRAME = re.compile(r"^[ \t]++(?P<file>[^\s:]++):(?P<line>\d++)(?::in [`'](?P<label>[^'\n]*+)')?$")
#: Lines of template source (``39: ...``) and blanks passed over before the first frame.
_LOOKAHEAD = 40


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal middle of ``_HEADER``, the first test of ``read``."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Rails 2 template error with its backtrace in ``text``, or None."""
    if not has_marker(text):
        return None
    header = _HEADER.search(text)
    if header is None:
        return None
    lines = text[header.end() :].split("\n")[1:]
    first = next((i for i, line in enumerate(lines[:_LOOKAHEAD]) if _FRAME.match(line)), None)
    if first is None:
        return None
    budget = FrameBudget(max_frames)
    frames = frames_while(lines[first:], _frame, budget)
    exception = ExceptionInfo(type=header["type"], message=header["msg"], frames=tuple(frames))
    return Trace(language="ruby", exceptions=(exception,), dropped=budget.dropped)


def _frame(line: str) -> Frame | None:
    """A ``path:line`` frame line (its label, when there is one, names the function)."""
    match = _FRAME.match(line)
    if match is None:
        return None
    file = match["file"]
    return Frame(
        module=file,
        function=match["label"] or "",
        file=file,
        line=int(match["line"]),
        raw=line.strip(),
    )


READER = Reader(read=read, marker=has_marker)
