"""The local tracker: defects kept in triagebot's own database (the embedded default).

It behaves like a small Jira so the outbox worker needs no special case: stable keys
(``LOCAL-<n>``), labels (the signature label ``errsig-<signature>`` is how ``find`` works),
a status that can be resolved and reopened, and a comment count. ``triagebot defects`` lists
the store's defects; this table is what a tracker would show. Its writes are transactions, so
nothing is ever uncertain, but a worker killed between a comment and the effect's completion
repeats the effect: each comment's mark is kept (``local_comments``) and counted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot.errors import TrackerError
from triagebot.store import Store, UTCDateTime, chunks
from triagebot.trackers.base import (
    CommentMark,
    DefectDraft,
    OccurrenceUpdate,
    TrackerIssue,
    TrackerKind,
    signature_label,
)

__all__ = ["KEY_PREFIX", "KIND", "LocalSettings", "LocalTracker"]

log = structlog.get_logger(__name__)

KEY_PREFIX = "LOCAL-"
OPEN, RESOLVED, REOPENED, DUPLICATE = "Open", "Resolved", "Reopened", "Duplicate"
WITHDRAWN = "Withdrawn"  # closed because its confirmation was undone
#: The label a duplicate gets: ``duplicate-of-LOCAL-1``.
DUPLICATE_OF = "duplicate-of-"

_metadata = sa.MetaData()

local_issues = sa.Table(
    "local_issues",
    _metadata,
    # ``sqlite_autoincrement``: a number is never handed out twice, so keys stay stable.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("project", sa.String(64)),
    sa.Column("issue_type", sa.String(64)),
    sa.Column("priority", sa.String(64)),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("assignee", sa.String(200)),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("last_seen", UTCDateTime),
    sa.Column("comments", sa.Integer, nullable=False, default=0),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("updated", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

local_labels = sa.Table(
    "local_labels",
    _metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("local_issues.id"), primary_key=True),
    sa.Column("label", sa.String(255), primary_key=True),
    sa.Index("ix_local_labels_label", "label"),
)

#: The effect each comment came from: a repeated effect comments once.
local_comments = sa.Table(
    "local_comments",
    _metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("local_issues.id"), primary_key=True),
    sa.Column("effect", sa.Integer, primary_key=True),
)


# Statements of the hot paths (find + create per new defect), built once.
_FIND = (
    sa.select(local_issues.c.id, local_issues.c.status, local_issues.c.resolved)
    .join(local_labels, local_labels.c.issue_id == local_issues.c.id)
    .where(local_labels.c.label == sa.bindparam("label"))
    .order_by(local_issues.c.id)
)
_INSERT_ISSUE = sa.insert(local_issues).returning(local_issues.c.id)
_INSERT_LABEL = sa.insert(local_labels)


def _key(issue_id: int) -> str:
    return f"{KEY_PREFIX}{issue_id}"


def _id(key: str) -> int:
    number = key.removeprefix(KEY_PREFIX)
    if not key.startswith(KEY_PREFIX) or not number.isdigit():
        raise TrackerError(f"not a local tracker key: {key!r}")
    return int(number)


def describe(draft: DefectDraft) -> str:
    """Plain-text description: what happened, where, and the trace as received."""
    lines = [draft.title, ""]
    lines += [f"{name}: {value}" for name, value in sorted(draft.metadata.items())]
    lines += ["", "Exception chain: " + " → ".join(draft.exception_chain)]
    if draft.message:
        lines.append(f"Message: {draft.message}")
    if draft.top_frames:
        lines += ["", "Top in-app frames:", *(f"  {f}" for f in draft.top_frames)]
    if draft.confirmed_by:
        lines += ["", f"Confirmed by {draft.confirmed_by}"]
    lines += ["", f"Signature: {draft.signature}", "", draft.trace_text]
    return "\n".join(lines)


class LocalTracker:
    """``Tracker`` over two tables in the store's database."""

    name = "local"
    settle_time = timedelta(0)  # a transaction: never uncertain

    def __init__(self, store: Store) -> None:
        """Issues live in ``store``'s database and are stamped by its clock."""
        self.store = store
        store.create_all(_metadata)

    def find(self, signature: str) -> TrackerIssue | None:
        found = self.find_all(signature)
        return found[0] if found else None

    def find_all(self, signature: str) -> list[TrackerIssue]:
        with self.store.read() as conn:
            rows = conn.execute(_FIND, {"label": signature_label(signature)}).all()
        return [TrackerIssue(_key(row.id), row.status, row.resolved) for row in rows]

    def create(self, draft: DefectDraft) -> TrackerIssue:
        """One transaction: the issue row and its labels."""
        now = self.store.clock()
        labels = dict.fromkeys((signature_label(draft.signature), *draft.labels))
        row = {
            "status": OPEN,
            "resolved": False,
            "summary": draft.title,
            "description": describe(draft),
            "project": draft.project,
            "issue_type": draft.issue_type,
            "priority": draft.priority,
            "components": list(draft.components),
            "assignee": draft.assignee,
            "occurrences": draft.occurrences,
            "last_seen": draft.first_seen,
            "comments": 0,
            "created": now,
            "updated": now,
        }
        with self.store.write() as conn:
            issue_id: int = conn.execute(_INSERT_ISSUE, row).scalar_one()
            conn.execute(
                _INSERT_LABEL, [{"issue_id": issue_id, "label": label} for label in labels]
            )
        log.info(
            "tracker.created", tracker=self.name, key=_key(issue_id), signature=draft.signature
        )
        return TrackerIssue(_key(issue_id), OPEN, False)

    def get(self, key: str) -> TrackerIssue:
        with self.store.read() as conn:
            return _issue(conn, key)

    def labels(self, key: str) -> list[str]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(local_labels.c.label)
                .where(local_labels.c.issue_id == _id(key))
                .order_by(local_labels.c.label)
            )
            return list(rows.scalars())

    def update_occurrences(
        self, key: str, update: OccurrenceUpdate, mark: CommentMark | None = None
    ) -> bool:
        """The count, and one summary comment per batch (per ``mark``)."""
        posted = self._update(
            key, comment=True, mark=mark, occurrences=update.total, last_seen=update.last_seen
        )
        log.info(
            "tracker.updated",
            tracker=self.name,
            key=key,
            total=update.total,
            new=update.new,
            posted=posted,
        )
        return posted

    def reopen(self, key: str, comment: str, mark: CommentMark | None = None) -> TrackerIssue:
        self._update(key, comment=True, mark=mark, status=REOPENED, resolved=False)
        log.info("tracker.reopened", tracker=self.name, key=key)
        return TrackerIssue(key, REOPENED, False)

    def close_duplicate(self, key: str, original: str) -> None:
        """Status ``Duplicate`` (resolved), a comment, and the label
        ``duplicate-of-<original>``; safe to repeat."""
        _id(original)
        self._close(key, DUPLICATE)
        self._add_label(key, DUPLICATE_OF + original)
        log.info("tracker.duplicate_closed", tracker=self.name, key=key, original=original)

    def close(self, key: str, comment: str) -> TrackerIssue:
        """Status ``Withdrawn`` (resolved) and a comment (counted: the table keeps no text)."""
        issue = self._close(key, WITHDRAWN)
        log.info("tracker.closed", tracker=self.name, key=key, status=issue.status)
        return issue

    def _close(self, key: str, status: str) -> TrackerIssue:
        """Resolve with ``status`` and one comment, unless resolved already."""
        issue = self.get(key)
        if issue.resolved:
            return issue
        self._update(key, comment=True, status=status, resolved=True)
        return TrackerIssue(key, status, True)

    def resolve(self, key: str, status: str = RESOLVED) -> TrackerIssue:
        """Close a defect (what a developer does in a real tracker)."""
        self._update(key, status=status, resolved=True)
        return TrackerIssue(key, status, True)

    def statuses(self, keys: Sequence[str]) -> dict[str, TrackerIssue]:
        """One query per chunk of keys (``chunks``); keys that are not local ones are left
        out."""
        numbers = (k.removeprefix(KEY_PREFIX) for k in keys if k.startswith(KEY_PREFIX))
        ids = sorted({int(n) for n in numbers if n.isdigit()})
        found: dict[str, TrackerIssue] = {}
        with self.store.read() as conn:
            for chunk in chunks(ids):
                rows = conn.execute(
                    sa.select(
                        local_issues.c.id, local_issues.c.status, local_issues.c.resolved
                    ).where(local_issues.c.id.in_(chunk))
                )
                for row in rows:
                    key = _key(row.id)
                    found[key] = TrackerIssue(key, row.status, row.resolved)
        return found

    def link_signature(self, key: str, signature: str) -> None:
        self._add_label(key, signature_label(signature))

    def _add_label(self, key: str, label: str) -> None:
        with self.store.write() as conn:
            _issue(conn, key)
            exists = conn.execute(
                sa.select(local_labels.c.label).where(
                    local_labels.c.issue_id == _id(key), local_labels.c.label == label
                )
            ).first()
            if not exists:
                conn.execute(sa.insert(local_labels).values(issue_id=_id(key), label=label))

    def _update(
        self, key: str, *, comment: bool = False, mark: CommentMark | None = None, **values: Any
    ) -> bool:
        """Change an existing issue's row (``TrackerError`` when there is none) and stamp it;
        with ``comment``, one comment more, unless ``mark``'s is there: True when commented."""
        issue_id = _id(key)
        with self.store.write() as conn:
            _issue(conn, key)
            if comment and mark is not None:
                seen = local_comments.c.issue_id == issue_id, local_comments.c.effect == mark.effect
                comment = (
                    conn.execute(sa.select(local_comments.c.effect).where(*seen)).first() is None
                )
                if comment:
                    conn.execute(
                        sa.insert(local_comments).values(issue_id=issue_id, effect=mark.effect)
                    )
            if comment:
                values["comments"] = local_issues.c.comments + 1
            conn.execute(
                sa.update(local_issues)
                .where(local_issues.c.id == issue_id)
                .values(**values, updated=self.store.clock())
            )
        return comment


def _issue(conn: Connection, key: str) -> TrackerIssue:
    row = conn.execute(
        sa.select(local_issues.c.status, local_issues.c.resolved).where(
            local_issues.c.id == _id(key)
        )
    ).one_or_none()
    if row is None:
        raise TrackerError(f"no such issue {key}")
    return TrackerIssue(key, row.status, row.resolved)


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """``[tracker.local]`` has no keys: the issues live in the store's database."""


KIND = TrackerKind(
    name="local",
    settings=LocalSettings,
    build=lambda _settings, context: LocalTracker(context.store),
    key_pattern=KEY_PREFIX + "[0-9]+",
    url=lambda _settings, _key: "",  # no web page: the key is shown
    describe=lambda _settings: "local: issues in the store's database",
)
