"""Reply commands: the first non-empty, unquoted line of a reply's new text, case-insensitive,
or the words after a subject's ``[triage C-42]``.

``COMMANDS`` is the registry: each verb's usage, what it means (the help lists in mails are
made from it) and its parser. ``confirm`` (with ``priority``, ``component``, ``assign``,
``label`` on the same line as pairs or on the following lines), ``reject [reason]``,
``duplicate <KEY>`` (a key of the configured tracker, which says what its keys look like, or
another candidate's ``C-41``), ``ignore``, ``undo`` (the sender's last command on the
candidate, within ``[helpdesk] undo_window_minutes``) and ``help``. A short line that is none of
these is ``unknown``; longer prose is no command at all (``comment``). Both are kept as a comment
on the candidate and answered with the list of commands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from triagebot.identity import CANDIDATE_REF, SUBJECT_REF, reference

__all__ = [
    "COMMANDS",
    "EXAMPLE",
    "HELP",
    "Command",
    "KeyParser",
    "Verb",
    "any_key",
    "parse_command",
    "read_command",
]

#: A tracker's issue key in what someone wrote, or None (``TrackerKind.key``).
KeyParser = Callable[[str], str | None]

_FIRST = re.compile(r"([^\W\d_]+)\b[ \t]*[.!:,;]*[ \t]*(.*)")
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9#][A-Za-z0-9#_.-]*[0-9]")  # "^": used with fullmatch
# "Priority: High", "component   Billing UI  ". Each run of whitespace is read once: the value is
# what runs to the line's last non-blank ("\S.*?\s*$" read the rest of a run from each blank).
_FIELD_LINE = re.compile(
    r"^\s*+(priority|component|assign|assignee|label)\b\s*+(?::\s*+)?(\S(?:\s*+\S)*+)\s*$",
    re.IGNORECASE,
)
# "priority high", "label: urgent"; "\s*:?\s+" split a long run of blanks every way.
_SAME_LINE_PAIR = re.compile(
    r"\b(priority|component|assign|assignee|label)(?:\s*+:\s++|\s++)(\S+)", re.IGNORECASE
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
    UNDO = "undo"
    HELP = "help"
    UNKNOWN = "unknown"  # looked like a command, is none: kept as a comment, answered
    COMMENT = "comment"  # prose without a command: kept as a comment, answered


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
    duplicate_of: int | None = None  # duplicate: another candidate (``C-41``)

    @property
    def acts(self) -> bool:
        """Whether it is a command at all (not prose, not a line triagebot does not know)."""
        return self.verb not in (Verb.UNKNOWN, Verb.COMMENT)

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
        if self.duplicate_of is not None:
            out["candidate"] = reference(self.duplicate_of)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"verb": str(self.verb), "args": self.args()}


def any_key(text: str) -> str | None:
    """A key of no tracker in particular: one token with a digit, never a candidate's ``C-41``
    (for ``explain`` without a tracker, and tests)."""
    text = text.strip()
    if CANDIDATE_REF.fullmatch(text) or not _KEY_SHAPE.fullmatch(text):
        return None
    return text


def _unquoted(text: str) -> str:
    """``text`` from its first line that is neither blank nor a ``>`` quote (a quote above the
    reply that came without an attribution line)."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if line.strip()[:1] not in ("", ">")), None)
    return "" if start is None else "\n".join(lines[start:]).strip()


def parse_command(new_text: str, issue_key: KeyParser = any_key) -> Command | None:
    """The command of a reply's new text; None when the text is empty (or only quotes)."""
    text = _unquoted(new_text)
    if not text:
        return None
    line, _, following = text.partition("\n")
    line = line.strip()
    first = _FIRST.match(line)
    spec = COMMANDS.get(first[1].lower()) if first else None
    if first is not None and spec is not None:
        return spec.parse(_Words(line, first[2].strip(), following, issue_key))
    if len(line.split()) <= _UNKNOWN_MAX_WORDS and not following.strip():
        return Command(Verb.UNKNOWN, reason=line)
    return Command(Verb.COMMENT, reason=text[:_COMMENT_MAX])


def read_command(new_text: str, subject: str, issue_key: KeyParser = any_key) -> Command | None:
    """A reply's command: the new text's, else one written after the subject's reference
    (``RE: [triage C-42] confirm``); prose or an unknown line is kept when neither acts.

    The words after the reference are read only when they are a command: the candidate
    mail's own subject there (a title) never is one.
    """
    command = parse_command(new_text, issue_key)
    if command is not None and command.acts:
        return command
    tag = SUBJECT_REF.search(subject)
    in_subject = parse_command(subject[tag.end() :], issue_key) if tag else None
    if in_subject is not None and in_subject.acts:
        return in_subject
    return command


@dataclass(frozen=True, slots=True)
class _Words:
    """What a command's parser reads: its line, the rest of it, the lines after it."""

    line: str
    rest: str
    following: str
    issue_key: KeyParser


def _duplicate(words: _Words) -> Command:
    token = words.rest.split(maxsplit=1)[0].rstrip(".,;") if words.rest else ""
    candidate = CANDIDATE_REF.fullmatch(token)
    if candidate is not None:
        return Command(Verb.DUPLICATE, duplicate_of=int(candidate[1]))
    key = words.issue_key(token) if token else None
    if key is None:
        return Command(Verb.UNKNOWN, reason=words.line)
    return Command(Verb.DUPLICATE, key=key)


def _confirm(words: _Words) -> Command:
    pairs = [(m[1].lower(), m[2]) for m in _SAME_LINE_PAIR.finditer(words.rest)]
    for line in words.following.splitlines():
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


@dataclass(frozen=True, slots=True)
class Spec:
    """One reply command: how it is written, what it does, how its line is read."""

    verb: Verb
    usage: str
    meaning: str
    parse: Callable[[_Words], Command]


#: The registry, in the order help lists show it.
COMMANDS: dict[str, Spec] = {
    spec.verb.value: spec
    for spec in (
        Spec(
            Verb.CONFIRM,
            "confirm",
            "file it (add priority <p>, component <c>, assign <user>, label <l>)",
            _confirm,
        ),
        Spec(
            Verb.REJECT,
            "reject [reason]",
            "not a defect: later occurrences are recorded, not proposed again",
            lambda w: Command(Verb.REJECT, reason=w.rest[:_REASON_MAX]),
        ),
        Spec(
            Verb.DUPLICATE,
            "duplicate <KEY>",
            "it is the existing issue KEY (or candidate C-41): occurrences update that one",
            _duplicate,
        ),
        Spec(
            Verb.IGNORE, "ignore", "like reject, without a reason", lambda _: Command(Verb.IGNORE)
        ),
        Spec(
            Verb.UNDO,
            "undo",
            "reverse your own last command on it, for a while (a filed issue is closed)",
            lambda _: Command(Verb.UNDO),
        ),
        Spec(Verb.HELP, "help", "this list", lambda _: Command(Verb.HELP)),
    )
}
#: ``(usage, meaning)`` pairs for the mails' command lists.
HELP: tuple[tuple[str, str], ...] = tuple((s.usage, s.meaning) for s in COMMANDS.values())
#: A complete command, as the answers show one.
EXAMPLE = "confirm priority high"
