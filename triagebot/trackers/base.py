"""The Tracker protocol and the data that crosses it.

The outbox worker is the only caller. Every method must be safe to repeat: ``create`` is always
preceded by ``find`` on the signature label, so a create whose response was lost is found, not
filed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


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


class Tracker(Protocol):
    """An issue tracker triagebot files into."""

    name: str

    def find(self, signature: str) -> TrackerIssue | None:
        """The defect carrying this signature's label, if any (open or closed)."""

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """File a new defect labelled with the signature."""

    def get(self, key: str) -> TrackerIssue:
        """Current state of a defect."""

    def update_occurrences(self, key: str, update: OccurrenceUpdate) -> None:
        """Record counts and last-seen (at most one edit, at most one comment)."""

    def reopen(self, key: str, comment: str) -> TrackerIssue:
        """Reopen a resolved defect that recurred (regression), with a comment."""

    def link_signature(self, key: str, signature: str) -> None:
        """Add another signature label to an existing defect (duplicates, algorithm upgrades)."""

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """Current state of many defects in a few calls (keys it does not know are left out).

        The status sync asks this periodically so the store learns which issues were resolved,
        which is what turns a recurrence in a newer version into a reopen.
        """
