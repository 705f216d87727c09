"""Text shapes that hide a trace from every parser, undone before a second look.

Logs and tools wrap a trace the parsers would read: a log layout's prefix on every line, frames
included (``2019/11/25 13:16:58 - Step name.0 - \tat org...``, syslog, container runtimes,
``[ERROR] ``), numbered lines as crash tools paste them (``1   at ...``), or the whole trace on
one line with literal ``\\n`` escapes (PHP's ``error_log``, JSON-encoded log fields). ``unwrap``
returns the text as the parsers expect it, or the text itself when it has none of these shapes.
"""

from __future__ import annotations

import re
from collections import Counter

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
_SPACE_RUN = re.compile(r"[ \t]+")
#: Frame lines that must share one prefix shape before it is stripped.
_MIN_PREFIXED = 2


def unwrap(text: str) -> str:
    """``text`` with escaped line breaks restored and a repeated line prefix removed."""
    return _strip_prefix(_unescape(text))


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


def _shape(prefix: str) -> str:
    """A prefix as a pattern: numbers (dates, times, pids, line counters) and space runs vary."""
    parts: list[str] = []
    pos = 0
    for match in _DIGITS.finditer(prefix):
        parts.append(_spaced(prefix[pos : match.start()]))
        parts.append(r"\d+")
        pos = match.end()
    parts.append(_spaced(prefix[pos:]))
    return "".join(parts)


def _spaced(fixed: str) -> str:
    return r"[ \t]+".join(re.escape(piece) for piece in _SPACE_RUN.split(fixed))


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
    for index, rest in stripped.items():
        lines[index] = rest[indent:]
    return "\n".join(lines)
