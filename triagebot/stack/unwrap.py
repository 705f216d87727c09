"""Text shapes that hide a trace from every parser, undone before a second look.

Logs and tools wrap a trace the parsers would read: a log layout's prefix on every line, frames
included (``2019/11/25 13:16:58 - Step name.0 - \tat org...``, syslog, container runtimes,
``[ERROR] ``), numbered lines as crash tools paste them (``1   at ...``), or the whole trace on
one line with literal ``\\n`` escapes (PHP's ``error_log``, JSON-encoded log fields), or a short
trace whose line breaks a mail client or a log shipper lost (``Error: x at f (a.js:1:2)``: the
parsers' own reading restores them only in long lines that hold several frames), prefixed
lines among them (``19 verbose stack at f (a.js:1:2) 19 verbose stack at ...``). ``unwrap``
returns the text as the parsers expect it, or the text itself when it has none of these shapes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable

from triagebot.stack.text import restore_breaks

__all__ = ["unwrap"]

#: Lines longer than this are looked at only this far for a frame marker (a prefix is short).
_HEAD = 240
#: Where a frame starts inside a prefixed line: Java/.NET/JS ``at``, Python ``File "``, PHP and
#: Ruby ``#N``, Ruby ``from`` or a path after a blank (``... ERROR: app/x.rb:7:in``), Java's
#: ``... N more``, Go's goroutine header and file line (an absolute path indented by a tab or
#: by spaces). The indentation before the marker stays with the frame; a run of blanks is
#: entered only at its first character, a path only at its start (linear on any line).
_MARKER = re.compile(
    r"(?<![ \t])[ \t]*+(?:at [\w$<\[]|File \"|#\d+ |from /|\.\.\. \d+ more"
    r"|goroutine \d+ \[|(?<=\t)/|(?<=  )/|(?<=[ \t])[^\s:]++(?<=\.rb):\d++:in )"
)
#: A literal line break as a log or JSON encoder writes it; several on one line are a trace
#: whose breaks were escaped. Not a Windows folder that starts with "n" ("C:\\Program Files
#: (x86)\\nodejs\\node_modules\\npm\\lib"): a name then a backslash.
_ESCAPED_BREAK = re.compile(r"\\r\\n|\\n(?![\w.-]++\\)")
_ESCAPES = {"\\t": "\t", '\\"': '"', "\\/": "/", "\\\\": "\\"}
_ESCAPE = re.compile(r"\\[t\"/\\]")
_DIGITS = re.compile(r"\d+")
#: A column separator a log viewer's table export leaves after every line ("... +0x95   - "),
#: from the first blank before it only.
_TAIL = re.compile(r"(?<![ \t])[ \t]++[-|][ \t]*+$")
#: Fields of a JSON log record that hold the logged line (Docker's json-file, Bunyan/pino,
#: Logstash, journald's export).
_JSON_FIELDS = ("log", "message", "msg", "MESSAGE", "@message")
_SPACE_RUN = re.compile(r"[ \t]+")
#: Frame lines that must share one prefix shape before it is stripped.
_MIN_PREFIXED = 2
#: A line this long that holds one frame marker lost its line breaks: an exception line and one
#: frame are about as long.
_LOST_BREAKS_LINE = 80
#: Frame markers of one long line that must share the words before them to make them a prefix
#: (``_split_joined``), how many words a prefix may have and how far before a marker they are
#: looked for.
_JOINED_MARKERS = 3
_JOINED_WORDS = 8
_JOINED_CHARS = 120


def unwrap(text: str, breaks: Iterable[re.Pattern[str]] = ()) -> str:
    """``text`` with escaped line breaks restored, a repeated line prefix removed (also from a
    prefixed log whose line breaks were lost) and lost line breaks put back before what
    ``breaks`` (the languages' frame and section starts) find."""
    text = _strip_prefix(_split_joined(_unescape(_json_lines(text))))
    for pattern in breaks:
        text = restore_breaks(text, pattern, _LOST_BREAKS_LINE, markers=1)
    return text


def _json_lines(text: str) -> str:
    """Lines that are JSON log records replaced by the line they logged (Docker writes each
    line of a trace as ``{"log":"\\tat ...\\n","stream":"stderr","time":"..."}``)."""
    if '{"' not in text:
        return text
    lines = text.split("\n")
    found = 0
    for index, line in enumerate(lines):
        logged = _logged(line.strip())
        if logged is not None:
            lines[index] = logged
            found += 1
    return "\n".join(lines) if found >= _MIN_PREFIXED else text


def _logged(line: str) -> str | None:
    """The logged line of one JSON log record, or None."""
    if not (line.startswith("{") and line.endswith("}")):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict):
        for name in _JSON_FIELDS:
            value = record.get(name)
            if isinstance(value, str):
                return value.rstrip("\r\n")
    return None


def _unescape(text: str) -> str:
    if "\\n" not in text:
        return text
    lines = text.split("\n")
    changed = False
    for index, line in enumerate(lines):
        if line.count("\\n") >= 2 and len(_ESCAPED_BREAK.findall(line)) >= 2:
            broken = _ESCAPED_BREAK.sub("\n", line)
            lines[index] = _ESCAPE.sub(lambda m: _ESCAPES[m[0]], broken)
            changed = True
    return "\n".join(lines) if changed else text


def _split_joined(text: str) -> str:
    """Lines of a prefixed log that lost its line breaks put back: the prefix that comes before
    every frame marker of a long line (``19 verbose stack at ...``, ``web_1  | goroutine 7 [``)
    is where a line started, so each of its occurrences becomes a line break."""
    lines = text.split("\n")
    changed = False
    for index, line in enumerate(lines):
        if len(line) > _LOST_BREAKS_LINE:
            prefix = _joined_prefix(line)
            if prefix is not None:
                lines[index] = prefix.sub("\n", line).lstrip("\n")
                changed = True
    return "\n".join(lines) if changed else text


def _joined_prefix(line: str) -> re.Pattern[str] | None:
    """The longest run of words, at most ``_JOINED_WORDS``, before every frame marker of
    ``line`` (at least ``_JOINED_MARKERS`` of them; numbers may vary), as a pattern, when it
    holds a name (not a location or a number alone: the end of the previous frame is no
    prefix) and is also found before other text (the exception line): None otherwise."""
    before: list[list[str]] = []
    end = 0
    for marker in _MARKER.finditer(line):
        before.append(line[max(end, marker.start() - _JOINED_CHARS) : marker.start()].split())
        end = marker.end()
    if len(before) < _JOINED_MARKERS:
        return None
    shapes = [[_DIGITS.sub("0", word) for word in words] for words in before]
    for count in range(min(_JOINED_WORDS, *map(len, shapes)), 1, -1):
        words = before[-1][-count:]
        if any(shape[-count:] != shapes[-1][-count:] for shape in shapes):
            continue
        if not any(map(_is_name, words)):
            return None
        prefix = re.compile(r"(?:^|(?<![ \t])[ \t]++)" + _shape(" ".join(words)) + r"[ \t]*+")
        return prefix if len(prefix.findall(line)) > len(before) else None
    return None


def _is_name(word: str) -> bool:
    """A word of letters, digits, ``_`` and ``-`` with a letter (``verbose``, ``web_1``), not a
    location (``(a.js:1:2)``, ``C:\\a.cs:line``) or a number."""
    return any(c.isalpha() for c in word) and all(c.isalnum() or c in "_-" for c in word)


def _shape(prefix: str) -> str:
    """A prefix as a pattern: numbers (dates, times, pids, line counters) and space runs vary,
    each read once (the pattern is also searched for, in ``_split_joined``)."""
    parts: list[str] = []
    pos = 0
    for match in _DIGITS.finditer(prefix):
        parts.append(_spaced(prefix[pos : match.start()]))
        parts.append(r"(?<!\d)\d++")
        pos = match.end()
    parts.append(_spaced(prefix[pos:]))
    return "".join(parts)


def _spaced(fixed: str) -> str:
    return r"[ \t]++".join(re.escape(piece) for piece in _SPACE_RUN.split(fixed))


def _strip_prefix(text: str) -> str:
    """Remove the prefix that most frame lines share, from every line that starts with it."""
    lines = text.split("\n")
    shapes: Counter[str] = Counter()
    for line in lines:
        match = _MARKER.search(line, 1, _HEAD)
        if match is None:
            continue
        prefix = line[: match.start()]
        if prefix.strip():
            shapes[_shape(prefix)] += 1
    if not shapes:
        return text
    shape, count = shapes.most_common(1)[0]
    if count < _MIN_PREFIXED:
        return text
    layout = re.compile(shape)
    stripped = {i: line[m.end() :] for i, line in enumerate(lines) if (m := layout.match(line))}
    # the blank that separates a prefix from the text ("web_1  | Traceback") goes with it
    indent = min((len(t) - len(t.lstrip(" \t")) for t in stripped.values() if t.strip()), default=0)
    tails = sum(_TAIL.search(rest) is not None for rest in stripped.values())
    cut = tails >= _MIN_PREFIXED and 2 * tails >= len(stripped)
    for index, rest in stripped.items():
        lines[index] = _TAIL.sub("", rest[indent:]) if cut else rest[indent:]
    return "\n".join(lines)
