"""Why no trace was found: which language's frames a text resembles most, for ``explain``.

Each language has a plain pattern for one frame line as its runtime prints it. A text that no
parser read is searched with all of them; the language with the most frame-like lines came
closest, and what its parser missed is said (no exception line it accepts, or too few frames).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagebot.stack.detect import LANGUAGES

__all__ = ["Miss", "closest_miss", "no_trace_reason"]

#: Lines longer than this are not looked at (a frame line is short; this keeps it linear).
_LONGEST = 600
# One frame line per language, matched from the start of a line without its indentation
# (``\A``: tried at one position only, so a lazy file name costs one pass over the line).
_FRAME_LINES: dict[str, re.Pattern[str]] = {
    "dotnet": re.compile(r"\Aat [\w.`<>\[\],+|-]++\((?:[\w.`<>\[\],&*]++ \w++(?:, )?+)*+\)"),
    "java": re.compile(
        r"\Aat [\w$.<>/-]++\((?:[\w$-]++\.(?:java|kt|scala|groovy|clj):\d++"
        r"|Native Method|Unknown Source)\)"
    ),
    "python": re.compile(r"\AFile \"[^\"\n]++\", line \d++"),
    "javascript": re.compile(r"\A(?:at [^()\n]*+\(|[\w$.<>]*+@)?[^\s()]*?:\d++:\d++\)?$"),
    "go": re.compile(r"\A(?:/\S*?\.go:\d++|goroutine \d++ \[)"),
    "ruby": re.compile(r"\A(?:from )?[^\s:]*?\.rb:\d++:in "),
    "php": re.compile(r"\A#\d++ (?:[^\s(]*?\.php\(\d++\)|\{main\}|\[internal function\])"),
}


@dataclass(frozen=True, slots=True)
class Miss:
    """The language a text resembles most, how many frame-like lines it has, and why its
    parser found no trace."""

    language: str
    frame_lines: int
    why: str

    def __str__(self) -> str:
        return f"closest: {self.language} ({self.frame_lines} frame-like lines): {self.why}"


def closest_miss(text: str) -> Miss | None:
    """The language whose frame lines the text has most of (None: no frame-like line)."""
    counts = dict.fromkeys(_FRAME_LINES, 0)
    for line in text.split("\n"):
        if len(line) > _LONGEST:
            continue
        stripped = line.strip()
        for language, pattern in _FRAME_LINES.items():
            if pattern.match(stripped):
                counts[language] += 1
    language = max(counts, key=lambda name: counts[name])  # ties: the earlier, .NET first
    if not counts[language]:
        return None
    parser = next(lang for lang in LANGUAGES.values() if lang.name == language)
    trace = parser.parse(text)
    if trace is None or not trace.exceptions:
        why = "its parser found no exception line it accepts above these frames"
    else:
        name = trace.exceptions[0].type or "an exception"
        why = f"its parser read {name} but only {trace.frame_count} of these frames"
    return Miss(language, counts[language], why)


def no_trace_reason(text: str) -> str:
    """One line for ``explain``: the closest language and why it missed, or that no line
    looks like a frame at all."""
    miss = closest_miss(text)
    return str(miss) if miss is not None else "no line looks like a frame of any language"
