"""The store's side of the tracker: which keys to ask about, what the answers change, and
which tracker kind the keys belong to.

The outbox worker asks the tracker for the status of every tracked issue each
``sync_interval`` (``triagebot.outbox.sync_statuses``); a defect that becomes resolved
remembers the version it was resolved after, so a recurrence in a newer version is seen as a
regression (``triagebot.lifecycle.is_regression``) and reopened.

The keys belong to one tracker kind, remembered in ``meta`` (``tracker_kind``). Moving to
another kind (``triagebot defects move``) gives each open issue its new key and forgets the
keys of resolved ones: such a defect is filed anew when it comes back in a newer version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.lifecycle import TRACKED_STATES, EffectKind
from triagebot.store.db import chunks, lock_defects
from triagebot.store.schema import defects, meta, outbox

if TYPE_CHECKING:
    from triagebot.trackers.base import TrackerIssue

__all__ = [
    "forget_issue",
    "move_issue",
    "record_statuses",
    "resolved_values",
    "set_tracker_kind",
    "tracked_keys",
    "tracker_kind",
]

_KIND_KEY = "tracker_kind"

_TRACKED_NAMES = sorted(str(s) for s in TRACKED_STATES)

#: Correlated: the defect's ``reopen`` has not reached the tracker yet.
_REOPEN_PENDING = sa.exists().where(
    outbox.c.defect_id == defects.c.id,
    outbox.c.kind == str(EffectKind.REOPEN),
    outbox.c.state == "pending",
)


def tracked_keys(conn: Connection) -> list[str]:
    """The tracker keys whose status matters (filed defects and duplicates), each once."""
    query = (
        sa.select(defects.c.tracker_key)
        .where(defects.c.tracker_key.is_not(None), defects.c.state.in_(_TRACKED_NAMES))
        .distinct()
        .order_by(defects.c.tracker_key)
    )
    return [key for key in conn.execute(query).scalars() if key is not None]


def record_statuses(conn: Connection, issues: Mapping[str, TrackerIssue]) -> int:
    """What the status sync learnt; returns how many defects changed.

    One statement per distinct (status, resolved) pair, not per defect. A defect that becomes
    resolved remembers the version it was resolved after, as a ``reopen``'s result does; one
    whose ``reopen`` is still pending keeps its state (the tracker has not heard of the
    regression yet, and the reopen's result will tell).
    """
    groups: defaultdict[tuple[str, bool], list[str]] = defaultdict(list)
    for key, issue in issues.items():
        groups[issue.status, issue.resolved].append(key)
    ids = [
        found
        for chunk in chunks(sorted(issues))
        for found in conn.execute(
            sa.select(defects.c.id).where(defects.c.tracker_key.in_(chunk))
        ).scalars()
    ]
    for chunk in chunks(sorted(ids)):  # the store's one lock order, before any update
        lock_defects(conn, defects.c.id.in_(chunk))
    changed = 0
    for (status, resolved), keys in groups.items():
        values = {"tracker_status": status, **resolved_values(resolved)}
        for chunk in chunks(sorted(keys)):
            query = (
                sa.update(defects)
                .where(
                    defects.c.tracker_key.in_(chunk),
                    defects.c.state.in_(_TRACKED_NAMES),
                    sa.or_(
                        defects.c.tracker_status.is_distinct_from(status),
                        defects.c.resolved != resolved,
                    ),
                    ~_REOPEN_PENDING,
                )
                .values(**values)
            )
            changed += conn.execute(query).rowcount
    return changed


def resolved_values(resolved: bool) -> dict[str, Any]:
    """``resolved``, and on becoming resolved the version it was fixed after (the highest seen
    so far), which the regression check compares recurrences with."""
    if not resolved:
        return {"resolved": False}
    return {
        "resolved": True,
        "resolved_version": sa.case(
            (defects.c.resolved, defects.c.resolved_version), else_=defects.c.last_version
        ),
    }


def tracker_kind(conn: Connection) -> str | None:
    """The tracker kind the stored keys belong to (None: none recorded yet)."""
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == _KIND_KEY)).scalar()
    return str(value) if value is not None else None


def set_tracker_kind(conn: Connection, kind: str) -> None:
    if tracker_kind(conn) is None:
        conn.execute(sa.insert(meta).values(key=_KIND_KEY, value=kind))
    else:
        conn.execute(sa.update(meta).where(meta.c.key == _KIND_KEY).values(value=kind))


def move_issue(conn: Connection, old_key: str, issue: TrackerIssue) -> int:
    """Every tracked defect on ``old_key`` (its own and its duplicates) now updates ``issue``,
    which was filed with every occurrence so far; returns how many defects moved."""
    lock_defects(conn, defects.c.tracker_key == old_key)
    query = (
        sa.update(defects)
        .where(defects.c.tracker_key == old_key, defects.c.state.in_(_TRACKED_NAMES))
        .values(
            tracker_key=issue.key,
            tracker_status=issue.status,
            resolved=issue.resolved,
            occurrences_reported=defects.c.occurrences,
        )
    )
    return int(conn.execute(query).rowcount)


def forget_issue(conn: Connection, old_key: str) -> int:
    """The defects on a resolved ``old_key`` keep no key: a regression files them anew."""
    lock_defects(conn, defects.c.tracker_key == old_key)
    query = (
        sa.update(defects)
        .where(defects.c.tracker_key == old_key)
        .values(tracker_key=None, tracker_status=None)
    )
    return int(conn.execute(query).rowcount)
