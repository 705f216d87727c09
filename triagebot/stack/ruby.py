"""Ruby backtraces: uncaught-exception output (first frame carries ``: message (Type)``, then
``from`` lines, causes printed after), and Rails log blocks (``Type (message):`` then frames).

A frame's module is its file as printed; the function is the label (``save``, ``User#save``
from Ruby 3.4, ``block (2 levels) in <top (required)>``). Keys drop the install prefix (last
two path components stay, or the path below ``gems/`` without the gem version) and fold block
depths and the ids Rails appends to compiled template methods.
"""

from __future__ import annotations

import re

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.python import source_key
from triagebot.stack.text import LINE_START, MAX_FRAMES, SPACES, FrameBudget, restore_breaks

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

_QUICK = re.compile(r":\d+:in [`']")
# "/srv/app/models/user.rb:12:in `save': msg (NoMethodError)", "\tfrom x.rb:5:in 'User#save'",
# "[req-1a2b] app/controllers/x_controller.rb:10:in `show'" (tagged Rails log),
# "activerecord (7.0.4) lib/active_record/core.rb:284:in `find'" (Rails backtrace cleaner)
# Whole lines only (LINE_START), and log tags are taken whole (possessive): the file may hold
# blanks and brackets too, and trying every split of "[a] [a] [a] ..." between tags and file
# took minutes for a few thousand characters.
_FRAME = re.compile(
    LINE_START + r"[ \t]*+(?:\[[^\]\n]*\] )*+(?:from )?(?P<file>(?:[A-Za-z]:)?[^:\n]+?)"
    r":(?P<line>\d+):in [`'](?P<label>[^'\n]*)'(?P<rest>.*)$"
)
_FIRST = re.compile(_FRAME.pattern, re.M)
# ": undefined method `x' for nil:NilClass (NoMethodError)"; collapsed, the highlighted code
# follows on the same line: ": undefined method 'upcase' for nil (NoMethodError) "#{a.upcase}" ^^^"
_TOP_REST = re.compile(r"^: (?P<msg>.*) \((?P<type>[A-Z]\w*(?:::[A-Z]\w*)*)\)(?:[ \t][^\n]*)?$")
_TYPE = r"[A-Z]\w*(?:::[A-Z]\w*)*"
# Headers may follow a log prefix, tags ("[4c2f8a1e-...] ") or, collapsed, other log text.
_AFTER_PREFIX = r"(?:^|(?<=[\s\]]))"
# Rails: "NoMethodError (undefined method `name' for nil:NilClass):"; collapsed, ActionView's
# template excerpt follows on the same line ("...): 12: <nav> 13: <%= link_to ... %>").
# Where it starts is searched for, the message matched once on the rest of the line: one regex
# read the rest of the line from every "Type (" in it, and only the first can match if any can.
_RAILS_START = re.compile(_AFTER_PREFIX + r"(?P<type>" + _TYPE + r") \(")
_RAILS_MESSAGE = re.compile(r"^(?P<msg>.*)\):(?:[ \t][^\n]*)?$")
# Loggers: "ActiveRecord::RecordNotFound: Couldn't find User", "ArgumentError: bad value",
# "2026-11-27T04:00:13.552Z pid=7 tid=2mkv WARN: ActiveRecord::RecordInvalid: Validation failed"
_PLAIN_HEADER = re.compile(
    _AFTER_PREFIX + r"(?P<type>[A-Z]\w*(?:::[A-Z]\w*)+|[A-Z]\w*(?:Error|Exception)): (?P<msg>.*)$"
)
#: Lines above the first frame searched for a Rails/logger header (ActionView prints up to seven
#: lines of template source between them), and lines tolerated between a top frame and its
#: "from" lines (Ruby 3.1+ highlights the failing code there).
_LOOKBACK = 10
#: Characters above the trace split into lines for that search (keeps it O(1)).
_LOOKBACK_CHARS = 2000
# Before "from x.rb:1:in", "actionpack (7.0.8) lib/x.rb:1:in" and "[req-1a2b] x.rb:1:in" (gem
# and log tags stay with their path). A run of whitespace is tried from its start only.
_BREAKS = re.compile(
    r"(?<!from)(?<!\d\))(?<!\])" + SPACES + r"(?=(?:\[[^\]\s]*\] )*+(?:from )?"
    r"(?:[\w.-]+ \([^()\s]+\) )?[^\s:]+:\d+:in [`'])"
)

# Normalisation ("^": these are used with match, and a search stays linear)
_ROOTS = re.compile(r"^.*(?:/gems/|/lib/ruby/(?:site_ruby/|vendor_ruby/)?\d[\d.]*/)")
_GEM_PREFIX = re.compile(r"^(?P<gem>\S+) \([^)]*\) ")
# The first component must end in "/" (checked once: "a-1-1-1..." without one tried every "-").
_GEM_VERSION = re.compile(r"^(?=[^/]*/)(?P<name>[^/]+?)-(?:\d[^/]*+|[0-9a-f]{7,})(?=/)")
_BLOCK_DEPTH = re.compile(r"^block \(\d+ levels\) in ")
# "_app_views_users_index_html_erb__1144830177236420110_28320"; a negative hash prints "___".
_TEMPLATE_ID = re.compile(r"__[_-]?\d+_\d+$")


def _frame(match: re.Match[str], raw: str) -> Frame:
    file = match["file"]
    return Frame(
        module=file, function=match["label"], file=file, line=int(match["line"]), raw=raw.strip()
    )


def _header_above(before: list[str]) -> tuple[str, str]:
    for line in reversed(before[-_LOOKBACK:]):
        start = _RAILS_START.search(line)
        rails = None if start is None else _RAILS_MESSAGE.match(line[start.end() :])
        if start is not None and rails is not None:
            return start["type"], rails["msg"].strip()
        match = _PLAIN_HEADER.search(line)
        if match is not None:
            return match["type"], match["msg"].strip()
    return "<unknown>", ""


def _section(
    lines: list[str], i: int, first: re.Match[str], head: tuple[str, str], budget: FrameBudget
) -> tuple[ExceptionInfo, int]:
    """Frames from line ``i`` (``first`` is its match) until a non-frame line or a cause."""
    frames = [_frame(first, lines[i])]
    top = _TOP_REST.match(first["rest"])
    if top is not None:
        head = (top["type"], top["msg"].strip())
    i += 1
    skipped = 0
    followed = False  # a "from" line was read
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None:
            # message continuation and highlighted code between a top frame and its "from" lines
            if top is None or followed or skipped >= _LOOKBACK or not _frame_follows(lines, i):
                break
            skipped += 1
            i += 1
            continue
        if _TOP_REST.match(match["rest"]):
            break
        followed = True
        if budget.room(frames):
            frames.append(_frame(match, lines[i]))
        i += 1
    return ExceptionInfo(type=head[0], message=head[1], frames=tuple(frames)), i


def _frame_follows(lines: list[str], i: int) -> bool:
    """Whether a frame line comes within the tolerated gap after line ``i``."""
    return any(_FRAME.match(line) for line in lines[i + 1 : i + _LOOKBACK])


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first Ruby backtrace (with printed causes) in ``text``, or None; each exception keeps
    at most ``max_frames`` frames."""
    if _QUICK.search(text) is None:
        return None
    text = restore_breaks(text.replace("\r\n", "\n"), _BREAKS)
    quick = _QUICK.search(text)
    # _FIRST is slow over long text: start at the line of the first candidate.
    first = None if quick is None else _FIRST.search(text, text.rfind("\n", 0, quick.start()) + 1)
    if first is None:
        return None
    lines = text[first.start() :].splitlines()
    head = _header_above(text[max(0, first.start() - _LOOKBACK_CHARS) : first.start()].splitlines())
    budget = FrameBudget(max_frames)
    exc, i = _section(lines, 0, first, head, budget)
    exceptions = [exc]
    # Ruby 3.1+ prints each cause as another "file:line:in 'm': msg (Type)" block.
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None or not _TOP_REST.match(match["rest"]):
            break
        exc, i = _section(lines, i, match, ("<unknown>", ""), budget)
        exceptions.append(exc)
    return Trace(language="ruby", exceptions=tuple(exceptions), dropped=budget.dropped)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``:in `` every ``_QUICK`` match holds: ``parse`` reads nothing
    without one."""
    return ":in " in text


def _path(file: str) -> str:
    gem = _GEM_PREFIX.match(file)
    if gem is not None:
        return f"{gem['gem']}/{file[gem.end() :].removesuffix('.rb')}"
    if file.startswith(("<", "(")):
        return file
    path = source_key(file, _ROOTS)
    return _GEM_VERSION.sub(r"\g<name>", path) if _ROOTS.match(file) else path


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """``path:label`` without install prefix, gem version, line, block depth or template id."""
    label = _TEMPLATE_ID.sub("", _BLOCK_DEPTH.sub("block in ", frame.function))
    hint = "line and install path dropped"
    if label != frame.function:
        hint += "; block depth / template id folded"
    path = _path(frame.file or frame.module)
    return NormalizedFrame(key=f"{path}:{label}", hint=hint, source=path)


# The end of a top frame's line: "...:85:in `require': cannot load such file -- webrick
# (LoadError)" where the frame's file is one the frame pattern does not read (Ruby 3.1+ names
# built-in code "<internal:/usr/lib/ruby/3.1.0/rubygems/core_ext/kernel_require.rb>").
_TYPE_AT_END = re.compile(r" \((?P<type>" + _TYPE + r")\)`?$", re.M)
# CocoaPods: "RuntimeError - [Xcodeproj] Unknown object version."
_DASHED = re.compile(
    r"(?:^|(?<=\s))(?P<type>(?:[A-Z]\w*+::)*+[A-Z]\w*+(?:(?<=Error)|(?<=Exception))) - "
    r"(?P<msg>[^\n]*+)$",
    re.M,
)


def names(text: str) -> ExceptionInfo | None:
    """The exception a top frame's line or CocoaPods' report names (``Trace.named``)."""
    for found in _TYPE_AT_END.finditer(text):
        line = text[text.rfind("\n", 0, found.start()) + 1 : found.start()]
        where = max(line.find(":in `"), line.find(":in '"))
        said = line.find("': ", where)
        if where >= 0 and said >= 0:
            return ExceptionInfo(type=found["type"], message=line[said + 3 :])
    dashed = _DASHED.search(text)
    return ExceptionInfo(type=dashed["type"], message=dashed["msg"]) if dashed else None


LANGUAGE = Language(
    name="ruby",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAKS,),
    names=names,
)
