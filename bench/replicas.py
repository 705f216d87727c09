"""Replicas drill: ``triagebot run`` processes sharing one Dovecot mailbox and one durable
PostgreSQL store (fsync and synchronous commit on), with the local tracker in that store.

Drill (default): mails are appended while the replicas run; meanwhile replicas are SIGKILLed
at random (and started again), the intake leader is SIGSTOPped for longer than the failover
time (then continued), and PostgreSQL is stopped and started again. Then every replica is
stopped and the figures checked: nothing lost (INBOX empty, every mail recorded), nothing
twice (no Message-ID twice in ``Processed``), occurrence counts equal to the report mails,
one tracker issue and one signature label per filed defect, no update effect performed twice.
The failover time printed is from the leader's SIGSTOP to another replica's first lead.

Throughput (``--throughput``): the same mails are delivered to a fresh mailbox once 1, 2 or 3
replicas are up and have elected their leader; printed: msg/s from delivery to an empty
inbox, and for each replica its role, the mails it analysed and the CPU seconds it used.

    python bench/replicas.py [-n 5000] [--replicas 3] [--kills 30] [--failover 5] [--seed 1]
    python bench/replicas.py --throughput [-n 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

import mailgen  # noqa: E402
import psycopg  # noqa: E402
from imapclient import IMAPClient  # noqa: E402
from live import PASSWORD_ENV, imap_table, rules_dir  # noqa: E402

from tests.helpers import parse_events, toml  # noqa: E402
from tests.servers import HOST  # noqa: E402
from tests.servers.dovecot import DovecotServer, Mailbox  # noqa: E402
from tests.servers.postgres import PostgresServer, find_bindir  # noqa: E402

CHUNK = 50  # mails per MULTIAPPEND while the replicas run


@dataclass
class Replica:
    """One ``triagebot run`` process, started again under the same log after a kill."""

    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "triagebot.cli", "-c", str(self.config), "run"],
                stderr=sink,
                env=env,
                cwd=self.config.parent,
            )

    @property
    def holder(self) -> str:
        assert self.proc is not None
        return f"{os.uname().nodename}:{self.proc.pid}"

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def cpu(self) -> float:
        """CPU seconds used so far by the process and its children still running (the
        analysis workers): user and system time, from ``/proc``."""
        assert self.proc is not None
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def ready(self) -> bool:
        """It leads, or stands by."""
        events = parse_events(self.log.read_text(encoding="utf-8", errors="replace"))
        return any(e.get("event") in ("intake.leading", "intake.standby") for e in events)

    def parsed(self) -> int | None:
        """The mails the replica analysed in its last run (``daemon.stopped``'s count; None
        when its stop was forced)."""
        events = parse_events(self.log.read_text(encoding="utf-8", errors="replace"))
        stops = [e for e in events if e.get("event") in ("daemon.stopped", "daemon.stop_forced")]
        return int(stops[-1]["analysed"]) if stops and "analysed" in stops[-1] else None


class Deployment:
    """A Dovecot user, a schema in the durable PostgreSQL, and a config for the replicas."""

    def __init__(
        self,
        root: Path,
        dovecot: DovecotServer,
        pg: PostgresServer,
        failover: float,
    ):
        self.root, self.pg = root, pg
        self.box: Mailbox = dovecot.add_user()
        os.environ[PASSWORD_ENV] = self.box.password
        self.url = pg.database()
        self.schema = self.url.rsplit("%3D", 1)[1]
        self.config = root / "triagebot.toml"
        sections = {
            "mailbox": {**imap_table(dovecot.port, self.box.username), "batch_size": 100},
            "store": {"url": self.url},
            "tracker": {"kind": "local", "update_interval": 1.0},  # updates within the drill
            "rules": {"path": str(rules_dir(root, shipped=True))},
            "logging": {"level": "info", "format": "json"},
            "service": {"failover": failover, "workers": 1},
        }
        self.config.write_text(toml(sections), encoding="utf-8")

    def replicas(self, count: int) -> list[Replica]:
        return [Replica(self.config, self.root / f"replica{i}.log") for i in range(count)]

    def query(self, sql: str) -> list[tuple[object, ...]]:
        dsn = f"host={HOST} port={self.pg.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute(f'SET search_path = "{self.schema}"')
            return list(conn.execute(sql).fetchall())

    def leader(self) -> str | None:
        try:
            rows = self.query("SELECT holder FROM leases WHERE name = 'intake'")
        except psycopg.Error:
            return None
        return str(rows[0][0]) if rows else None

    def inbox(self) -> int:
        return len(self.box.uids())

    def settled(self) -> bool:
        """The inbox is empty and no effect is due."""
        try:
            due = self.query("SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0]
        except psycopg.Error:
            return False
        return self.inbox() == 0 and due == 0

    def processed_ids(self) -> Counter[bytes]:
        client = IMAPClient(HOST, self.box.server.port, ssl=False)
        client.login(self.box.username, self.box.password)
        client.select_folder("Processed", readonly=True)
        data = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        client.logout()
        return Counter(
            next(iter(v for k, v in item.items() if k.startswith(b"BODY"))).strip()
            for item in data.values()
        )


def wait(probe: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.2)
    return False


def drill(args: argparse.Namespace, root: Path, dovecot: DovecotServer, pg: PostgresServer) -> int:
    dep = Deployment(root, dovecot, pg, args.failover)
    mails = [m.raw for m in mailgen.generate(args.n, args.seed, pool=mailgen.bug_pool()[:40])]
    replicas = dep.replicas(args.replicas)
    for replica in replicas:
        replica.start()
    assert wait(lambda: dep.leader() is not None, 60), "no replica took the lead"
    feeding = threading.Thread(
        target=lambda: [
            (dep.box.append(mails[i : i + CHUNK]), time.sleep(0.05))
            for i in range(0, len(mails), CHUNK)
        ]
    )
    started = time.monotonic()
    feeding.start()
    rng = random.Random(args.seed)
    failovers: list[float] = []
    for kill in range(args.kills):
        time.sleep(rng.uniform(0.3, 1.5))
        if kill == args.kills // 3:  # freeze the leader for longer than the failover time
            frozen = next((r for r in replicas if r.holder == dep.leader()), replicas[0])
            frozen.signal(signal.SIGSTOP)
            at = time.monotonic()
            wait(lambda f=frozen: dep.leader() not in (None, f.holder), args.failover * 4)
            failovers.append(time.monotonic() - at)
            time.sleep(max(0.0, args.failover * 1.5 - (time.monotonic() - at)))
            frozen.signal(signal.SIGCONT)
        if kill == args.kills // 2:  # PostgreSQL restarts under the replicas
            pg.stop()
            time.sleep(2.0)
            pg.start()
        victim = rng.choice(replicas)
        victim.kill()
        victim.start()
    feeding.join()
    drained = wait(dep.settled, 600)
    took = time.monotonic() - started
    codes = [r.stop() for r in replicas]

    processed = dep.processed_ids()
    recorded = dep.query("SELECT count(*), count(defect_id) FROM messages")[0]
    occurrences = dep.query("SELECT coalesce(sum(occurrences), 0) FROM defects")[0][0]
    filed = dep.query("SELECT count(*) FROM defects WHERE tracker_key IS NOT NULL")[0][0]
    issues = dep.query("SELECT count(*) FROM local_issues")[0][0]
    labels = dep.query(
        "SELECT count(*), count(DISTINCT label) FROM local_labels WHERE label LIKE 'errsig-%'"
    )[0]
    updates = dep.query("SELECT count(*) FROM outbox WHERE kind = 'update' AND state = 'done'")
    comments = dep.query("SELECT coalesce(sum(comments), 0) FROM local_issues")[0][0]
    print(f"mails {len(mails)}, replicas {args.replicas}, kills {args.kills}, drained {drained}")
    print(f"  run {took:.1f} s, exit codes {codes}, failover {[round(f, 1) for f in failovers]} s")
    print(
        f"  inbox left {dep.inbox()}, Processed {sum(processed.values())}, "
        f"twice in Processed {sum(n - 1 for n in processed.values() if n > 1)}"
    )
    print(
        f"  recorded {recorded[0]}, lost {len(mails) - recorded[0]}, "
        f"occurrences {occurrences} for {recorded[1]} report mails"
    )
    print(
        f"  defects filed {filed}, tracker issues {issues}, labels {labels[0]} "
        f"({labels[1]} distinct), update effects done {updates[0][0]}, comments {comments}"
    )
    ok = (
        drained
        and dep.inbox() == 0
        and recorded[0] == len(mails) == sum(processed.values()) == len(processed)
        and occurrences == recorded[1]
        and filed == issues
        and labels[0] == labels[1]
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def throughput(
    args: argparse.Namespace, root: Path, dovecot: DovecotServer, pg: PostgresServer
) -> int:
    """The replicas start and elect a leader first; the clock runs from the start of the
    delivery into the mailbox until it is empty. Each configuration runs ``--rounds`` times,
    alternating (1, 2, 3, 1, 2, 3, ...), so a load that comes and goes on the machine falls
    on all of them. Printed per replica: its role, how many mails it analysed (its
    ``triagebot_analysed_messages``, from its last log line), and the CPU seconds its
    processes used (the service and its analysis workers): what a standby costs."""
    mails = [m.raw for m in mailgen.generate(args.n, args.seed, pool=mailgen.bug_pool()[:40])]
    for run in range(args.rounds):
        for count in (1, 2, 3):
            folder = root / f"r{run}x{count}"
            folder.mkdir()
            dep = Deployment(folder, dovecot, pg, args.failover)
            replicas = dep.replicas(count)
            for replica in replicas:
                replica.start()
            wait(lambda rs=replicas: all(r.ready() for r in rs), 120)
            before = [r.cpu() for r in replicas]
            started = time.monotonic()  # the leader reads while the mails are delivered
            dep.box.seed(mails)
            wait(lambda d=dep: d.inbox() == 0, 600)
            took = time.monotonic() - started
            cpu = [round(r.cpu() - b, 1) for r, b in zip(replicas, before, strict=True)]
            leader = dep.leader()
            wait(dep.settled, 60)  # the last updates out, so each replica stops in order
            for replica in replicas:
                replica.stop()
            roles = ["leader" if r.holder == leader else "standby" for r in replicas]
            parsed = [r.parsed() for r in replicas]
            print(
                f"round {run + 1}, replicas {count}: {len(mails) / took:,.0f} msg/s"
                f" ({took:.1f} s), roles {roles}, parsed {parsed}, CPU s {cpu}",
                flush=True,
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--failover", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="throughput: runs of each")
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL not installed", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="replicas-", dir="/tmp"))
    dovecot = DovecotServer.create()
    pg = PostgresServer.create(bindir, durable=True)
    try:
        return (throughput if args.throughput else drill)(args, root, dovecot, pg)
    finally:
        pg.destroy()
        dovecot.destroy()


if __name__ == "__main__":
    sys.exit(main())
