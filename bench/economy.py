"""Tracker economy: how many Jira calls N reports over K signatures cost, counted at the server.

Rules file everything; the tracker is the fake Jira (real HTTP, the real ``jira`` client),
whose request log is counted by kind. Two ways of running the real ``Daemon`` over a Maildir:

- once:    all N mails waiting, ``run(once=True)`` (batches of 500, outbox flushed at the end);
- rerun:   the same in two ``--once`` runs of N/2 mails each on one store, so the second run
           finds every defect filed already and can only send occurrence updates;
- waves:   the daemon keeps running while the mails arrive in W waves a second apart, with
           ``update_interval`` at one second, so occurrences reach Jira in several rounds.

Creates must equal the number of distinct signatures, and updates (one comment each) must
not grow with N: compare the rows for N=500 and N=2,000.

    python bench/economy.py [-n 500 2000] [-k 20] [--waves 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

import mailgen  # noqa: E402
from live import bench_config, configure_logging, maildir_table, rules_dir  # noqa: E402

from tests.fakejira import FakeJira  # noqa: E402
from triagebot.config import Config  # noqa: E402
from triagebot.daemon import Daemon  # noqa: E402
from triagebot.mail.maildir import deliver  # noqa: E402
from triagebot.pipeline import Pipeline  # noqa: E402

TOKEN_ENV = "TRIAGEBOT_BENCH_JIRA_TOKEN"
WAVE_GAP = 1.0  # seconds between two waves of mail
UPDATE_INTERVAL = 1.0  # seconds an occurrence update coalesces in the waves variant
SETTLE_TIMEOUT = 30.0  # seconds to wait for the outbox to empty after the last wave

#: Request kind -> (method, API path pattern), matched in order.
KINDS = (
    ("create", "POST", re.compile(r"issue")),
    ("comment", "POST", re.compile(r"issue/[^/]+/comment")),
    ("edit", "PUT", re.compile(r"issue/[^/]+")),
    ("get", "GET", re.compile(r"issue/[^/]+")),
    ("search", None, re.compile(r"search(/jql)?")),
    ("attach", "POST", re.compile(r"issue/[^/]+/attachments")),
    ("transition", None, re.compile(r"issue/[^/]+/transitions")),
)
COLUMNS = ("create", "comment", "edit", "search", "get", "attach", "transition", "other")


def kinds(fake: FakeJira) -> Counter[str]:
    """The fake's request log, counted by kind."""
    counts: Counter[str] = Counter()
    for request in fake.requests:
        kind = next(
            (
                name
                for name, method, path in KINDS
                if method in (None, request.method) and path.fullmatch(request.path)
            ),
            "other",
        )
        counts[kind] += 1
    return counts


def jira_config(root: Path, fake: FakeJira, update_interval: float) -> Config:
    os.environ[TOKEN_ENV] = next(iter(fake.users.values()))
    tracker = {
        "kind": "jira",
        "url": fake.url,
        "project": "OPS",
        "username": next(iter(fake.users)),
        "token_env": TOKEN_ENV,
        "update_interval": update_interval,
    }
    mailbox = maildir_table(root / "Maildir") | {"batch_size": 500}
    return bench_config(root, mailbox, rules_dir(root, shipped=False), tracker=tracker)


def distinct_signatures(config: Config, mails: list[bytes]) -> int:
    """What the pipeline says the mails are: the number of creates to expect."""
    pipeline = Pipeline.from_config(config)
    return len({s.value for raw in mails if (s := pipeline.process(raw).signature)})


def pending_effects(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        )


def recorded(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])


async def run_once(config: Config, maildir: Path, mails: list[bytes]) -> None:
    for raw in mails:
        deliver(maildir, raw, fsync=False)
    await Daemon.from_config(config).run(once=True)


async def run_waves(config: Config, maildir: Path, mails: list[bytes], waves: int) -> None:
    """Deliver in waves while the daemon runs; stop once every mail is recorded and the
    outbox has nothing left that is due (the outbox wakes every 10 s at the latest)."""
    daemon = Daemon.from_config(config)
    running = asyncio.create_task(daemon.run())
    db = Path(config.store.url.removeprefix("sqlite:///"))
    size = -(-len(mails) // waves)
    try:
        for start in range(0, len(mails), size):
            for raw in mails[start : start + size]:
                deliver(maildir, raw, fsync=False)
            await asyncio.sleep(WAVE_GAP)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline and (recorded(db) < len(mails) or pending_effects(db)):
            await asyncio.sleep(0.2)
    finally:
        daemon.stop()
        await running


def measure(n: int, k: int, variant: str, waves: int, seed: int) -> tuple[int, Counter[str]]:
    """(expected creates, Jira requests by kind) for one fresh run."""
    pool = mailgen.bug_pool(k, seed=seed)
    mails = [m.raw for m in mailgen.generate(n, seed, pool=pool, non_report_rate=0.0)]
    with tempfile.TemporaryDirectory(prefix="triagebot-economy-") as tmp, FakeJira() as fake:
        root = Path(tmp)
        interval = UPDATE_INTERVAL if variant == "waves" else 900.0
        config = jira_config(root, fake, interval)
        expected = distinct_signatures(config, mails)
        maildir = root / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        if variant == "once":
            asyncio.run(run_once(config, maildir, mails))
        elif variant == "rerun":
            asyncio.run(run_once(config, maildir, mails[: n // 2]))
            asyncio.run(run_once(config, maildir, mails[n // 2 :]))
        else:
            asyncio.run(run_waves(config, maildir, mails, waves))
        done = recorded(root / "triagebot.db")
        if done != n:
            print(f"  !! only {done} of {n} mails recorded")
        return expected, kinds(fake)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, nargs="+", default=[500, 2_000])
    parser.add_argument("-k", type=int, default=20, help="distinct bugs (default 20)")
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    configure_logging("warning", sys.stderr)
    header = f"{'variant':<8} {'N':>6} {'sigs':>5} " + " ".join(f"{c:>10}" for c in COLUMNS)
    print(f"K={args.k} bugs, rules file everything, Jira requests counted at the fake server")
    print(header)
    failures: list[str] = []
    for variant in ("once", "rerun", "waves"):
        for n in args.n:
            expected, counts = measure(n, args.k, variant, args.waves, args.seed)
            cells = " ".join(f"{counts[c]:>10}" for c in COLUMNS)
            print(f"{variant:<8} {n:>6} {expected:>5} {cells}")
            if counts["create"] != expected:
                failures.append(f"{variant} N={n}: {counts['create']} creates for {expected}")
            rounds = {"once": 0, "rerun": 1}.get(variant, args.waves + 1)
            bound = expected * rounds
            if counts["comment"] > bound:
                failures.append(f"{variant} N={n}: {counts['comment']} comments > {bound}")
    print(
        "creates == signatures, comments <= signatures x rounds: "
        + ("ok" if not failures else "MISSED\n  " + "\n  ".join(failures))
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
