"""Digests: build, render and send one summary mail for a period, exactly once per period.

Each run covers ``[start, end)``: ``end`` is the scheduled fire time (or "now" for a manual
send) and ``start`` is the end of the digest's previous run, stored in ``digest_runs``, so
"since the last digest" survives restarts. A run first *claims* its period with a row whose
key is ``(digest, period_end)`` in one write transaction; a replica that finds the period
claimed does nothing, so two replicas never both send. A transient send failure leaves the row
``retry`` with a back-off (``retry_due`` sends it later); a permanent one marks it ``failed``
with the explanation. Periods are counted by when triagebot recorded a mail (``processed_at``),
not by the mail's own Date, so late or clock-skewed reports still land in the next digest.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot import templates
from triagebot.config import Config, DigestConfig
from triagebot.confirm.notify import reference
from triagebot.errors import ConfigError, NotifyError, NotifyUnavailable, StoreError
from triagebot.outbox import backoff
from triagebot.smtp import Mailer
from triagebot.store import (
    DefectState,
    EffectKind,
    Store,
    UTCDateTime,
    defect_summaries,
    defects,
    messages,
    metadata,
    outbox,
)

__all__ = [
    "CLAIM_LEASE",
    "TOP_RECURRING",
    "DigestContent",
    "DigestItem",
    "DigestRunner",
    "Period",
    "Rendered",
    "RunResult",
    "build",
    "digest_runs",
    "render",
    "zone_of",
]

log = structlog.get_logger(__name__)

TOP_RECURRING = 10  # defects listed under "top recurring"
#: A claim older than this whose owner never finished (crash mid-send) may be taken over.
#: Far above any SMTP timeout, so a slow but live send is never duplicated.
CLAIM_LEASE = timedelta(minutes=15)
#: Tracker states that never appear in a developer digest's lists (they stay in the CSV).
_QUIET = (DefectState.IGNORED, DefectState.REJECTED, DefectState.DUPLICATE)
CSV_COLUMNS = (
    "key",
    "state",
    "title",
    "occurrences_in_period",
    "occurrences_total",
    "first_seen",
    "last_seen",
    "signatures",
)

digest_runs = sa.Table(
    "digest_runs",
    metadata,
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Column("period_end", UTCDateTime, primary_key=True),
    sa.Column("period_start", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # claimed, retry, sent, empty, failed
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("message_id", sa.String(998)),
    sa.Column("error", sa.Text),
)

Status = Literal["sent", "empty", "covered", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One defect line of a digest."""

    id: int
    key: str  # tracker key, ``C-<id>`` for a candidate, else empty
    url: str  # the tracker issue, or empty when there is none to link to
    state: str
    title: str
    in_period: int
    total: int
    first_seen: datetime
    last_seen: datetime
    signatures: tuple[str, ...]

    @property
    def reference(self) -> str:
        return reference(self.id)

    @property
    def reply_subject(self) -> str:
        """The subject of the candidate mail staff answer (``[triage C-<id>] title``)."""
        return f"[triage {self.reference}] {self.title}"


@dataclass(frozen=True, slots=True)
class DigestContent:
    """What one digest says; ``rows`` is every defect of the period (the CSV)."""

    digest: DigestConfig
    period: Period
    new: list[DigestItem] = field(default_factory=list)
    top: list[DigestItem] = field(default_factory=list)
    regressions: list[DigestItem] = field(default_factory=list)
    crossed: list[DigestItem] = field(default_factory=list)
    candidates: list[DigestItem] = field(default_factory=list)
    rows: list[DigestItem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        if self.digest.audience == "helpdesk":
            return not self.candidates
        return not (self.new or self.top or self.regressions or self.crossed)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A digest ready to send or preview."""

    subject: str
    text: str
    html: str
    csv_name: str
    csv: bytes


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run did: ``covered`` means another run (or replica) owns that period."""

    digest: str
    status: Status
    period: Period | None = None
    items: int = 0
    error: str = ""


# --- build --------------------------------------------------------------------------------


def build(store: Store, config: Config, digest: DigestConfig, period: Period) -> DigestContent:
    """Read the period's defects from the store (one read snapshot)."""
    link = _linker(config)
    with store.read() as conn:
        counts = _period_counts(conn, period)
        if digest.audience == "helpdesk":
            ids = _candidate_ids(conn)
            items = _items(conn, ids, counts, link)
            return DigestContent(digest, period, candidates=[items[i] for i in ids])
        reopened = _reopened(conn, period)
        items = _items(conn, sorted(set(counts) | reopened), counts, link)
        new = _new_ids(conn, period, counts)
    loud = [i for i in items.values() if i.state not in _QUIET]
    by_count = sorted(loud, key=lambda i: (-i.in_period, i.id))
    return DigestContent(
        digest,
        period,
        new=[i for i in sorted(loud, key=lambda i: i.id) if i.id in new],
        top=[i for i in by_count if i.in_period > 1][:TOP_RECURRING],
        regressions=[items[i] for i in sorted(reopened)],
        crossed=[i for i in by_count if i.in_period >= digest.threshold],
        rows=sorted(items.values(), key=lambda i: (-i.in_period, i.id)),
    )


def _linker(config: Config) -> Callable[[str], str]:
    if config.tracker.kind == "jira":
        base = config.tracker.url.rstrip("/") + "/browse/"
        return lambda key: base + key
    return lambda _key: ""  # the local tracker has no web page: the key is shown


def _period_counts(conn: Connection, period: Period) -> dict[int, int]:
    rows = conn.execute(
        sa.select(messages.c.defect_id, sa.func.count())
        .where(
            messages.c.processed_at >= period.start,
            messages.c.processed_at < period.end,
            messages.c.defect_id.is_not(None),
        )
        .group_by(messages.c.defect_id)
    )
    return {row[0]: row[1] for row in rows}


def _new_ids(conn: Connection, period: Period, counts: dict[int, int]) -> set[int]:
    """Defects of the period with no message recorded before it."""
    in_period = (
        sa.select(messages.c.defect_id)
        .where(messages.c.processed_at >= period.start, messages.c.processed_at < period.end)
        .scalar_subquery()
    )
    older = conn.execute(
        sa.select(messages.c.defect_id)
        .where(messages.c.processed_at < period.start, messages.c.defect_id.in_(in_period))
        .distinct()
    ).scalars()
    return set(counts) - set(older)


def _reopened(conn: Connection, period: Period) -> set[int]:
    return set(
        conn.execute(
            sa.select(outbox.c.defect_id).where(
                outbox.c.kind == str(EffectKind.REOPEN),
                outbox.c.created_at >= period.start,
                outbox.c.created_at < period.end,
            )
        ).scalars()
    )


def _candidate_ids(conn: Connection) -> list[int]:
    """Candidates awaiting confirmation, oldest first."""
    return list(
        conn.execute(
            sa.select(defects.c.id)
            .where(defects.c.state == str(DefectState.CANDIDATE))
            .order_by(defects.c.first_seen, defects.c.id)
        ).scalars()
    )


def _items(
    conn: Connection, ids: Sequence[int], counts: dict[int, int], link: Callable[[str], str]
) -> dict[int, DigestItem]:
    if not ids:
        return {}
    items: dict[int, DigestItem] = {}
    for d in defect_summaries(conn, ids):
        key = d.key or (reference(d.id) if d.state == DefectState.CANDIDATE else "")
        items[d.id] = DigestItem(
            id=d.id,
            key=key,
            url=link(d.key) if d.key else "",
            state=d.state,
            title=d.title,
            in_period=counts.get(d.id, 0),
            total=d.occurrences,
            first_seen=d.first_seen,
            last_seen=d.last_seen,
            signatures=tuple(d.signatures),
        )
    return items


# --- render -------------------------------------------------------------------------------


def render(content: DigestContent) -> Rendered:
    """Subject, text and HTML parts, and the CSV attachment."""
    digest, period = content.digest, content.period
    zone = zone_of(digest)

    def local(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    if digest.audience == "helpdesk":
        summary = f"{len(content.candidates)} candidates awaiting confirmation"
    else:
        summary = (
            f"{len(content.new)} new, {len(content.regressions)} regressions, "
            f"{len(content.crossed)} reached {digest.threshold} occurrences"
        )
    subject = f"[triagebot] {digest.name}: {summary}"
    context: dict[str, Any] = {
        "c": content,
        "digest": digest,
        "summary": summary,
        "since": local(period.start),
        "until": local(period.end),
        "zone": digest.timezone,
        "local": local,
    }
    stamp = period.end.astimezone(zone).strftime("%Y%m%d-%H%M")
    return Rendered(
        subject=subject,
        text=templates.render("digest.txt.j2", **context),
        html=templates.render("digest.html.j2", **context),
        csv_name=f"{digest.name}-{stamp}.csv",
        csv=_csv(content.candidates if digest.audience == "helpdesk" else content.rows),
    )


def zone_of(digest: DigestConfig) -> ZoneInfo:
    """The digest's time zone; an unknown one is a ``ConfigError``."""
    try:
        return ZoneInfo(digest.timezone)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"[[digest]] {digest.name}.timezone", f"unknown time zone {digest.timezone!r}"
        ) from exc


def _csv(items: Iterable[DigestItem]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read non-ASCII titles right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i in items:
        writer.writerow(
            (
                i.key,
                i.state,
                i.title,
                i.in_period,
                i.total,
                i.first_seen.isoformat(),
                i.last_seen.isoformat(),
                " ".join(i.signatures),
            )
        )
    return out.getvalue().encode("utf-8-sig")


# --- run ----------------------------------------------------------------------------------


class DigestRunner:
    """Claims periods, builds, renders and sends digests; ``mailer`` None only previews."""

    def __init__(self, config: Config, store: Store, mailer: Mailer | None) -> None:
        self.config = config
        self.store = store
        self.mailer = mailer
        self.digests = {d.name: d for d in config.digests}

    def digest(self, name: str) -> DigestConfig:
        try:
            return self.digests[name]
        except KeyError:
            known = ", ".join(self.digests) or "none configured"
            raise ConfigError("[[digest]].name", f"no digest {name!r} ({known})") from None

    def last_end(self, name: str) -> datetime | None:
        """Where the next period of ``name`` starts (None before its first run)."""
        with self.store.read() as conn:
            return _last_end(conn, name)

    def preview(self, name: str, now: datetime, since: datetime) -> Rendered:
        """What a digest sent ``now`` would say; claims nothing."""
        start = self.last_end(name) or since
        return render(build(self.store, self.config, self.digest(name), Period(start, now)))

    def run(self, name: str, end: datetime, now: datetime, since: datetime) -> RunResult:
        """Claim the period ending at ``end`` and send it; ``since`` starts a first period."""
        self._require_mailer()
        period = self._claim(name, end, now, since)
        if period is None:
            log.info("digest.covered", digest=name, period_end=end.isoformat())
            return RunResult(name, "covered")
        return self._send(name, period, now)

    def retry_due(self, now: datetime) -> list[RunResult]:
        """Send again what failed transiently (or what a crashed owner left claimed)."""
        self._require_mailer()
        results = []
        for name, period in self._due_retries(now):
            if self._reclaim(name, period, now):
                results.append(self._send(name, period, now))
        return results

    def _send(self, name: str, period: Period, now: datetime) -> RunResult:
        digest = self.digest(name)
        context = {
            "digest": name,
            "since": period.start.isoformat(),
            "until": period.end.isoformat(),
        }
        content = build(self.store, self.config, digest, period)
        if content.empty and not digest.send_empty:
            self._finish(name, period, "empty")
            log.info("digest.empty", **context)
            return RunResult(name, "empty", period)
        items = len(content.candidates) + len(content.rows)
        mailer = self._require_mailer()
        rendered = render(content)
        try:
            message = mailer.compose(
                to=digest.recipients,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                kind="digest",
                attachments=[(rendered.csv_name, "text/csv", rendered.csv)],
            )
            mailer.send(message)
        except NotifyUnavailable as exc:
            retry_at = now + backoff(self._attempts(name, period))
            self._finish(name, period, "retry", error=str(exc), retry_at=retry_at)
            log.warning("digest.retry", **context, error=str(exc), retry_at=retry_at.isoformat())
            return RunResult(name, "retry", period, items, str(exc))
        except NotifyError as exc:
            self._finish(name, period, "failed", error=str(exc))
            log.error("digest.failed", **context, error=str(exc))
            return RunResult(name, "failed", period, items, str(exc))
        self._finish(name, period, "sent", message_id=str(message["Message-ID"]))
        log.info(
            "digest.sent",
            **context,
            recipients=len(digest.recipients),
            items=items,
            message_id=str(message["Message-ID"]),
        )
        return RunResult(name, "sent", period, items)

    def _require_mailer(self) -> Mailer:
        if self.mailer is None:
            raise NotifyError("mail is disabled: no usable [smtp] section")
        return self.mailer

    # --- the digest_runs table -------------------------------------------------------------

    def _claim(self, name: str, end: datetime, now: datetime, since: datetime) -> Period | None:
        try:
            with self.store.write() as conn:
                latest = _last_end(conn, name)
                if latest is not None and latest >= end:
                    return None
                period = Period(latest or since, end)
                conn.execute(
                    sa.insert(digest_runs).values(
                        digest=name,
                        period_end=end,
                        period_start=period.start,
                        state="claimed",
                        claimed_at=now,
                        attempts=0,
                    )
                )
                return period
        except StoreError as exc:  # a replica inserted the same period first (PostgreSQL)
            if isinstance(exc.__cause__, sa.exc.IntegrityError):
                return None
            raise

    def _due_retries(self, now: datetime) -> list[tuple[str, Period]]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(
                    digest_runs.c.digest, digest_runs.c.period_start, digest_runs.c.period_end
                )
                .where(_retryable(now), digest_runs.c.digest.in_(list(self.digests)))
                .order_by(digest_runs.c.period_end)
            ).all()
        return [(r.digest, Period(r.period_start, r.period_end)) for r in rows]

    def _reclaim(self, name: str, period: Period, now: datetime) -> bool:
        """Take a retryable period over; False when a replica was quicker."""
        with self.store.write() as conn:
            done = conn.execute(
                sa.update(digest_runs)
                .where(_row(name, period), _retryable(now))
                .values(state="claimed", claimed_at=now)
            )
            return bool(done.rowcount)

    def _attempts(self, name: str, period: Period) -> int:
        with self.store.read() as conn:
            found: int = conn.execute(
                sa.select(digest_runs.c.attempts).where(_row(name, period))
            ).scalar_one()
            return found

    def _finish(
        self,
        name: str,
        period: Period,
        state: str,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
        message_id: str | None = None,
    ) -> None:
        with self.store.write() as conn:
            conn.execute(
                sa.update(digest_runs)
                .where(_row(name, period))
                .values(
                    state=state,
                    attempts=digest_runs.c.attempts + 1,
                    next_attempt_at=retry_at,
                    error=error[:2000] if error else None,
                    message_id=message_id,
                )
            )


def _last_end(conn: Connection, name: str) -> datetime | None:
    latest: datetime | None = conn.execute(
        sa.select(sa.func.max(digest_runs.c.period_end)).where(digest_runs.c.digest == name)
    ).scalar()
    return latest


def _row(name: str, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(digest_runs.c.digest == name, digest_runs.c.period_end == period.end)


def _retryable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(digest_runs.c.state == "retry", digest_runs.c.next_attempt_at <= now),
        sa.and_(digest_runs.c.state == "claimed", digest_runs.c.claimed_at < now - CLAIM_LEASE),
    )
