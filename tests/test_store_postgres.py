"""What only matters when several replicas share one PostgreSQL store: concurrent batches,
concurrent outbox workers and concurrent digest runs, each of them exactly once. The
backend-neutral store behaviours run on PostgreSQL through ``store_url`` in test_store.py and
test_batching.py; here also one ``triagebot run --once`` against a PostgreSQL store."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import (
    DEV,
    FILE_RULES,
    HELPDESK,
    JIRA,
    MON_8,
    SIG_A,
    SIG_B,
    by_group,
    make_outcome,
    make_signature,
    open_store,
    record,
    runs,
    scheduler_for,
    status,
    wait_for_a_lock_wait,
)
from tests.helpers import (
    Bot,
    jira_config,
    listing,
    sample_group,
    samples,
    seed_maildir,
    wait_until,
    write_rules,
)
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, SmtpConfig, config_from_dict
from triagebot.outbox import run_effects
from triagebot.pipeline import Outcome
from triagebot.rules import Action
from triagebot.scheduler import DigestScheduler
from triagebot.store import Store, messages, outbox, signatures
from triagebot.trackers.local import LocalTracker, local_issues, local_labels

REPLICAS = 2
SIGNATURES = 40


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[list[Store]]:
    """Two ``Store`` objects (two replicas' engines) on one fresh PostgreSQL database."""
    stores = [Store(postgres_url) for _ in range(REPLICAS)]
    for store in stores:
        store.migrate()  # every replica migrates at start: the second finds the schema
    yield stores
    for store in stores:
        store.close()


def in_parallel(*jobs: Callable[[], object]) -> None:
    """Run each job on its own thread, released together; re-raise the first failure."""
    start = threading.Barrier(len(jobs))
    failures: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        start.wait()
        try:
            job()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    if failures:
        raise failures[0]


def outcomes(count: int, action: Action = Action.FILE) -> list[Outcome]:
    sigs = [make_signature(f"{i:016x}") for i in range(SIGNATURES)]
    return [
        make_outcome(f"<{i}@replica>", action, signature=sigs[i % SIGNATURES]) for i in range(count)
    ]


def record_in_batches(store: Store, batch: list[Outcome], size: int) -> None:
    for i in range(0, len(batch), size):
        store.record(batch[i : i + size])


def test_overlapping_batches_from_two_replicas_count_every_message_once(
    replicas: list[Store],
) -> None:
    """Both replicas see the same 1,200 mails in different orders and batch sizes, at the
    same time: each mail is counted once and each signature has exactly one defect."""
    mails = outcomes(1200)
    shuffled = mails[:]
    random.Random(5).shuffle(shuffled)
    in_parallel(
        lambda: record_in_batches(replicas[0], mails, 100),
        lambda: record_in_batches(replicas[1], shuffled, 70),
    )
    found = replicas[1].defects()
    assert len(found) == SIGNATURES
    assert sorted(s for d in found for s in d.signatures) == sorted(
        f"{i:016x}" for i in range(SIGNATURES)
    )
    assert {d.occurrences for d in found} == {1200 // SIGNATURES}
    with replicas[0].read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar() == 1200
        creates = conn.execute(
            sa.select(outbox.c.defect_id).where(outbox.c.kind == "create")
        ).scalars()
        assert sorted(creates) == sorted(d.id for d in found)  # one create per defect


def test_replicas_starting_together_create_the_schema_once(postgres_url: str) -> None:
    """Two replicas migrate and open the local tracker on an empty database at once."""
    stores = [Store(postgres_url) for _ in range(REPLICAS)]
    try:
        in_parallel(*(lambda s=s: (s.migrate(), LocalTracker(s)) for s in stores))
        with stores[0].read() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert {"messages", "defects", "outbox", "local_issues", "local_labels"} <= tables
    finally:
        for store in stores:
            store.close()


def test_a_batch_that_loses_a_race_is_retried(replicas: list[Store]) -> None:
    """Another writer inserts the batch's new signature first (uncommitted): the batch waits,
    fails on the unique key when that commits, and its retry joins the winner's defect."""
    replicas[0].record([make_outcome("<old@x>", signature=make_signature(SIG_A, "v1"))])
    [old] = replicas[0].defects()
    with replicas[0].write() as conn:
        conn.execute(sa.insert(signatures).values(signature=SIG_B, version="v2", defect_id=old.id))
        recorder = threading.Thread(
            target=replicas[1].record,
            args=([make_outcome("<new@x>", signature=make_signature(SIG_B, "v2"))],),
        )
        recorder.start()
        wait_for_a_lock_wait(replicas[0])
    recorder.join(30)
    [defect] = replicas[1].defects()
    assert (defect.id, defect.occurrences, defect.signatures) == (old.id, 2, [SIG_A, SIG_B])


def test_two_outbox_workers_never_perform_an_effect_twice(replicas: list[Store]) -> None:
    """Two workers drain one outbox concurrently with the local tracker: one issue per
    defect, one occurrence update per issue, every effect done once."""
    trackers = [LocalTracker(store) for store in replicas]
    first, later = outcomes(SIGNATURES), outcomes(SIGNATURES * 3)[SIGNATURES:]
    replicas[0].record(first)

    def drain(store: Store, tracker: LocalTracker) -> Callable[[], None]:
        # due a moment after each drain starts, whenever the batch before was recorded
        now = datetime.now(UTC) + timedelta(seconds=1)
        return lambda: [run_effects(store, tracker, now, limit=7) for _ in range(20)]

    in_parallel(*(drain(s, t) for s, t in zip(replicas, trackers, strict=True)))
    replicas[0].record(later)
    in_parallel(*(drain(s, t) for s, t in zip(replicas, trackers, strict=True)))

    with replicas[0].read() as conn:
        issues = conn.execute(sa.select(local_issues.c.id, local_issues.c.comments)).all()
        labels = conn.execute(sa.select(local_labels.c.label)).scalars().all()
    assert len(issues) == SIGNATURES
    assert {row.comments for row in issues} == {1}  # one update each, never two
    assert Counter(labels)[f"errsig-{0:016x}"] == 1
    assert [e for e in replicas[1].effects() if e[1] != "done"] == []
    assert Counter(kind for kind, _, _ in replicas[1].effects()) == {
        "create": SIGNATURES,
        "update": SIGNATURES,
    }
    assert {d.key for d in replicas[1].defects()} == {f"LOCAL-{row.id}" for row in issues}


# --- digests ------------------------------------------------------------------------------


@pytest.fixture
def digest_config(tmp_path: Path, smtp_config: SmtpConfig, postgres_url: str) -> Config:
    rules = write_rules(tmp_path / "rules", FILE_RULES)
    base = config_from_dict({"store": {"url": postgres_url}, "rules": {"path": str(rules)}})
    return replace(
        base,
        smtp=smtp_config,
        digests=(DEV, HELPDESK),
        tracker=jira_config(JIRA + "/", tmp_path),
    )


def test_two_digest_runners_claim_a_period_and_send_once(
    digest_config: Config, smtp_server: SmtpServer
) -> None:
    """Two replicas fire the same digest at the same moment: one sends, one is covered."""
    stores = [open_store(digest_config) for _ in range(REPLICAS)]
    try:
        record(digest_config, stores[0], by_group("appserver"), MON_8 - timedelta(hours=1))
        statuses: list[str] = []
        fire_at = MON_8 + timedelta(seconds=1)

        def fire(scheduler: DigestScheduler) -> Callable[[], None]:
            return lambda: statuses.append(status(scheduler.fire("dev-daily", now=fire_at)))

        in_parallel(*(fire(scheduler_for(digest_config, s)) for s in stores))
        assert sorted(statuses) in (["covered", "sent"], ["nothing due", "sent"])
        assert len(smtp_server.messages) == 1
        assert runs(stores[1]) == [("dev-daily", MON_8 - timedelta(days=1), MON_8, "sent")]
    finally:
        for store in stores:
            store.close()


# --- end to end ---------------------------------------------------------------------------


def test_run_once_on_a_postgresql_store(tmp_path: Path, postgres_url: str) -> None:
    """The shipped samples through ``triagebot run --once`` with only ``[store] url``
    pointing at PostgreSQL: one defect per bug, every mail counted once, a second run idle."""
    bot = Bot(tmp_path)
    bot.configure({"store": {"url": postgres_url}})
    seed_maildir(bot.maildir, samples())
    first = bot.once()
    again = bot.once()

    assert first.named("store.migrated")[0]["backend"] == "postgresql"
    assert not bot.db.exists()
    assert again.named("run.summary")[0]["messages"] == 0
    expected = Counter(sample_group(name) for name, _ in samples())
    found = bot.defects()
    assert sorted(d["occurrences"] for d in found) == sorted(expected.values())


def test_replicas_read_one_mailbox_one_at_a_time_and_take_over_from_a_killed_one(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two ``triagebot run`` processes on one Maildir and one PostgreSQL store: the first
    reads, the second stands by and reads nothing; SIGKILL the first, and the second leads
    at its next attempt and reads the rest. Every mail is recorded and moved once."""
    bot = Bot(tmp_path)
    bot.configure(
        {
            "store": {"url": postgres_url},
            "service": {"failover": 5},
            "logging": {"level": "debug"},  # a line per mail: which replica read it
        }
    )
    mails = samples()
    half = len(mails) // 2
    first = bot.start(tmp_path / "first.log")
    second = None
    try:
        led = first.wait_for_event("intake.leading", timeout=30)
        second = bot.start(tmp_path / "second.log")
        second.wait_for_event("intake.standby", timeout=30)
        seed_maildir(bot.maildir, mails[:half])
        assert wait_until(lambda: not listing(bot.maildir / "new"), 30)
        first.kill()
        killed = time.monotonic()
        took_over = second.wait_for_event("intake.leading", timeout=10)
        took = time.monotonic() - killed
        seed_maildir(bot.maildir, mails[half:])
        assert wait_until(lambda: not listing(bot.maildir / "new"), 30)
    finally:
        first.kill()
        if second is not None:
            assert second.terminate(timeout=15) == 0
    assert took_over["fence"] > led["fence"]  # shown in the log, not masked as a secret
    assert took < 4  # at the next attempt (every 0.5 s), not after the failover time (5 s)
    processed = [e for e in second.events() if e.get("event") == "message.processed"]
    assert len(processed) == len(mails) - half  # the standby read nothing meanwhile
    assert sorted(n.split(":")[0] for n in listing(bot.maildir / "cur")) == sorted(
        name for name, _ in mails
    )
    expected = Counter(sample_group(name) for name, _ in mails)
    assert sorted(d["occurrences"] for d in bot.defects()) == sorted(expected.values())


def test_a_standby_parses_no_mail_and_performs_no_effect_while_the_leader_drains(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two ``triagebot run`` processes on one Maildir and one PostgreSQL store, both up before
    the mail arrives: the leader analyses every mail and performs the effects; the standby's
    ``triagebot_analysed_messages`` stays 0 (its last line says it) and it performs nothing,
    so a second replica costs the leader no parsing and no contention on its defects."""
    bot = Bot(tmp_path)
    bot.configure({"store": {"url": postgres_url}, "service": {"failover": 5}})
    mails = samples()
    leader = bot.start(tmp_path / "leader.log")
    standby = None
    try:
        leader.wait_for_event("intake.leading", timeout=30)
        standby = bot.start(tmp_path / "standby.log")
        standby.wait_for_event("intake.standby", timeout=30)
        seed_maildir(bot.maildir, mails)
        assert wait_until(lambda: not listing(bot.maildir / "new"), 30)
        leader.wait_for_event("outbox.notify_skipped", timeout=30)  # its effects were done
        assert standby.terminate(timeout=15) == 0
        assert leader.terminate(timeout=15) == 0
    finally:
        leader.kill()
        if standby is not None:
            standby.kill()
    [stopped] = [e for e in standby.events() if e.get("event") == "daemon.stopped"]
    assert stopped["analysed"] == 0
    assert [e for e in standby.events() if e.get("event", "").startswith("outbox.")] == []
    [led] = [e for e in leader.events() if e.get("event") == "daemon.stopped"]
    assert led["analysed"] == len(mails)
