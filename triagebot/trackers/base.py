"""The Tracker protocol, the data that crosses it, and what a tracker kind registers.

The outbox worker is the only caller. Every method must be safe to repeat: ``create`` is always
preceded by ``find_all`` on the signature label, so a create whose response was lost is found,
not filed twice; after an uncertain create the outbox only searches until ``settle_time`` has
passed, and when a search finds several issues it keeps the oldest and closes the others with
``close_duplicate``; ``close`` ends an issue whose confirmation was undone. Comments carry a
``CommentMark`` (the effect's id, hidden), and a retry looks for it before posting, so a comment
whose response was lost is not posted twice.

A tracker kind is one module under ``triagebot/trackers/`` that exposes ``KIND``, a
``TrackerKind``: its settings class (read from ``[tracker.<kind>]`` by the config's reader, so
its ``problems()`` are the static checks), the factory, the shape of its issue keys (what
``duplicate KEY`` accepts), the web page of an issue, and a one-line description for
``check-config``. The registry in ``triagebot.trackers`` lists the modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from triagebot.clock import Clock
from triagebot.config import read_section
from triagebot.identity import CANDIDATE_REF

if TYPE_CHECKING:
    from triagebot.store import Store

#: Every signature becomes a label (tag) ``errsig-<signature>`` on its issue: how ``find`` works.
SIGNATURE_LABEL_PREFIX = "errsig-"


def signature_label(signature: str, prefix: str = SIGNATURE_LABEL_PREFIX) -> str:
    """The label that marks an issue as the defect of ``signature``."""
    return prefix + signature


@dataclass(frozen=True, slots=True)
class DefectDraft:
    """Everything needed to file a new defect; the adapter renders it (Jira markup, escaping)."""

    signature: str
    title: str
    language: str
    exception_chain: tuple[str, ...]  # exception types, outermost first
    message: str
    top_frames: tuple[str, ...]  # normalised in-app frames, most recent first
    trace_text: str  # the full trace as received
    metadata: dict[str, str] = field(default_factory=dict)  # application, version, environment...
    first_seen: datetime | None = None
    occurrences: int = 1
    rule: str | None = None
    project: str | None = None
    issue_type: str | None = None
    priority: str | None = None
    components: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    assignee: str | None = None
    confirmed_by: str | None = None  # "confirmed by alice@example.com by e-mail"


@dataclass(frozen=True, slots=True)
class TrackerIssue:
    """A defect as the tracker holds it."""

    key: str
    status: str
    resolved: bool
    url: str = ""


@dataclass(frozen=True, slots=True)
class OccurrenceUpdate:
    """A batch of occurrences for one defect, applied as one edit (never one call per mail)."""

    total: int  # occurrences ever seen
    new: int  # occurrences since the last update
    last_seen: datetime
    versions: tuple[str, ...] = ()  # versions seen in this batch
    environments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommentMark:
    """The effect a comment comes from, hidden in the comment (a comment property, an HTML
    comment, a row) so that a retry can tell whether an earlier attempt posted it."""

    effect: int
    retry: bool = False  # an earlier attempt failed: look for the mark before posting


def duplicate_comment(original: str) -> str:
    """What a duplicate closed in favour of ``original`` (as the tracker writes a reference)
    says."""
    return (
        f"Duplicate of {original}: this error signature was filed twice; its occurrences are "
        "counted there."
    )


def undo_comment(by: str) -> str:
    """What an issue closed because its confirmation was undone (by ``by``) says."""
    return (
        f"Withdrawn: the confirmation was undone by {by}; the error is a candidate again in "
        "triagebot. A new confirmation reopens this issue."
    )


def occurrence_comment(update: OccurrenceUpdate, escape: Callable[[str], str] = str) -> str:
    """The one comment an update posts, in plain words (``escape`` guards the report values,
    versions and environments, against the tracker's markup)."""
    plural = "s" if update.new != 1 else ""
    seen = update.last_seen.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    parts = [f"{update.new} new occurrence{plural} (total {update.total}), last seen {seen}"]
    if update.versions:
        parts.append("versions " + ", ".join(map(escape, update.versions)))
    if update.environments:
        parts.append("environments " + ", ".join(map(escape, update.environments)))
    return "; ".join(parts) + "."


class Tracker(Protocol):
    """An issue tracker triagebot files into."""

    name: str
    #: How long a create whose answer was lost may still land and stay out of searches (the
    #: call's deadline); until then the outbox searches but never creates again.
    settle_time: timedelta

    def find(self, signature: str) -> TrackerIssue | None:
        """The oldest defect carrying this signature's label, if any (open or closed)."""

    def find_all(self, signature: str) -> list[TrackerIssue]:
        """The defects carrying this signature's label (a few at most), oldest first."""

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """File a new defect labelled with the signature."""

    def get(self, key: str) -> TrackerIssue:
        """Current state of a defect."""

    def update_occurrences(
        self, key: str, update: OccurrenceUpdate, mark: CommentMark | None = None
    ) -> bool:
        """Record counts and last-seen (at most one edit, at most one comment); False when
        the comment was not posted because an earlier attempt's (``mark``) is there."""

    def reopen(self, key: str, comment: str, mark: CommentMark | None = None) -> TrackerIssue:
        """Reopen a resolved defect that recurred (regression), with a comment (once per
        ``mark``)."""

    def close_duplicate(self, key: str, original: str) -> None:
        """Link ``key`` to ``original`` as its duplicate and close it with a comment
        (``duplicate_comment``); safe to repeat."""

    def close(self, key: str, comment: str) -> TrackerIssue:
        """Close a defect whose confirmation was undone, with ``comment``, the way the
        adapter's undo setting says; an issue resolved already is left as it is (safe to
        repeat: no second comment)."""

    def link_signature(self, key: str, signature: str) -> None:
        """Add another signature label to an existing defect (duplicates, algorithm upgrades)."""

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """Current state of many defects in a few calls (keys it does not know are left out).

        The status sync asks this periodically so the store learns which issues were resolved,
        which is what turns a recurrence in a newer version into a reopen.
        """


@dataclass(frozen=True, slots=True)
class TrackerContext:
    """What an adapter may use besides its own settings: the store's database (the local
    tracker keeps its issues there), the clock, and the folder of user templates."""

    store: Store
    clock: Clock
    template_dir: Path | None = None


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class TrackerKind(Generic[S]):
    """One tracker kind, as its module registers it (see the module docstring)."""

    name: str
    settings: type[S]
    build: Callable[[S, TrackerContext], Tracker]
    #: An issue key as people write it in a reply (``OPS-123``, ``#123``), whole.
    key_pattern: str
    #: The web page of an issue, or "" when the tracker has none.
    url: Callable[[S, str], str]
    #: One line for ``check-config``: what it files into.
    describe: Callable[[S], str]
    #: How a matching key is written in the tracker (Jira: upper case).
    normalize: Callable[[str], str] = str.strip

    def key(self, text: str) -> str | None:
        """``text`` as an issue key of this kind, or None (a candidate's ``C-41`` never is)."""
        text = text.strip()
        if CANDIDATE_REF.fullmatch(text) or not re.fullmatch(self.key_pattern, text):
            return None
        return self.normalize(text)

    def parse(self, table: Any, where: str, base: Path) -> S:
        """``[tracker.<name>]`` as this kind's settings (``ConfigError`` naming the key)."""
        settings: S = read_section(self.settings, table, where, base)
        return settings
