"""When digests go out: one APScheduler cron job per ``[[digest]]`` plus a retry sweep.

APScheduler's in-memory job store forgets everything on restart, so "was a run missed?" is
answered from the database instead: the latest fire time at or before now that no stored run
covers yet is due, if it is no older than the misfire grace. ``catch_up`` sends such a run once
at start (several missed fires coalesce into one digest covering the whole gap); the cron jobs
then take over. Each run claims its period in the database before sending (see
``triagebot.digest``), so replicas running the same schedule send once between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim, CronSimError

from triagebot.clock import Clock, system_clock
from triagebot.config import Config, DigestConfig
from triagebot.digest import DigestRunner, Rendered, RunResult
from triagebot.errors import TriagebotError
from triagebot.smtp import Mailer
from triagebot.store import Store

__all__ = [
    "MISFIRE_GRACE",
    "RETRY_SWEEP",
    "CronSchedule",
    "DigestScheduler",
    "last_fire",
    "next_fires",
    "start_digests",
    "trigger_for",
]

log = structlog.get_logger(__name__)

#: How late a digest may still go out; a later one rolls into the next period (nothing lost).
MISFIRE_GRACE = timedelta(hours=6)
RETRY_SWEEP = timedelta(minutes=5)  # how often transiently failed digests are tried again
_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)


class CronSchedule(BaseTrigger):  # type: ignore[misc]
    """A cron line as cron means it, in a time zone, as an APScheduler trigger.

    ``cronsim`` reads the line: day-of-week 0 and 7 are Sunday and 1-5 Monday to Friday
    (APScheduler's own cron numbers Monday 0), and when both day-of-month and day-of-week are
    restricted either one matching fires. Times are wall-clock times in ``zone``: one in a
    spring-forward gap fires when the gap ends, one in the repeated autumn hour fires once.
    """

    def __init__(self, line: str, zone: ZoneInfo) -> None:
        """``ValueError`` for a line that is not cron (``config`` refuses it first)."""
        self.line, self.zone = line, zone
        try:
            CronSim(line, datetime(2000, 1, 1, tzinfo=zone))
        except CronSimError as exc:
            raise ValueError(f"{line!r} is not a cron line: {exc}") from None

    def fires_after(self, moment: datetime) -> Iterator[datetime]:
        """Fire times strictly after ``moment``, in UTC. Compared in UTC: inside the repeated
        autumn hour a wall time names two instants, and the earlier one has passed."""
        for fire in CronSim(self.line, moment.astimezone(self.zone)):
            if (utc := fire.astimezone(UTC)) > moment:
                yield utc

    def last_fire(self, moment: datetime) -> datetime | None:
        """The latest fire time at or before ``moment``, in UTC."""
        start = (moment + _TICK).astimezone(self.zone)
        for fire in CronSim(self.line, start, reverse=True):
            if (utc := fire.astimezone(UTC)) <= moment:
                return utc
        return None

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """APScheduler's question: the first fire time at or after ``now`` (and after the
        previous fire, when there was one)."""
        start = now if previous_fire_time is None else max(now, previous_fire_time + _TICK)
        return next(self.fires_after(start - _TICK), None)

    def __str__(self) -> str:
        return f"cron[{self.line!r} {self.zone.key}]"


def trigger_for(digest: DigestConfig) -> CronSchedule:
    """The digest's cron schedule in its time zone (``config`` checked both)."""
    return CronSchedule(digest.schedule, digest.zone)


def last_fire(trigger: CronSchedule, now: datetime) -> datetime | None:
    """The latest fire time at or before ``now`` (UTC)."""
    return trigger.last_fire(now)


def next_fires(trigger: CronSchedule, now: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times after ``now`` (UTC), as ``check-config`` shows them."""
    return list(islice(trigger.fires_after(now), count))


class DigestScheduler:
    """Runs every configured digest on its schedule; ``clock`` is replaceable for tests."""

    def __init__(
        self,
        runner: DigestRunner,
        *,
        clock: Clock = system_clock,
        grace: timedelta = MISFIRE_GRACE,
    ) -> None:
        self.runner = runner
        self.clock = clock
        self.grace = grace
        self.triggers = {name: trigger_for(d) for name, d in runner.digests.items()}
        self._scheduler: BackgroundScheduler | None = None

    def due(self, name: str, now: datetime) -> datetime | None:
        """The fire time a run at ``now`` should cover, or None when nothing is due."""
        fire = last_fire(self.triggers[name], now)
        if fire is None or now - fire > self.grace:
            return None
        last = self.runner.last_end(name)
        return fire if last is None or fire > last else None

    def next_fire(self, name: str, now: datetime | None = None) -> datetime | None:
        now = now or self.clock()
        return self.triggers[name].get_next_fire_time(None, now)

    def fire(self, name: str, now: datetime | None = None) -> RunResult | None:
        """The cron job: send the digest for the latest fire time if nobody has yet."""
        now = now or self.clock()
        fire = self.due(name, now)
        if fire is None:
            return None
        return self._run(name, fire, now)

    def catch_up(self, now: datetime | None = None) -> list[RunResult]:
        """At start: send, once, each digest whose last fire time passed while we were down.

        A digest that never ran has missed nothing; its first run is its next fire time.
        """
        now = now or self.clock()
        results = []
        for name in self.triggers:
            fire = self.due(name, now) if self.runner.last_end(name) is not None else None
            if fire is not None:
                log.info("digest.missed", digest=name, fire_time=fire.isoformat())
                results.append(self._run(name, fire, now))
        return results

    def retry(self, now: datetime | None = None) -> list[RunResult]:
        return self.runner.retry_due(now or self.clock())

    def start(self) -> None:
        """Schedule the jobs, and a catch-up now; they all run on the scheduler's threads."""
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(self.grace.total_seconds()),
                "max_instances": 1,
            },
        )
        for name, trigger in self.triggers.items():
            scheduler.add_job(
                self._guard, trigger, args=["fire", self.fire, name], id=f"digest:{name}"
            )
        scheduler.add_job(self._guard, args=["catch_up", self.catch_up], id="digest:catch-up")
        scheduler.add_job(
            self._guard,
            "interval",
            seconds=RETRY_SWEEP.total_seconds(),
            args=["retry", self.retry],
            id="digest:retry",
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "digest.scheduled",
            digests={n: _iso(self.next_fire(n)) for n in self.triggers},
        )

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None

    def scheduled(self) -> dict[str, datetime | None]:
        """Next run of each job as APScheduler holds it (empty when not started)."""
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def preview(self, name: str, now: datetime | None = None) -> Rendered:
        """The digest as it would go out now; nothing is claimed or sent."""
        now = now or self.clock()
        self.runner.digest(name)
        return self.runner.preview(name, now, self._first_start(name, now))

    def send_now(self, name: str, now: datetime | None = None) -> RunResult:
        """Send the period up to now at once; the next scheduled run continues from here."""
        now = now or self.clock()
        self.runner.digest(name)
        return self._run(name, now, now)

    def _run(self, name: str, end: datetime, now: datetime) -> RunResult:
        return self.runner.run(name, end, now, self._first_start(name, end))

    def _first_start(self, name: str, end: datetime) -> datetime:
        """Where a digest's very first period starts: the fire time before ``end``."""
        return last_fire(self.triggers[name], end - _SECOND) or end - timedelta(days=1)

    @staticmethod
    def _guard(what: str, job: Callable[..., object], *args: object) -> None:
        """A failing run is logged and retried by the next fire or sweep, never fatal."""
        try:
            job(*args)
        except TriagebotError as exc:
            log.error("digest.job_failed", job=what, args=[str(a) for a in args], error=str(exc))


def start_digests(config: Config, store: Store, mailer: Mailer | None) -> DigestScheduler | None:
    """The running digest scheduler, or None after one line saying why there is none."""
    if not config.digests:
        log.info("digest.disabled", reason="no [[digest]] configured")
        return None
    names = [d.name for d in config.digests]
    if mailer is None:  # mail_enabled already warned, naming digests among the mail features
        log.info("digest.disabled", digests=names, reason="mail is disabled (see mail.disabled)")
        return None
    scheduler = DigestScheduler(DigestRunner(config, store, mailer), clock=store.clock)
    scheduler.start()
    return scheduler


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
