"""Digests: build, render and send one summary mail for a period, exactly once per period.

Each run covers ``[start, end)``: ``end`` is the scheduled fire time (or "now" for a manual
send) and ``start`` is the end of the digest's previous run, stored in ``digest_runs``, so
"since the last digest" survives restarts. A run first *claims* its period with a row whose
key is ``(digest, period_end)`` in one write transaction; a replica that finds the period
claimed does nothing, so two replicas never both send. Each claim carries a fencing token:
the claimer renews it just before sending and ends its attempt under it, so a replica that
wakes up after another took its period over sends nothing and overwrites nothing (a crash
mid-send is taken over after ``CLAIM_LEASE``). A send that fails leaves the row
``retry`` with a back-off and the explanation (``retry_due`` sends it later): a refusal (a 5xx
after a configuration mistake) is a setting to fix, so the digest waits for the fix too.
Periods are counted by when triagebot recorded a mail (``processed_at``), not by the mail's
own Date, so late or clock-skewed reports still land in the next digest.

The store keeps the rows and answers the queries (``Store.claim_digest`` and friends,
``Store.period_activity``; see ``triagebot.store.runs`` and ``triagebot.store.queries``);
this module decides what a digest says and when it is sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog

from triagebot import templates
from triagebot.backoff import backoff
from triagebot.config import Config, DigestConfig
from triagebot.errors import ConfigError, NotifyError, NotifyUnavailable
from triagebot.identity import reference
from triagebot.smtp import Mailer
from triagebot.store import CLAIM_LEASE, DefectState, DefectSummary, Store, digest_runs
from triagebot.trackers import configured

# ``CLAIM_LEASE`` and ``digest_runs`` live in the store (``triagebot.store.runs``, ``.schema``);
# they stay importable from here.
__all__ = [
    "CLAIM_LEASE",
    "TOP_RECURRING",
    "Claim",
    "DigestContent",
    "DigestItem",
    "DigestRunner",
    "Period",
    "Rendered",
    "RunResult",
    "build",
    "digest_runs",
    "render",
]

log = structlog.get_logger(__name__)

TOP_RECURRING = 10  # defects listed under "top recurring"
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

Status = Literal["sent", "empty", "covered", "retry"]


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
class Claim:
    """A digest period this replica claimed, under fencing ``token``."""

    digest: str
    period: Period
    token: int


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
    helpdesk = digest.audience == "helpdesk"
    activity = store.period_activity(period.start, period.end, candidates=helpdesk)
    items = _items(activity.defects.values(), activity.counts, link)
    if helpdesk:
        return DigestContent(digest, period, candidates=[items[i] for i in activity.candidates])
    loud = [i for i in items.values() if i.state not in _QUIET]
    by_count = sorted(loud, key=lambda i: (-i.in_period, i.id))
    return DigestContent(
        digest,
        period,
        new=[i for i in sorted(loud, key=lambda i: i.id) if i.id in activity.new],
        top=[i for i in by_count if i.in_period > 1][:TOP_RECURRING],
        regressions=[items[i] for i in sorted(activity.reopened)],
        crossed=[i for i in by_count if i.in_period >= digest.threshold],
        rows=sorted(items.values(), key=lambda i: (-i.in_period, i.id)),
    )


def _linker(config: Config) -> Callable[[str], str]:
    """The web page of an issue key ("" for a tracker without pages: the key is shown)."""
    return configured(config.tracker, config.base_dir).url


def _items(
    summaries: Iterable[DefectSummary], counts: dict[int, int], link: Callable[[str], str]
) -> dict[int, DigestItem]:
    """One line per defect, in the order given (the store's: by id)."""
    items: dict[int, DigestItem] = {}
    for d in summaries:
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
    zone = digest.zone

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
        return self.store.last_digest_end(name)

    def preview(self, name: str, now: datetime, since: datetime) -> Rendered:
        """What a digest sent ``now`` would say; claims nothing."""
        start = self.last_end(name) or since
        return render(build(self.store, self.config, self.digest(name), Period(start, now)))

    def run(self, name: str, end: datetime, now: datetime, since: datetime) -> RunResult:
        """Claim the period ending at ``end`` and send it; ``since`` starts a first period."""
        self._require_mailer()
        claim = self.claim(name, end, now, since)
        if claim is None:
            log.info("digest.covered", digest=name, period_end=end.isoformat())
            return RunResult(name, "covered")
        return self.send(claim, now)

    def retry_due(self, now: datetime) -> list[RunResult]:
        """Send again what failed transiently (or what a crashed owner left claimed)."""
        self._require_mailer()
        results = []
        for name, start, end in self.store.digest_retries_due(now, list(self.digests)):
            token = self.store.reclaim_digest(name, end, now)
            if token is not None:  # else a replica was quicker
                results.append(self.send(Claim(name, Period(start, end), token), now))
        return results

    def claim(self, name: str, end: datetime, now: datetime, since: datetime) -> Claim | None:
        """Claim the period of ``name`` ending at ``end`` (None: another run covers it)."""
        claimed = self.store.claim_digest(name, end, now, since)
        if claimed is None:
            return None
        start, token = claimed
        return Claim(name, Period(start, end), token)

    def send(self, claim: Claim, now: datetime) -> RunResult:
        """Build and send a claimed period, unless another replica took it over meanwhile
        (``covered``: this one was paused past ``CLAIM_LEASE``)."""
        name, period = claim.digest, claim.period
        digest = self.digest(name)
        context = {
            "digest": name,
            "since": period.start.isoformat(),
            "until": period.end.isoformat(),
            "token": claim.token,
        }
        if not self.store.hold_digest(name, period.end, claim.token, now):
            log.warning("digest.claim_lost", **context, doing="send")
            return RunResult(name, "covered", period)
        content = build(self.store, self.config, digest, period)
        if content.empty and not digest.send_empty:
            self._finish(claim, "empty")
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
        except NotifyError as exc:  # away, or refused until a setting is fixed: kept for later
            retry_at = now + backoff(self.store.digest_attempts(name, period.end))
            self._finish(claim, "retry", error=str(exc), retry_at=retry_at)
            level = log.warning if isinstance(exc, NotifyUnavailable) else log.error
            level("digest.retry", **context, error=str(exc), retry_at=retry_at.isoformat())
            return RunResult(name, "retry", period, items, str(exc))
        self._finish(claim, "sent", message_id=str(message["Message-ID"]))
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

    def _finish(
        self,
        claim: Claim,
        state: str,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
        message_id: str | None = None,
    ) -> None:
        """End the claim's attempt; one taken over meanwhile writes nothing (logged)."""
        done = self.store.finish_digest(
            claim.digest,
            claim.period.end,
            claim.token,
            state,
            error=error,
            retry_at=retry_at,
            message_id=message_id,
        )
        if not done:
            log.warning("digest.claim_lost", digest=claim.digest, token=claim.token, doing=state)
