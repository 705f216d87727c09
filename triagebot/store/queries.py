"""Read-only queries: defects as the CLI, the outbox worker and the digests see them,
occurrence counts for the rules, the ``status`` snapshot, and what a digest period holds.

Each function reads through the connection it is given, so the caller (``Store``) decides the
snapshot: a digest or a status report reads everything it shows from one. Nothing here
writes; writes live with their concern (``batch``, ``queue``, ``confirmation``, ``sync``, ``runs``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triagebot.lifecycle import DefectState, EffectKind
from triagebot.rules import Fields
from triagebot.store import bounces
from triagebot.store.db import by_ids, chunks
from triagebot.store.jobs import row_name as job_row
from triagebot.store.leader import INTAKE, REPLICA
from triagebot.store.records import Defect, DefectSummary
from triagebot.store.schema import (
    UTCDateTime,
    defects,
    digest_runs,
    leases,
    messages,
    notifications,
    occurrence_days,
    occurrences,
    outbox,
    signatures,
)

__all__ = [
    "STATUS_FAILED_SHOWN",
    "MessageTrace",
    "Origins",
    "PeriodActivity",
    "Trends",
    "count",
    "counts",
    "defect_summaries",
    "defects_by_id",
    "message_traces",
    "period_activity",
    "period_trends",
    "signatures_of",
    "status",
]

STATUS_FAILED_SHOWN = 10  # the most recent failed effects ``status`` shows with their error


# --- defects ------------------------------------------------------------------------------


def signatures_of(conn: Connection, ids: Collection[int] | None = None) -> dict[int, list[str]]:
    """Each defect's signatures by algorithm version (of every defect when ``ids`` is None)."""
    query = sa.select(signatures.c.defect_id, signatures.c.signature).order_by(
        signatures.c.defect_id, signatures.c.version
    )
    out: dict[int, list[str]] = {}
    for chunked in by_ids(query, signatures.c.defect_id, ids):
        for row in conn.execute(chunked):
            sigs = out.setdefault(row.defect_id, [])
            if row.signature not in sigs:
                sigs.append(row.signature)
    return out


_SUMMARY_COLUMNS = (
    defects.c.id,
    defects.c.tracker_key,
    defects.c.state,
    defects.c.title,
    defects.c.occurrences,
    defects.c.first_seen,
    defects.c.last_seen,
)


def defect_summaries(
    conn: Connection,
    ids: Collection[int] | None = None,
    *,
    states: Collection[str] = (),
    since: datetime | None = None,
) -> list[DefectSummary]:
    """The defects with these ids (every defect when None), oldest first, from ``conn``'s
    snapshot: for ``triagebot defects`` and the digests. ``states`` and ``since`` (last
    seen at or after it) narrow them down."""
    query = sa.select(*_SUMMARY_COLUMNS).order_by(defects.c.id)
    if states:
        query = query.where(defects.c.state.in_(sorted(states)))
    if since is not None:
        query = query.where(defects.c.last_seen >= since)
    # Chunks come in ascending id order, so their rows concatenate in order.
    rows = [r for q in by_ids(query, defects.c.id, ids) for r in conn.execute(q)]
    sigs = signatures_of(conn, [r.id for r in rows] if states or since else ids)
    return [
        DefectSummary(
            r.id,
            r.tracker_key,
            r.state,
            sigs.get(r.id, []),
            r.title,
            r.occurrences,
            r.first_seen,
            r.last_seen,
        )
        for r in rows
    ]


def defects_by_id(conn: Connection, ids: Collection[int]) -> dict[int, Defect]:
    """The defects with these ids (unknown ids are left out)."""
    found: dict[int, Defect] = {}
    for chunk in chunks(sorted(ids)):
        rows = conn.execute(sa.select(defects).where(defects.c.id.in_(chunk))).all()
        sigs = signatures_of(conn, chunk)
        found.update((row.id, _defect(row, sigs.get(row.id, []))) for row in rows)
    return found


def _defect(row: sa.Row[Any], sigs: list[str]) -> Defect:
    """A ``defects`` row as a ``Defect``; its creating signature first."""
    ordered = [row.signature, *(s for s in sigs if s != row.signature)]
    return Defect(
        id=row.id,
        state=DefectState(row.state),
        signatures=tuple(ordered),
        tracker_key=row.tracker_key,
        tracker_status=row.tracker_status,
        resolved=row.resolved,
        title=row.title,
        language=row.language,
        message=row.message,
        exception_types=tuple(row.exception_types),
        top_frames=tuple(row.top_frames),
        sample_trace=row.sample_trace,
        metadata=dict(row.metadata),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        occurrences=row.occurrences,
        occurrences_reported=row.occurrences_reported,
        last_version=row.last_version,
        fields=Fields.from_dict(row.fields),
        rule=row.rule,
        confirmed_by=row.confirmed_by,
    )


# --- occurrence counts (the rules' ``occurrences`` conditions) ----------------------------


_COUNT = (
    sa.select(sa.func.count())
    .select_from(occurrences)
    .where(
        occurrences.c.defect_id.in_(
            sa.select(signatures.c.defect_id).where(signatures.c.signature == sa.bindparam("sig"))
        ),
        occurrences.c.at >= sa.bindparam("since", type_=UTCDateTime),
    )
)


def count(conn: Connection, signature: str, since: datetime) -> int:
    """Occurrences recorded at or after ``since`` for the defect of ``signature``."""
    return int(conn.execute(_COUNT, {"sig": signature, "since": since}).scalar_one())


def counts(
    conn: Connection, sigs: Collection[str], since: datetime, cap: int | None = None
) -> dict[str, int]:
    """``count`` for many signatures, one query per chunk (signatures without any: absent);
    ``cap``: each defect's occurrences are read up to that many, not all of the window."""
    found: dict[str, int] = {}
    for chunk in chunks(sorted(sigs)):
        for sig, n in conn.execute(_counts_query(chunk, since, cap)):
            if n:
                total = found.get(sig, 0) + int(n)
                found[sig] = total if cap is None else min(total, cap)
    return found


def _counts_query(chunk: Sequence[str], since: datetime, cap: int | None) -> sa.Select[str, int]:
    """``_COUNT`` per (signature, defect) pair, each pair once as ``IN`` does; with a ``cap``
    the occurrences of each defect are read through its index up to ``cap`` rows."""
    pairs = (
        sa.select(signatures.c.signature, signatures.c.defect_id)
        .where(signatures.c.signature.in_(chunk))
        .distinct()
        .subquery()
    )
    rows = (
        sa.select(occurrences.c.id)
        .where(occurrences.c.defect_id == pairs.c.defect_id, occurrences.c.at >= since)
        .correlate(pairs)
    )
    if cap is not None:
        rows = rows.limit(cap)
    counted = sa.select(sa.func.count()).select_from(rows.subquery()).scalar_subquery()
    return sa.select(pairs.c.signature, counted)


# --- status -------------------------------------------------------------------------------


def status(
    conn: Connection, now: datetime, failed_shown: int = STATUS_FAILED_SHOWN
) -> dict[str, Any]:
    """What ``triagebot status`` shows: intake, defects, the outbox's backlog (with the
    ``failed_shown`` most recent failures), each digest's latest run and recent bounces. A few
    grouped queries (no per-row work: fine on a big store)."""
    recent = sa.func.sum(
        sa.case((messages.c.processed_at >= now - timedelta(hours=24), 1), else_=0)
    )
    mine = sa.select(
        messages.c.kind, messages.c.action, sa.func.count(), sa.func.coalesce(recent, 0)
    ).group_by(messages.c.kind, messages.c.action)
    states = sa.select(defects.c.state, sa.func.count()).group_by(defects.c.state)
    waiting = (
        sa.select(outbox.c.state, outbox.c.kind, sa.func.count(), sa.func.min(outbox.c.created_at))
        .where(outbox.c.state.in_(("pending", "failed")))
        .group_by(outbox.c.state, outbox.c.kind)
    )
    shown = sa.select(outbox.c.id, outbox.c.kind, outbox.c.defect_id, outbox.c.attempts)
    failed = (
        shown.add_columns(outbox.c.last_error)
        .where(outbox.c.state == "failed")
        .order_by(outbox.c.id.desc())
        .limit(failed_shown)
    )
    retrying = (  # pending after a failure: why, and when the next attempt is
        shown.add_columns(outbox.c.last_error, outbox.c.next_attempt_at)
        .where(outbox.c.state == "pending", outbox.c.attempts > 0)
        .order_by(outbox.c.id.desc())
        .limit(failed_shown)
    )
    latest = sa.select(digest_runs.c.digest, sa.func.max(digest_runs.c.period_end).label("end"))
    latest_runs = latest.group_by(digest_runs.c.digest).subquery()
    runs = (
        sa.select(digest_runs.c.digest, digest_runs.c.period_end, digest_runs.c.state)
        .add_columns(digest_runs.c.error)
        .join(
            latest_runs,
            (latest_runs.c.digest == digest_runs.c.digest)
            & (latest_runs.c.end == digest_runs.c.period_end),
        )
        .order_by(digest_runs.c.digest)
    )
    by_kind = [
        {"kind": k, "action": a, "count": n, "last_24h": int(r)}
        for k, a, n, r in conn.execute(mine.order_by(messages.c.kind, messages.c.action))
    ]
    by_state: dict[str, int] = {
        row[0]: row[1] for row in conn.execute(states.order_by(defects.c.state))
    }
    backlog: dict[str, dict[str, int]] = {"pending": {}, "failed": {}}
    oldest: datetime | None = None
    for state, kind, n, first in conn.execute(waiting):
        backlog[state][kind] = n
        if state == "pending" and (oldest is None or first < oldest):
            oldest = first
    errors = [
        {"id": i, "kind": k, "defect": d, "attempts": n, "error": e}
        for i, k, d, n, e in conn.execute(failed)
    ]
    retries = [
        {"id": i, "kind": k, "defect": d, "attempts": n, "error": e, "next": at.isoformat()}
        for i, k, d, n, e, at in conn.execute(retrying)
    ]
    # ``migrate`` creates it; a store that was never migrated has no digest run to show.
    has_digests = sa.inspect(conn).has_table(digest_runs.name)
    digests = [
        {"digest": d, "period_end": end.isoformat(), "state": st, "error": e}
        for d, end, st, e in (conn.execute(runs) if has_digests else ())
    ]
    return {
        "messages": {
            "total": sum(m["count"] for m in by_kind),
            "last_24h": sum(m["last_24h"] for m in by_kind),
            "by_kind": by_kind,
        },
        "defects": by_state,
        "outbox": {
            **backlog,
            "oldest_pending": oldest.isoformat() if oldest else None,
            "failed_errors": errors,
            "retrying": retries,
        },
        "digests": digests,
        "bounces": bounces.recent(conn, now),
        **replicas(conn, now),
    }


def replicas(conn: Connection, now: datetime) -> dict[str, Any]:
    """Who reads the mailbox (``intake``: holder, fencing token, since, last renewal), the
    replicas seen in the last day, newest first (``store.leader``), the scheduled jobs' leases
    (``store.jobs``: holder, or None once the last run finished) and how many reminders are
    claimed now."""
    rows = conn.execute(
        sa.select(leases).where(
            sa.or_(
                leases.c.name == INTAKE,
                leases.c.name.startswith(job_row("")),
                leases.c.renewed_at >= now - timedelta(days=1),
            )
        )
    ).all()
    intake = next((r for r in rows if r.name == INTAKE), None)
    seen = sorted((r for r in rows if r.name.startswith(REPLICA)), key=lambda r: r.renewed_at)
    jobs = sorted((r for r in rows if r.name.startswith(job_row(""))), key=lambda r: r.name)
    claimed = conn.execute(
        sa.select(sa.func.count()).where(notifications.c.leased_until > now)
    ).scalar_one()
    return {
        "intake": None
        if intake is None
        else {
            "leader": intake.holder,
            "token": intake.token,
            "since": intake.acquired_at.isoformat(),
            "renewed": intake.renewed_at.isoformat(),
        },
        "replicas": [
            {
                "holder": r.holder,
                "leads": intake is not None and r.holder == intake.holder,
                "started": r.acquired_at.isoformat(),
                "seen": r.renewed_at.isoformat(),
            }
            for r in reversed(seen)
        ],
        "jobs": [
            {
                "job": r.name.removeprefix(job_row("")),
                "holder": r.holder or None,
                "token": r.token,
                "since": r.acquired_at.isoformat(),
                "renewed": r.renewed_at.isoformat(),
            }
            for r in jobs
        ],
        "reminders_claimed": int(claimed),
    }


# --- digest content -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodActivity:
    """What a digest of ``[start, end)`` is made of, read from one snapshot.

    Periods count by when triagebot recorded a mail (``processed_at``), not by the mail's own
    Date, so late or clock-skewed reports still land in the next digest.
    """

    counts: dict[int, int]  # messages recorded in the period, per defect
    defects: dict[int, DefectSummary]  # every defect the digest lists, in id order
    candidates: list[int] = field(default_factory=list)  # helpdesk: awaiting, oldest first
    reopened: set[int] = field(default_factory=set)  # a ``reopen`` queued in the period
    new: set[int] = field(default_factory=set)  # no message recorded before the period
    filed: set[int] = field(default_factory=set)  # a tracker issue queued in the period


def period_activity(
    conn: Connection, start: datetime, end: datetime, *, candidates: bool
) -> PeriodActivity:
    """The period's counts and defects; ``candidates``: a helpdesk digest, which lists the
    candidates awaiting confirmation instead of the period's new, recurring and reopened."""
    in_period = _period_counts(conn, start, end)
    if candidates:
        ids = _candidate_ids(conn)
        return PeriodActivity(in_period, _summaries(conn, ids), candidates=ids)
    reopened = _reopened(conn, start, end)
    filed = _effects_in(conn, EffectKind.CREATE, start, end)
    listed = _summaries(conn, sorted(set(in_period) | reopened | filed))
    new = _new_ids(conn, start, end, in_period)
    return PeriodActivity(in_period, listed, reopened=reopened, new=new, filed=filed)


@dataclass(frozen=True, slots=True)
class Origins:
    """Where a defect was reported from and how its tracker sees it: each list most frequent
    first, at most ``ORIGINS_SHOWN`` values (occurrences folded by retention count too)."""

    tracker_status: str = ""
    resolved: bool = False
    applications: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


ORIGINS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Trends:
    """What a digest shows besides the period's counts: the previous period's counts (same
    length, right before), occurrences per local day of ``[window_start, end)`` per defect
    and in all, each listed defect's origins, and how many candidates wait for the helpdesk."""

    previous: dict[int, int]
    daily: dict[int, Counter[date]]
    reported: Counter[date]  # every report per day of the window, whatever its defect
    origins: dict[int, Origins]
    candidates_waiting: int


def period_trends(
    conn: Connection,
    start: datetime,
    end: datetime,
    ids: Collection[int],
    *,
    window_start: datetime,
    zone: tzinfo,
) -> Trends:
    """``Trends`` of ``[start, end)`` for the defects ``ids``; days are local to ``zone``."""
    daily: dict[int, Counter[date]] = {}
    reported: Counter[date] = Counter()
    rows = conn.execute(
        sa.select(messages.c.defect_id, messages.c.processed_at).where(
            messages.c.processed_at >= window_start,
            messages.c.processed_at < end,
            messages.c.defect_id.is_not(None),
        )
    )
    for defect_id, at in rows:
        day = at.astimezone(zone).date()
        daily.setdefault(defect_id, Counter())[day] += 1
        reported[day] += 1
    waiting = conn.execute(
        sa.select(sa.func.count()).where(defects.c.state == str(DefectState.CANDIDATE))
    ).scalar_one()
    return Trends(
        previous=_period_counts(conn, start - (end - start), start),
        daily=daily,
        reported=reported,
        origins=_origins(conn, ids),
        candidates_waiting=int(waiting),
    )


def _origins(conn: Connection, ids: Collection[int]) -> dict[int, Origins]:
    """``Origins`` per defect from a few grouped queries (not one per defect)."""
    columns = ("application", "environment", "version")
    tally: dict[tuple[int, str], Counter[str]] = {}
    for chunk in chunks(sorted(ids)):
        live = sa.select(
            occurrences.c.defect_id,
            *(occurrences.c[c] for c in columns),
            sa.literal(1).label("n"),
        ).where(occurrences.c.defect_id.in_(chunk))
        folded = sa.select(
            occurrence_days.c.defect_id,
            *(occurrence_days.c[c] for c in columns),
            occurrence_days.c.count.label("n"),
        ).where(occurrence_days.c.defect_id.in_(chunk))
        seen = sa.union_all(live, folded).subquery()
        query = sa.select(
            seen.c.defect_id, *(seen.c[c] for c in columns), sa.func.sum(seen.c.n)
        ).group_by(seen.c.defect_id, *(seen.c[c] for c in columns))
        for defect_id, *values, n in conn.execute(query):
            for column, value in zip(columns, values, strict=True):
                if value:
                    tally.setdefault((defect_id, column), Counter())[str(value)] += int(n)
    status: dict[int, tuple[str, bool]] = {}
    for chunk in chunks(sorted(ids)):
        query = sa.select(defects.c.id, defects.c.tracker_status, defects.c.resolved)
        for row in conn.execute(query.where(defects.c.id.in_(chunk))):
            status[row.id] = (row.tracker_status or "", bool(row.resolved))

    def top(defect_id: int, column: str) -> list[str]:
        counted = tally.get((defect_id, column), Counter())
        ranked = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
        return [value for value, _ in ranked[:ORIGINS_SHOWN]]

    return {
        i: Origins(*status[i], top(i, "application"), top(i, "environment"), top(i, "version"))
        for i in status
    }


def _effects_in(conn: Connection, kind: EffectKind, start: datetime, end: datetime) -> set[int]:
    """Defects with an effect of ``kind`` queued in ``[start, end)``."""
    return set(
        conn.execute(
            sa.select(outbox.c.defect_id).where(
                outbox.c.kind == str(kind),
                outbox.c.created_at >= start,
                outbox.c.created_at < end,
            )
        ).scalars()
    )


def _summaries(conn: Connection, ids: Sequence[int]) -> dict[int, DefectSummary]:
    if not ids:
        return {}
    return {d.id: d for d in defect_summaries(conn, ids)}


def _period_counts(conn: Connection, start: datetime, end: datetime) -> dict[int, int]:
    rows = conn.execute(
        sa.select(messages.c.defect_id, sa.func.count())
        .where(
            messages.c.processed_at >= start,
            messages.c.processed_at < end,
            messages.c.defect_id.is_not(None),
        )
        .group_by(messages.c.defect_id)
    )
    return {row[0]: row[1] for row in rows}


def _new_ids(
    conn: Connection, start: datetime, end: datetime, in_period: dict[int, int]
) -> set[int]:
    """Defects of the period with no message recorded before it."""
    ids = (
        sa.select(messages.c.defect_id)
        .where(messages.c.processed_at >= start, messages.c.processed_at < end)
        .scalar_subquery()
    )
    older = conn.execute(
        sa.select(messages.c.defect_id)
        .where(messages.c.processed_at < start, messages.c.defect_id.in_(ids))
        .distinct()
    ).scalars()
    return set(in_period) - set(older)


def _reopened(conn: Connection, start: datetime, end: datetime) -> set[int]:
    return _effects_in(conn, EffectKind.REOPEN, start, end)


def _candidate_ids(conn: Connection) -> list[int]:
    """Candidates awaiting confirmation, oldest first."""
    return list(
        conn.execute(
            sa.select(defects.c.id)
            .where(defects.c.state == str(DefectState.CANDIDATE))
            .order_by(defects.c.first_seen, defects.c.id)
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class MessageTrace:
    """What happened to one recorded mail (``triagebot trace``): when it was read, what it
    was, which rule decided, the defect it counted for and that defect's effects as
    (kind, state, attempts, last error), oldest first."""

    key: str
    processed_at: datetime
    received_at: datetime | None
    source_ref: str | None
    kind: str
    action: str | None
    rule: str | None
    signature: str | None
    reason: str | None
    defect: DefectSummary | None
    effects: list[tuple[str, str, int, str | None]]


def message_traces(conn: Connection, key: str | None, message_id: str | None) -> list[MessageTrace]:
    """The recorded mails with store ``key``, or with ``message_id`` (any content), in the
    order they were recorded."""
    query = sa.select(messages).order_by(messages.c.processed_at)
    if key is not None:
        query = query.where(messages.c.message_id == key)
    else:
        query = query.where(messages.c.message_id.startswith(f"{message_id}#", autoescape=True))
    rows = conn.execute(query).all()
    ids = {r.defect_id for r in rows if r.defect_id is not None}
    summaries = {d.id: d for d in defect_summaries(conn, ids)} if ids else {}
    effects: dict[int, list[tuple[str, str, int, str | None]]] = {i: [] for i in ids}
    if ids:
        done = sa.select(outbox.c.defect_id, outbox.c.kind, outbox.c.state, outbox.c.attempts)
        done = done.add_columns(outbox.c.last_error).order_by(outbox.c.id)
        for q in by_ids(done, outbox.c.defect_id, ids):
            for e in conn.execute(q):
                effects[e.defect_id].append((e.kind, e.state, e.attempts, e.last_error))
    return [
        MessageTrace(
            r.message_id,
            r.processed_at,
            r.received_at,
            r.source_ref,
            r.kind,
            r.action,
            r.rule,
            r.signature,
            r.reason,
            summaries.get(r.defect_id) if r.defect_id is not None else None,
            effects.get(r.defect_id, []) if r.defect_id is not None else [],
        )
        for r in rows
    ]
