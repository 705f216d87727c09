"""Crash test: ``triagebot run`` is SIGKILLed at random moments while mail keeps arriving, then
restarted; at the end every mail was acknowledged and counted exactly once and every filed
signature has exactly one tracker issue.

The seed is printed; set ``TRIAGEBOT_CRASH_SEED`` to replay a failing run.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import TypeVar

import pytest

from bench.mailgen import bug_pool, generate
from tests.helpers import GARBAGE, Bot, listing, seed_maildir, write_rules
from triagebot.config import config_from_dict
from triagebot.pipeline import Pipeline

T = TypeVar("T")
SEED = int(os.environ.get("TRIAGEBOT_CRASH_SEED", "20240917"))
BUGS = 20
MAILS = 900
GARBAGE_MAILS = 4
CYCLES = 8
BATCH_SIZE = 3
FILE_RULES = [
    {
        "name": "file-jvm-and-python",
        "description": "Java and Python services are filed straight away.",
        "language": ["java", "python"],
        "action": "file",
    }
]


def expected_outcomes(
    mails: list[tuple[str, bytes]], rules: Path
) -> tuple[set[str], Counter[str], set[str]]:
    """Store keys, mails per signature and the filed signatures, as the pipeline sees them."""
    pipeline = Pipeline.from_config(config_from_dict({"rules": {"path": str(rules)}}))
    message_ids: set[str] = set()
    per_signature: Counter[str] = Counter()
    filed: set[str] = set()
    for _, raw in mails:
        outcome = pipeline.process(raw)
        assert outcome.store_key not in message_ids  # the generator's mails are all distinct
        message_ids.add(outcome.store_key)
        if outcome.signature is not None:
            per_signature[outcome.signature.value] += 1
            if outcome.action == "file":
                filed.add(outcome.signature.value)
    return message_ids, per_signature, filed


def waves(mails: list[T], count: int) -> list[list[T]]:
    """A third of the mail is waiting at the first start; the rest arrives between restarts."""
    first = len(mails) // 3
    step = -(-(len(mails) - first) // (count - 1))
    rest = [mails[i : i + step] for i in range(first, len(mails), step)]
    return [mails[:first], *rest, *([[]] * (count - 1 - len(rest)))]


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    print(f"crash test seed {SEED} (TRIAGEBOT_CRASH_SEED)")
    rng = random.Random(SEED)
    mails = [
        (f"m{i:05d}", mail.raw)
        for i, mail in enumerate(generate(MAILS, SEED, pool=bug_pool()[:BUGS]), 1)
    ]
    for n in range(GARBAGE_MAILS):
        mails.insert(rng.randrange(len(mails)), (f"g{n:05d}", GARBAGE + str(n).encode()))
    rules = write_rules(tmp_path / "rules", FILE_RULES)
    message_ids, per_signature, filed = expected_outcomes(mails, rules)
    assert len(per_signature) >= 15 and len(filed) >= 2  # the test covers what it claims

    bot = Bot(tmp_path)
    bot.configure(
        {
            "mailbox": {"batch_size": BATCH_SIZE},
            "rules": {"path": str(rules)},
            "tracker": {"update_interval": 0},  # updates go out at once: more crash points
        }
    )
    interrupted = 0
    for cycle, wave in enumerate(waves(mails, CYCLES)):
        seed_maildir(bot.maildir, wave)
        daemon = bot.start(tmp_path / f"run-{cycle}.log")
        try:
            daemon.wait_for_event("daemon.started")
            time.sleep(rng.uniform(0.05, 0.5))
        finally:
            daemon.kill()
        waiting = len(listing(bot.maildir / "new"))
        interrupted += waiting > 0
        print(f"cycle {cycle}: killed with {waiting} mails still in new/")
    # A worker killed while performing an effect keeps its lease (EFFECT_LEASE) so no other
    # worker repeats it meanwhile; let every lease lapse, as the clock would.
    with sqlite3.connect(bot.db) as conn:
        conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000'")
    bot.once()

    # Every mail acknowledged exactly once.
    assert listing(bot.maildir / "new") == []
    done = listing(bot.maildir / "cur") + listing(bot.maildir / ".Quarantine" / "new")
    assert sorted(done) == sorted(name for name, _ in mails)
    assert len(listing(bot.maildir / ".Quarantine" / "new")) == GARBAGE_MAILS

    with sqlite3.connect(bot.db) as conn:
        recorded = [row[0] for row in conn.execute("SELECT message_id FROM messages")]
        occurrence_rows = Counter(
            row[0]
            for row in conn.execute(
                "SELECT s.signature FROM occurrences o JOIN signatures s USING (defect_id)"
            )
        )
        issues = list(
            conn.execute(
                "SELECT l.label, i.id, i.occurrences FROM local_issues i"
                " JOIN local_labels l ON l.issue_id = i.id WHERE l.label LIKE 'errsig-%'"
            )
        )
    assert sorted(recorded) == sorted(message_ids)
    assert occurrence_rows == per_signature

    # One defect per signature, counted right; one tracker issue per filed signature.
    defects = bot.defects()
    assert sorted(s for d in defects for s in d["signatures"]) == sorted(per_signature)
    assert {d["signatures"][0]: d["occurrences"] for d in defects} == per_signature
    assert {d["signatures"][0] for d in defects if d["state"] == "filed"} == filed
    by_label = {label.removeprefix("errsig-"): (f"LOCAL-{i}", n) for label, i, n in issues}
    assert len(issues) == len(by_label) == len(filed)
    for defect in defects:
        sig = defect["signatures"][0]
        if sig in filed:
            assert by_label[sig] == (defect["key"], defect["occurrences"])
        else:
            assert defect["key"] is None
    print(f"{interrupted} of {CYCLES} kills interrupted work in progress")
    assert interrupted >= 1  # else no kill hit the daemon while it had mail to process
