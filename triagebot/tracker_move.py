"""Moving an installation's defects to another tracker kind (``triagebot defects move``).

The store's tracker keys belong to one kind (``Store.tracker_kind``). Switching ``[tracker]
kind`` alone would leave every defect with a key the new tracker does not know, so the
service warns at start until the defects are moved. A move files each open issue in the new
tracker once (found by its signature label, else created with every occurrence so far: a move
that stopped half-way and runs again finds what it filed) and points every defect that
updated the old issue, duplicates included, at the new one. Resolved issues are not filed
again: their defects keep no key, and one that comes back in a newer version is filed anew.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from triagebot.outbox import file_defect
from triagebot.store import TRACKED_STATES, Defect, DefectState, Store
from triagebot.trackers.base import Tracker

__all__ = ["Move", "kind_warning", "move_defects"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Move:
    """What happened to one issue of the old tracker."""

    old_key: str
    new_key: str | None  # None: resolved, not filed again
    defect_id: int
    title: str
    created: bool = False


def _issues(store: Store) -> Iterator[tuple[str, Defect]]:
    """Each issue key of the old tracker once, with the defect that filed it (a filed defect
    before the duplicates pointing at the same issue)."""
    summaries = [d for d in store.defects() if d.key and d.state in TRACKED_STATES]
    by_id = store.defects_by_id([d.id for d in summaries])
    seen: dict[str, Defect] = {}
    for defect in sorted(by_id.values(), key=lambda d: (d.state != DefectState.FILED, d.id)):
        assert defect.tracker_key is not None
        seen.setdefault(defect.tracker_key, defect)
    yield from seen.items()


def move_defects(store: Store, tracker: Tracker, kind: str, *, dry_run: bool = False) -> list[Move]:
    """File the open issues in ``tracker`` (of ``kind``) and remember the kind."""
    moves: list[Move] = []
    for old_key, defect in _issues(store):
        if defect.resolved:
            moves.append(Move(old_key, None, defect.id, defect.title))
            if not dry_run:
                store.move_issue(old_key, None)
            continue
        if dry_run:
            moves.append(Move(old_key, "?", defect.id, defect.title))
            continue
        issue, created = file_defect(defect, tracker)
        store.move_issue(old_key, issue)
        moves.append(Move(old_key, issue.key, defect.id, defect.title, created))
        log.info("tracker.moved", old=old_key, new=issue.key, defect=defect.id, created=created)
    if not dry_run:
        store.set_tracker_kind(kind)
    return moves


def kind_warning(store: Store, kind: str) -> str | None:
    """Why the configured ``kind`` does not match the stored keys, or None when it does.
    A store that never recorded a kind takes ``kind`` (the first start, or an upgrade)."""
    stored = store.tracker_kind()
    if stored is None:
        store.set_tracker_kind(kind)
        return None
    if stored == kind:
        return None
    keyed = sum(1 for d in store.defects() if d.key)
    if not keyed:
        store.set_tracker_kind(kind)
        return None
    return (
        f"{keyed} defects hold {stored} keys, but [tracker] kind = {kind!r}: their updates "
        f"fail until `triagebot defects move --to {kind}` files the open ones in {kind}"
    )
