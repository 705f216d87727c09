"""Joining the defects that a newer signature version shows to be one bug (``regroup``).

An older algorithm may have split one bug over several defects: a trace cut at another
depth, the same failing function reached from another caller. Once the configured version
signs their sample traces alike, one defect survives and the others become its duplicates.

The survivor is the one with a tracker issue, else a filed one, else the oldest: people may
already work on an issue, and a candidate nobody filed must not take its place. The others'
signatures, occurrences and daily counts move to it, so every later report and every count
lands on one defect. Each of them keeps its row (state ``duplicate``, the survivor's issue,
and who joined it in ``confirmed_by``), so what happened to its mails stays traceable; an
issue it was filed as is closed as a duplicate of the survivor's (``EffectKind.JOIN``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot.identity import reference
from triagebot.lifecycle import DefectState, EffectKind
from triagebot.store.db import RECORD_LOCK, chunks, take_turns
from triagebot.store.queue import enqueue
from triagebot.store.retention import ORIGIN, add_to_day
from triagebot.store.schema import defects, occurrence_days, occurrences, signatures

__all__ = ["Join", "Sample", "settle", "unsigned"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    """A defect not signed by the configured version yet, and the trace text to sign."""

    defect_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Join:
    """Who holds ``signature`` (of ``version``) once joined, and who was joined into it."""

    signature: str
    version: str
    survivor: int
    joined: tuple[int, ...]


def unsigned(conn: Connection, version: str, after: int, limit: int) -> list[Sample]:
    """Up to ``limit`` defects with an id above ``after`` that hold signatures, none of them
    of ``version`` (one joined into another holds none), by id."""
    signed = sa.select(signatures.c.defect_id).where(signatures.c.version == version)
    query = (
        sa.select(defects.c.id, defects.c.sample_trace)
        .where(
            defects.c.id > after,
            defects.c.id.in_(sa.select(signatures.c.defect_id)),
            defects.c.id.not_in(signed),
        )
        .order_by(defects.c.id)
        .limit(limit)
    )
    return [Sample(row.id, row.sample_trace) for row in conn.execute(query)]


def settle(
    conn: Connection,
    version: str,
    groups: Mapping[str, Collection[int]],
    now: datetime,
    *,
    dry_run: bool = False,
) -> list[Join]:
    """For each signature of ``version`` in ``groups``, join its defects and the one already
    holding it into the survivor (``dry_run``: only work out who would survive); returns the
    joins that took a defect. A signature of one defect that nobody holds is simply given to
    it, with every other such one in a single insert. Joins take turns with recording, so a
    batch recorded meanwhile sees them."""
    if not dry_run:
        take_turns(conn, RECORD_LOCK)
    holders: dict[str, int] = {
        row.signature: row.defect_id
        for row in conn.execute(
            sa.select(signatures.c.signature, signatures.c.defect_id).where(
                signatures.c.version == version, signatures.c.signature.in_(list(groups))
            )
        )
    }
    everyone = {defect_id for ids in groups.values() for defect_id in ids}
    holding = set(_holding(conn, everyone | set(holders.values())))
    alone = {
        signature: next(iter(ids))
        for signature, ids in groups.items()
        if len(ids) == 1 and signature not in holders
    }
    given = [
        {"signature": signature, "version": version, "defect_id": defect_id}
        for signature, defect_id in alone.items()
        if defect_id in holding  # not when joined meanwhile by another regrouping
    ]
    if given and not dry_run:
        conn.execute(sa.insert(signatures), given)
    joins = []
    for signature, ids in groups.items():
        if signature in alone:
            continue
        wanted = {*ids, *((holders[signature],) if signature in holders else ())} & holding
        done = _plan(conn, signature, version, wanted)
        if done is None:
            continue
        if done.joined:
            joins.append(done)
        if not dry_run:  # the signature goes to the survivor even when the others went meanwhile
            _join_all(conn, done, now)
            holding -= set(done.joined)
    return joins


def _holding(conn: Connection, ids: Collection[int]) -> Iterator[int]:
    """Which of ``ids`` hold a signature (one joined into another holds none)."""
    for chunk in chunks(sorted(ids)):
        yield from conn.execute(
            sa.select(signatures.c.defect_id).where(signatures.c.defect_id.in_(chunk)).distinct()
        ).scalars()


def _plan(conn: Connection, signature: str, version: str, ids: Collection[int]) -> Join | None:
    """The survivor among ``ids``: the one with a tracker issue, else a filed one, else the
    oldest (None: no defect)."""
    rows = conn.execute(
        sa.select(defects.c.id, defects.c.state, defects.c.tracker_key, defects.c.first_seen).where(
            defects.c.id.in_(list(ids))
        )
    ).all()
    ranked = sorted(
        rows,
        key=lambda r: (r.tracker_key is None, r.state != DefectState.FILED, r.first_seen, r.id),
    )
    if not ranked:
        return None
    survivor, *others = (r.id for r in ranked)
    return Join(signature, version, survivor, tuple(sorted(others)))


def _join_all(conn: Connection, done: Join, now: datetime) -> None:
    """Join ``done.joined`` (none: nothing to join) into ``done.survivor``, which then holds
    ``done.signature``."""
    survivor = _row(conn, done.survivor)
    for member in done.joined:
        _join(conn, survivor, _row(conn, member), done, now)
        survivor = _row(conn, done.survivor)
    conn.execute(
        sa.delete(signatures).where(
            signatures.c.signature == done.signature, signatures.c.version == done.version
        )
    )
    conn.execute(
        sa.insert(signatures).values(
            signature=done.signature, version=done.version, defect_id=done.survivor
        )
    )
    if not done.joined:
        return
    log.info(
        "store.defects_joined",
        survivor=done.survivor,
        joined=list(done.joined),
        signature=done.signature,
        version=done.version,
    )


def _row(conn: Connection, defect_id: int) -> Any:
    return conn.execute(sa.select(defects).where(defects.c.id == defect_id)).one()


def _join(conn: Connection, survivor: Any, member: Any, done: Join, now: datetime) -> None:
    """Move ``member``'s signatures, occurrences and daily counts to ``survivor``, make it
    a duplicate of it, and queue what the tracker must hear."""
    moved = list(
        conn.execute(
            sa.select(signatures.c.signature).where(signatures.c.defect_id == member.id)
        ).scalars()
    )
    conn.execute(
        sa.update(signatures)
        .where(signatures.c.defect_id == member.id)
        .values(defect_id=survivor.id)
    )
    conn.execute(
        sa.update(occurrences)
        .where(occurrences.c.defect_id == member.id)
        .values(defect_id=survivor.id)
    )
    days = conn.execute(
        sa.select(
            occurrence_days.c.day,
            *(occurrence_days.c[name] for name in ORIGIN),
            occurrence_days.c.count.label("n"),
        ).where(occurrence_days.c.defect_id == member.id)
    ).all()
    for day in days:
        origin = tuple(getattr(day, name) for name in ORIGIN)
        add_to_day(conn, (survivor.id, day.day, *origin), day.n)
    conn.execute(sa.delete(occurrence_days).where(occurrence_days.c.defect_id == member.id))
    later = member.last_seen > survivor.last_seen
    conn.execute(
        sa.update(defects)
        .where(defects.c.id == survivor.id)
        .values(
            occurrences=survivor.occurrences + member.occurrences,
            first_seen=min(survivor.first_seen, member.first_seen),
            last_seen=max(survivor.last_seen, member.last_seen),
            last_version=member.last_version if later else survivor.last_version,
        )
    )
    conn.execute(
        sa.update(defects)
        .where(defects.c.id == member.id)
        .values(
            state=DefectState.DUPLICATE,
            tracker_key=survivor.tracker_key,
            occurrences=0,  # counted on the survivor now: an update of its own tells nothing
            occurrences_reported=0,
            confirmed_by=(
                f"joined into {reference(survivor.id)} by signature {done.version} {done.signature}"
            ),
        )
    )
    if survivor.tracker_key is None:
        return
    for moved_signature in moved:
        enqueue(
            conn,
            EffectKind.LINK,
            survivor.id,
            {"signature": moved_signature},
            now,
            extra=moved_signature,
        )
    enqueue(conn, EffectKind.UPDATE, survivor.id, {}, now)
    if member.state == DefectState.FILED and member.tracker_key not in (
        None,
        survivor.tracker_key,
    ):
        enqueue(conn, EffectKind.JOIN, member.id, {"key": member.tracker_key}, now)
