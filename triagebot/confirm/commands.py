"""Reply commands: the first non-empty lines of a reply's new text, case-insensitive.

``confirm`` (with ``priority``, ``component``, ``assign``, ``label`` on the same line as
pairs or on the following lines), ``reject [reason]``, ``duplicate <KEY>``, ``ignore`` and
``help``. A short line that is none of these is ``unknown`` (answered with the list of
commands); longer prose is no command at all and becomes a comment on the candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Command", "Verb", "parse_command"]

_FIRST = re.compile(r"([^\W\d_]+)\b[ \t]*[.!:,;]*[ \t]*(.*)")
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")
_FIELD_LINE = re.compile(
    r"^\s*(priority|component|assign|assignee|label)\b\s*:?\s*(\S.*?)\s*$", re.IGNORECASE
)
_SAME_LINE_PAIR = re.compile(
    r"\b(priority|component|assign|assignee|label)\s*:?\s+(\S+)", re.IGNORECASE
)
#: A first line of at most this many words that is no command is taken as a mistyped one.
_UNKNOWN_MAX_WORDS = 3
_REASON_MAX = 500
_COMMENT_MAX = 4000


class Verb(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    DUPLICATE = "duplicate"
    IGNORE = "ignore"
    HELP = "help"
    UNKNOWN = "unknown"  # looked like a command, is none: answered with the list of commands
    COMMENT = "comment"  # prose without a command: recorded, not answered


_VERBS = {v.value: v for v in (Verb.CONFIRM, Verb.REJECT, Verb.DUPLICATE, Verb.IGNORE, Verb.HELP)}


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command; only the fields its verb uses are set."""

    verb: Verb
    priority: str | None = None
    components: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    assignee: str | None = None
    reason: str = ""  # reject: why; unknown: the line; comment: the text
    key: str | None = None  # duplicate: the tracker issue

    def args(self) -> dict[str, Any]:
        """The arguments that are set, JSON-ready (``explain --json``)."""
        out: dict[str, Any] = {}
        if self.priority:
            out["priority"] = self.priority
        if self.components:
            out["components"] = list(self.components)
        if self.labels:
            out["labels"] = list(self.labels)
        if self.assignee:
            out["assignee"] = self.assignee
        if self.reason:
            out["reason" if self.verb is Verb.REJECT else "text"] = self.reason
        if self.key:
            out["key"] = self.key
        return out

    def as_json(self) -> dict[str, Any]:
        return {"verb": str(self.verb), "args": self.args()}


def parse_command(new_text: str) -> Command | None:
    """The command of a reply's new text; None when the text is empty."""
    text = new_text.strip()
    if not text:
        return None
    line, _, following = text.partition("\n")
    line = line.strip()
    first = _FIRST.match(line)
    verb = _VERBS.get(first[1].lower()) if first else None
    rest = first[2].strip() if first else ""
    if verb is Verb.CONFIRM:
        return _confirm(rest, following)
    if verb is Verb.REJECT:
        return Command(Verb.REJECT, reason=rest[:_REASON_MAX])
    if verb is Verb.DUPLICATE:
        key = rest.split(maxsplit=1)[0].upper().rstrip(".,;") if rest else ""
        if _ISSUE_KEY.fullmatch(key):
            return Command(Verb.DUPLICATE, key=key)
        return Command(Verb.UNKNOWN, reason=line)
    if verb is not None:
        return Command(verb)
    if len(line.split()) <= _UNKNOWN_MAX_WORDS and not following.strip():
        return Command(Verb.UNKNOWN, reason=line)
    return Command(Verb.COMMENT, reason=text[:_COMMENT_MAX])


def _confirm(rest: str, following: str) -> Command:
    pairs = [(m[1].lower(), m[2]) for m in _SAME_LINE_PAIR.finditer(rest)]
    for line in following.splitlines():
        if not line.strip():
            continue
        match = _FIELD_LINE.match(line)
        if match is None:
            break
        pairs.append((match[1].lower(), match[2]))
    priority, assignee = None, None
    components: list[str] = []
    labels: list[str] = []
    for name, value in pairs:
        if name == "priority":
            priority = value.capitalize()
        elif name in ("assign", "assignee"):
            assignee = value
        elif name == "component":
            components.append(value)
        elif "".join(value.split()) == value:  # labels cannot hold spaces
            labels.append(value)
    return Command(
        Verb.CONFIRM,
        priority=priority,
        components=tuple(dict.fromkeys(components)),
        labels=tuple(dict.fromkeys(labels)),
        assignee=assignee,
    )
