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

A developer digest lists what needs a developer first: regressions (reopened, or resolved
and reported again), issues filed in the period, then the defects growing fastest (this
period against the one before), and counts the candidates waiting for the helpdesk in one
line. Each defect appears once. A helpdesk digest lists the candidates by occurrences, each
with ``mailto:`` links that open a ready reply. Lists are capped so the HTML stays under
Gmail's clipping size (about 100 KB); the CSV attachment holds every row. Charts are PNGs
sent with the mail (``triagebot.charts``).

The store keeps the rows and answers the queries (``Store.claim_digest`` and friends,
``Store.period_activity``; see ``triagebot.store.runs`` and ``triagebot.store.queries``);
this module decides what a digest says and when it is sent.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import structlog

from triagebot import charts, templates
from triagebot.backoff import backoff
from triagebot.config import Config, DigestConfig
from triagebot.confirm.mailto import reply_links
from triagebot.errors import ConfigError, NotifyError, NotifyUnavailable
from triagebot.identity import Identity, reference, subject
from triagebot.smtp import Mailer
from triagebot.store import (
    CLAIM_LEASE,
    DefectState,
    DefectSummary,
    Origins,
    Store,
    Trends,
    digest_runs,
)
from triagebot.trackers import configured

# ``CLAIM_LEASE`` and ``digest_runs`` live in the store (``triagebot.store.runs``, ``.schema``);
# they stay importable from here.
__all__ = [
    "CLAIM_LEASE",
    "LISTED",
    "SPARKLINES",
    "Claim",
    "DigestContent",
    "DigestItem",
    "DigestRunner",
    "Image",
    "Period",
    "Rendered",
    "RunResult",
    "build",
    "digest_runs",
    "render",
]

log = structlog.get_logger(__name__)

#: The most defects one section of the HTML and text parts lists (the CSV has them all).
LISTED = 15
#: Defects that get a sparkline, in the order the digest lists them.
SPARKLINES = 10
#: The daily chart shows at least this many days up to the period's end, and at most
#: ``_WINDOW_MAX`` (a first period after a long pause).
_WINDOW_MIN = timedelta(days=14)
_WINDOW_MAX = timedelta(days=92)
#: Tracker states that never appear in a developer digest's lists (they stay in the CSV).
_QUIET = (DefectState.IGNORED, DefectState.REJECTED, DefectState.DUPLICATE)
CSV_COLUMNS = (
    "key",
    "state",
    "title",
    "url",
    "tracker_status",
    "application",
    "environment",
    "version",
    "occurrences_in_period",
    "occurrences_previous_period",
    "occurrences_total",
    "first_seen",
    "last_seen",
    "signatures",
)
#: Timestamps in the CSV: spreadsheet programs read this as a date and time.
CSV_TIME = "%Y-%m-%d %H:%M:%S"

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
    previous: int = 0  # occurrences in the period before
    origins: Origins = field(default_factory=Origins)
    daily: tuple[int, ...] = ()  # occurrences per day of the chart window

    @property
    def label(self) -> str:
        """How the digest names it: the tracker key or candidate reference, else ``#<id>``."""
        return self.key or f"#{self.id}"

    @property
    def trend(self) -> str:
        """This period against the previous one, in words."""
        if self.previous == 0:
            return "new this period" if self.in_period else "none"
        change = self.in_period - self.previous
        if change == 0:
            return f"= {self.previous} before"
        arrow = "\u2191" if change > 0 else "\u2193"
        return f"{arrow} from {self.previous}"

    @property
    def status(self) -> str:
        """State and tracker status: ``filed, In Progress``."""
        status = self.origins.tracker_status
        resolved = "resolved" if self.origins.resolved and not status else ""
        return ", ".join(v for v in (self.state, status, resolved) if v)


@dataclass(frozen=True, slots=True)
class DigestContent:
    """What one digest says; ``rows`` is every defect of the period (the CSV)."""

    digest: DigestConfig
    period: Period
    regressions: list[DigestItem] = field(default_factory=list)
    filed: list[DigestItem] = field(default_factory=list)
    growing: list[DigestItem] = field(default_factory=list)
    candidates: list[DigestItem] = field(default_factory=list)  # helpdesk: by occurrences
    candidates_waiting: int = 0
    candidates_reported: int = 0  # developers: candidates with reports in the period
    rows: list[DigestItem] = field(default_factory=list)
    days: tuple[date, ...] = ()  # the chart window, local days
    per_day: tuple[int, ...] = ()  # the reports the digest is about, per day of ``days``
    links: dict[int, dict[str, str]] = field(default_factory=dict)  # candidate → verb → mailto

    @property
    def empty(self) -> bool:
        if self.digest.audience == "helpdesk":
            return not self.candidates
        return not (self.regressions or self.filed or self.growing or self.candidates_reported)

    @property
    def sections(self) -> list[tuple[str, list[DigestItem], str]]:
        """``(title, items, text when empty)`` in the order the digest shows them."""
        if self.digest.audience == "helpdesk":
            return [("Candidates awaiting confirmation", self.candidates, "Nothing waits.")]
        return [
            ("Regressions", self.regressions, "No regressions."),
            ("Newly filed issues", self.filed, "No issue was filed."),
            ("Growing fastest", self.growing, "Nothing else was reported."),
        ]

    @property
    def listed(self) -> list[DigestItem]:
        """The items the HTML and text parts show, in their order."""
        return [i for _, items, _ in self.sections for i in items[:LISTED]]


@dataclass(frozen=True, slots=True)
class Image:
    """A picture of the HTML part, shown as ``cid:<content_id>``."""

    content_id: str
    data: bytes
    mime_type: str = "image/png"

    @property
    def filename(self) -> str:
        return self.content_id.partition("@")[0] + ".png"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A digest ready to send or preview."""

    subject: str
    text: str
    html: str
    csv_name: str
    csv: bytes
    images: tuple[Image, ...] = ()

    def write(self, folder: Path, stem: str) -> list[Path]:
        """``stem.txt``, ``.html``, ``.csv`` and the images into ``folder``, the HTML pointing
        at the image files instead of ``cid:``, so a browser shows it as a mail client would."""
        folder.mkdir(parents=True, exist_ok=True)
        html = self.html
        files = {f"{stem}.txt": self.text.encode(), f"{stem}.csv": self.csv}
        for image in self.images:
            name = f"{stem}-{image.filename}"
            html = html.replace(f"cid:{image.content_id}", name)
            files[name] = image.data
        files[f"{stem}.html"] = html.encode()
        written = []
        for name, data in files.items():
            (folder / name).write_bytes(data)
            written.append(folder / name)
        return written


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
    window_start = period.end - min(max(period.end - period.start, _WINDOW_MIN), _WINDOW_MAX)
    activity, trends = store.digest_activity(
        period.start,
        period.end,
        candidates=helpdesk,
        window_start=window_start,
        zone=digest.zone,
    )
    days = _days(window_start, period.end, digest)
    items = _items(activity.defects.values(), activity.counts, trends, days, link)
    if helpdesk:
        candidates = sorted(
            (items[i] for i in activity.candidates), key=lambda i: (-i.total, i.id)
        )
        links = {}
        if config.helpdesk is not None:
            identity = Identity.from_config(config)
            links = {
                i.id: reply_links(config.helpdesk, identity, i.id, period.end) for i in candidates
            }
        return DigestContent(
            digest,
            period,
            candidates=candidates,
            candidates_waiting=len(candidates),
            rows=candidates,
            days=days,
            per_day=tuple(sum(i.daily[n] for i in candidates) for n in range(len(days))),
            links=links,
        )
    loud = [
        i for i in items.values() if i.state not in _QUIET and i.state != DefectState.CANDIDATE
    ]
    by_count = sorted(loud, key=lambda i: (-i.in_period, i.id))
    regressions = [
        i
        for i in by_count
        if i.id in activity.reopened or (i.origins.resolved and i.in_period > 0)
    ]
    seen = {i.id for i in regressions}
    filed = [i for i in by_count if i.id in activity.filed and i.id not in seen]
    seen |= {i.id for i in filed}
    growing = sorted(
        (i for i in loud if i.in_period > 0 and i.id not in seen),
        key=lambda i: (-(i.in_period - i.previous), -i.in_period, i.id),
    )
    return DigestContent(
        digest,
        period,
        regressions=regressions,
        filed=filed,
        growing=growing,
        candidates_waiting=trends.candidates_waiting,
        candidates_reported=sum(
            1 for i in items.values() if i.state == DefectState.CANDIDATE and i.in_period
        ),
        rows=sorted(items.values(), key=lambda i: (-i.in_period, i.id)),
        days=days,
        per_day=tuple(trends.reported[day] for day in days),
    )


def _days(start: datetime, end: datetime, digest: DigestConfig) -> tuple[date, ...]:
    """The local days of ``[start, end)``."""
    first = start.astimezone(digest.zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(digest.zone).date()
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def _linker(config: Config) -> Callable[[str], str]:
    """The web page of an issue key ("" for a tracker without pages: the key is shown)."""
    return configured(config.tracker, config.base_dir).url


def _items(
    summaries: Iterable[DefectSummary],
    counts: dict[int, int],
    trends: Trends,
    days: Sequence[date],
    link: Callable[[str], str],
) -> dict[int, DigestItem]:
    """One line per defect, in the order given (the store's: by id)."""
    items: dict[int, DigestItem] = {}
    for d in summaries:
        key = d.key or (reference(d.id) if d.state == DefectState.CANDIDATE else "")
        per_day = trends.daily.get(d.id, Counter())
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
            previous=trends.previous.get(d.id, 0),
            origins=trends.origins.get(d.id, Origins()),
            daily=tuple(per_day[day] for day in days),
        )
    return items


# --- render -------------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    """``1 regression``, ``3 regressions``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render(content: DigestContent, installation: str) -> Rendered:
    """Subject (naming ``installation``), text and HTML parts with their charts, and the CSV
    attachment."""
    digest, period = content.digest, content.period
    zone = digest.zone

    def local(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    if digest.audience == "helpdesk":
        summary = f"{_count(len(content.candidates), 'candidate')} awaiting confirmation"
    else:
        summary = (
            f"{_count(len(content.regressions), 'regression')}, {len(content.filed)} newly "
            f"filed, {len(content.growing)} more reported, "
            f"{_count(content.candidates_waiting, 'candidate')} waiting"
        )
    images = _images(content)
    context: dict[str, Any] = {
        "c": content,
        "digest": digest,
        "summary": summary,
        "since": local(period.start),
        "until": local(period.end),
        "zone": digest.timezone,
        "local": local,
        "listed": LISTED,
        "images": {i.content_id.partition("@")[0]: i.content_id for i in images},
        "chart": charts,
    }
    stamp = period.end.astimezone(zone).strftime("%Y%m%d-%H%M")
    return Rendered(
        subject=subject(installation, summary, about=digest.name),
        text=templates.render("digest.txt.j2", **context),
        html=templates.render("digest.html.j2", **context),
        csv_name=f"{digest.name}-{stamp}.csv",
        csv=_csv(content.rows, digest),
        images=images,
    )


_CONTENT_ID = re.compile(r"[^A-Za-z0-9.-]")


def _images(content: DigestContent) -> tuple[Image, ...]:
    """The period's chart and a sparkline per listed defect that was reported in the window
    (at most ``SPARKLINES``); none for a digest with nothing reported."""
    domain = _CONTENT_ID.sub("-", content.digest.name) + ".triagebot"
    if not any(content.per_day):
        return ()
    period_start = content.period.start.astimezone(content.digest.zone).date()
    chart = charts.daily(content.days, content.per_day, period_start)
    images = [Image(f"daily@{domain}", chart)]
    drawn = [i for i in content.listed if any(i.daily)][:SPARKLINES]
    images += [Image(f"trend-{i.id}@{domain}", charts.sparkline(i.daily)) for i in drawn]
    return tuple(images)


def _csv(items: Iterable[DigestItem], digest: DigestConfig) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read non-ASCII titles right;
    times local to the digest's zone, written as spreadsheet programs read dates."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=digest.csv_delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def local(value: datetime) -> str:
        return value.astimezone(digest.zone).strftime(CSV_TIME)

    for i in items:
        writer.writerow(
            (
                i.key,
                i.state,
                i.title,
                i.url,
                i.origins.tracker_status,
                ", ".join(i.origins.applications),
                ", ".join(i.origins.environments),
                ", ".join(i.origins.versions),
                i.in_period,
                i.previous,
                i.total,
                local(i.first_seen),
                local(i.last_seen),
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
        content = build(self.store, self.config, self.digest(name), Period(start, now))
        return render(content, self.config.installation)

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
            "fence": claim.token,
        }
        if not self.store.hold_digest(name, period.end, claim.token, now):
            log.warning("digest.claim_lost", **context, doing="send")
            return RunResult(name, "covered", period)
        content = build(self.store, self.config, digest, period)
        if content.empty and not digest.send_empty:
            self._finish(claim, "empty")
            log.info("digest.empty", **context)
            return RunResult(name, "empty", period)
        items = len(content.rows)
        mailer = self._require_mailer()
        rendered = render(content, self.config.installation)
        try:
            message = mailer.compose(
                to=digest.recipients,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                kind="digest",
                reply_to=digest.replies_to,
                attachments=[(rendered.csv_name, "text/csv", rendered.csv)],
                inline=[(i.content_id, i.mime_type, i.data) for i in rendered.images],
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
            log.warning("digest.claim_lost", digest=claim.digest, fence=claim.token, doing=state)
