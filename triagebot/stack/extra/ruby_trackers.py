"""Ruby backtraces as error trackers export them into issue threads and mails.

Airbrake, Bugsnag, Errbit, Honeybadger and exception_notification each print a frame their own
way (``file:12:in method`` without quotes, ``file:12 - method``, ``12:  file -> **method**``,
``line 12 of file: method``, ``file:12:in`method'``) under a Markdown header that names the
type (``**Error type:** `X```, ``**X** in **context**``, ``# X: message #``, ``A X occurred
in ...:``). Frames are built as ``ruby.parse`` builds them (module and file are the path as
printed, the function is the label), so ``ruby.normalize_frame`` keys them alike.
"""

from __future__ import annotations

import html
import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, SPACES, FrameBudget, frames_while

__all__ = ["BREAKS", "READER", "has_marker", "read"]

#: A Ruby source file followed by how one of the exports goes on: cheap, literal-led, and
#: absent from almost every mail.
_QUICK = re.compile(r"\.(?:e?rb|rake)(?::\d| -> \*\*|: )")
_PATH = r"(?P<file>[^\s:`'*]++)"
#: Frame layouts, each read on whole lines; the label is cleaned up afterwards.
_FRAMES = (
    # Airbrake "file:155:in find", exception_notification "file:214:in`admin_warning'"; not
    # "file:1:in `m'", which ``ruby.parse`` reads (a trace it read keeps its signature)
    re.compile(
        LINE_START + r"[ \t]*+" + _PATH + r":(?P<line>\d++):in(?P<label>(?: [^\s`']|`)[^\n]*+)$"
    ),
    # Bugsnag "app/workers/get_more_email_worker.rb:7 - perform"
    re.compile(LINE_START + r"[ \t]*+" + _PATH + r":(?P<line>\d++) - (?P<label>[^\n]++)$"),
    # Errbit "569:  [GEM_ROOT]/gems/actionmailer-4.2.3/lib/action_mailer/base.rb -> **method**"
    re.compile(
        LINE_START + r"[ \t]*+(?P<line>\d++):[ \t]++" + _PATH + r" -> \*\*(?P<label>[^\n]++)$"
    ),
    # Honeybadger "line 109 of [PROJECT_ROOT]/app/views/report/bulk.html.erb: _app_views_..."
    re.compile(LINE_START + r"[ \t]*+line (?P<line>\d++) of " + _PATH + r": (?P<label>[^\n]++)$"),
)
#: Where an export whose line breaks were lost gets them back (``detect.find_trace``'s last
#: reading): before its headings, tracker links and rules, Bugsnag's exception line, and each
#: layout's frame, never between a Rails backtrace's gem and its path ("actionpack (3.2.19)
#: lib/action_view/template.rb:145:in"). A run of whitespace is tried from its start only, a
#: token read once.
BREAKS = re.compile(
    r"(?<!\d\))" + SPACES + r"(?=#{1,3} |\[View |\[See |~~~|```|---|\*\*[A-Z][\w:]*+\*\* in \*\*"
    r"|[^\s:`'*]++:\d++(?: - |:in)|\d++:[ \t]++[^\s:`'*]++ -> \*\*)"
)
#: Extensions of Ruby sources and templates; a file without one is a script (``bin/rails``).
_RUBY_FILE = re.compile(r"(?:\.(?:rb|erb|rake|haml|slim|builder|jbuilder|ru)|/[^./]++)$")
_TYPE = r"(?P<type>[A-Z]\w*+(?:::[A-Z]\w*+)*+)"
#: Headers, most explicit first: Airbrake's labelled fields, Bugsnag's ``**Type** in **where**``
#: (the message is the next line), Errbit's ``# Type: message #``, exception_notification's
#: ``A Type occurred in where:`` (the message is the next line; after other fields on its line
#: once the export lost its line breaks), a ``Type: message`` line.
_AIRBRAKE_TYPE = re.compile(LINE_START + r"\*\*Error type:\*\* `" + _TYPE + "`")
_AIRBRAKE_MESSAGE = re.compile(LINE_START + r"\*\*Error message:\*\* `++(?P<msg>[^\n`]*+)")
_BUGSNAG = re.compile(LINE_START + r"\*\*" + _TYPE + r"\*\* in \*\*")
_ERRBIT = re.compile(LINE_START + r"# " + _TYPE + r": (?P<msg>[^\n]*+)")
_NOTIFIER = re.compile(r"(?<!\S)An? " + _TYPE + r" occurred in ")
_PLAIN = re.compile(
    r"(?<![^\s\]])(?P<type>[A-Z]\w*+(?:::[A-Z]\w*+)++|[A-Z]\w*?(?:Error|Exception)): "
    r"(?P<msg>[^\n]*+)"
)
#: Characters above the first frame searched for the header.
_LOOKBACK_CHARS = 3000


def has_marker(text: str) -> bool:
    """Whether ``_QUICK``, the first search of ``read``, finds a candidate: without one ``read``
    finds no frame. It is led by a literal, so it costs about what literal tests of the Ruby
    extensions it holds would."""
    return _QUICK.search(text) is not None


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first exported Ruby backtrace in ``text``, or None."""
    start = _first_frame(text)
    if start is None:
        return None
    lines = text[start:].split("\n")
    budget = FrameBudget(max_frames)
    frames = frames_while(lines, _frame, budget)
    if not any(_RUBY_FILE.search(f.file or "") for f in frames):
        return None
    exc_type, message = _header(text[max(0, start - _LOOKBACK_CHARS) : start])
    exception = ExceptionInfo(type=exc_type, message=message, frames=tuple(frames))
    return Trace(language="ruby", exceptions=(exception,), dropped=budget.dropped)


def _first_frame(text: str) -> int | None:
    """Where the first frame line starts (a hit in prose is passed over)."""
    pos = 0
    while (quick := _QUICK.search(text, pos)) is not None:
        start = text.rfind("\n", 0, quick.start()) + 1
        end = text.find("\n", quick.end())
        if _frame(text[start : None if end < 0 else end]) is not None:
            return start
        if end < 0:
            return None
        pos = end + 1
    return None


def _frame(line: str) -> Frame | None:
    for layout in _FRAMES:
        match = layout.match(line)
        if match is not None:
            file = match["file"]
            label = _clean(match["label"]).strip("`'*").strip()
            if not _RUBY_FILE.search(file):
                return None
            return Frame(
                module=file, function=label, file=file, line=int(match["line"]), raw=line.strip()
            )
    return None


def _header(above: str) -> tuple[str, str]:
    """Type and message from the export's header above the frames."""
    typed = _AIRBRAKE_TYPE.search(above)
    if typed is not None:
        message = _AIRBRAKE_MESSAGE.search(above)
        return typed["type"], _clean(message["msg"] if message else "")
    for labelled, where_ends in ((_BUGSNAG, "**"), (_NOTIFIER, ": ")):
        found = labelled.search(above)
        if found is not None:
            return found["type"], _clean(_message_after(above, found.end(), where_ends))
    errbit = _ERRBIT.search(above)
    if errbit is not None:
        return errbit["type"], _clean(errbit["msg"].removesuffix("#"))
    plain = list(_PLAIN.finditer(above))
    if plain:  # the nearest one above the frames
        return plain[-1]["type"], _clean(plain[-1]["msg"])
    return "<unknown>", ""


def _message_after(text: str, pos: int, where_ends: str) -> str:
    """The message of a header whose context runs from ``pos`` to ``where_ends``: the rest of
    the header's line (an export whose line breaks were lost), else the next non-blank line."""
    lines = text[pos:].split("\n")
    _, found, rest = lines[0].partition(where_ends)
    if found and rest.strip():
        return rest
    return next((line for line in lines[1:] if line.strip()), "")


def _clean(text: str) -> str:
    """``text`` without HTML entities (``&#x60;``, exports escape quotes) or surrounding blanks."""
    return html.unescape(text).strip()


READER = Reader(read=read, marker=has_marker)
