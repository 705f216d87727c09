"""Live throughput: the real ``Daemon`` draining a Maildir and a Dovecot mailbox of N reports.

Everything the service does is in the figure: parse, sign, rules, one SQLite transaction per
batch, the acknowledgement (rename into ``cur/`` or IMAP MOVE to ``Processed``) and the
outbox filing defects in the local tracker. The shipped rules decide, plus a last rule that
files whatever is left, so the tracker is written for every signature.

Each run happens in a fresh child process (fresh store, fresh logging set-up, its own peak
RSS): ``Daemon.from_config(config)`` then ``await daemon.run(once=True)``. Logging is at
warning level for the headline figures and at info level (one JSON line per message, to
/dev/null) beside them. The Dovecot mailbox is seeded by writing into ``Maildir/new`` and
indexed once by a bare fetch loop before the daemon starts; that bare imapclient loop's rate
is printed as the ceiling IMAP itself sets.

    python bench/live.py [-n 10000] [--seed 1] [--corpus bench/realworld] [--skip-imap]
                         [--profile [maildir|imap]]

The yardstick is measured in the same run on the same files: the standard library, in one
process, reading each file, parsing it (``email`` with ``policy.compat32``) and decoding its
text parts. The service must reach half that rate on generated mails, 40 % on realistic ones
(``--corpus``: the real traces of ``bench/heldout.py``'s corpus in its mail shapes: HTML,
attachments, forwards, encodings), and IMAP 90 % of the Maildir rate. CPU per mail (service
and analysis processes) is printed too: it must not grow with the backlog.

``TRIAGEBOT_BENCH_WORKERS=N`` sets ``[service] workers`` (default: one analysis process per CPU;
0 analyses in the daemon's own process, to see what the worker processes cost or bring).

``--profile`` instead runs the same steps (the source loop, ``handle_batch`` and the outbox,
without the daemon's thread overlap) in this process under cProfile and prints where the
time goes, stage by stage, for the Maildir (default) or the Dovecot mailbox.

The helpers here (config, rules, logging, RSS) are shared by ``latency.py`` and
``economy.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email
import email.policy
import json
import os
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from tests.servers import HOST  # noqa: E402
from triagebot import logs  # noqa: E402
from triagebot.config import Config, config_from_dict  # noqa: E402

if TYPE_CHECKING:
    from tests.servers.dovecot import DovecotServer, Mailbox
    from triagebot.daemon import Daemon

# The rest is imported where it is used: the analysis processes start from this module and
# import what it imports at the top, which a service started from its console script does not.

PASSWORD_ENV = "TRIAGEBOT_BENCH_IMAP_PASSWORD"
FILE_ALL_RULE = """\
[[rule]]
name = "bench-file-all"
description = "Benchmarks: file whatever the other rules left undecided."
action = "file"
"""
TARGET_STDLIB_SHARE = 0.50  # of the stdlib's rate, generated mails
TARGET_STDLIB_SHARE_REALISTIC = 0.40  # the same, realistic mails (``--corpus``)
TARGET_IMAP_SHARE = 0.90


def maxrss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rules_dir(root: Path, *, shipped: bool) -> Path:
    """A rules folder: optionally the shipped rules, then a rule filing everything else."""
    folder = root / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    if shipped:
        for path in sorted((REPO / "rules").glob("*.toml")):
            shutil.copy(path, folder / path.name)
    (folder / "99-bench-file-all.toml").write_text(FILE_ALL_RULE, encoding="utf-8")
    return folder


def maildir_table(path: Path) -> dict[str, Any]:
    """The ``[mailbox]`` table for a bench Maildir: its mails are complete before the run
    starts, so none waits out ``min_age`` (that would time the wait, not the service)."""
    return {"kind": "maildir", "path": str(path), "min_age": 0}


def imap_table(port: int, user: str) -> dict[str, Any]:
    """The ``[mailbox]`` table for a local Dovecot user; the password is in ``PASSWORD_ENV``."""
    return {
        "kind": "imap",
        "host": HOST,
        "port": port,
        "security": "none",
        "username": user,
        "password_env": PASSWORD_ENV,
    }


def imap_mailbox(box: Mailbox) -> dict[str, Any]:
    """``imap_table`` for ``box``, with its password put into the environment."""
    os.environ[PASSWORD_ENV] = box.password
    return imap_table(box.server.port, box.username)


def bench_config(
    root: Path,
    mailbox: dict[str, Any],
    rules: Path,
    *,
    tracker: dict[str, Any] | None = None,
    level: str = "warning",
) -> Config:
    """A config with a fresh SQLite store under ``root``."""
    return config_from_dict(
        {
            "mailbox": mailbox,
            "tracker": tracker or {"kind": "local"},
            "store": {"url": f"sqlite:///{root / 'triagebot.db'}"},
            "rules": {"path": str(rules)},
            "logging": {"level": level, "format": "json"},
            "service": service_table(),
        }
    )


def service_table() -> dict[str, Any]:
    """``[service]``: the default (one analysis process per CPU) unless
    ``TRIAGEBOT_BENCH_WORKERS`` says how many."""
    workers = os.environ.get("TRIAGEBOT_BENCH_WORKERS")
    return {} if workers is None else {"workers": int(workers)}


def configure_logging(level: str, sink: Any) -> None:
    """JSON lines at ``level`` into ``sink``, as ``triagebot run`` would write them."""
    logs.configure(level, "json", stream=sink)


def store_counts(db: Path) -> dict[str, int]:
    """Rows the run left behind: messages, defects, filed defects, local tracker issues."""
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        counts = {
            "messages": conn.execute("SELECT count(*) FROM messages").fetchone()[0],
            "defects": conn.execute("SELECT count(*) FROM defects").fetchone()[0],
            "filed": conn.execute(
                "SELECT count(*) FROM defects WHERE tracker_key IS NOT NULL"
            ).fetchone()[0],
        }
        if "local_issues" in tables:
            counts["issues"] = conn.execute("SELECT count(*) FROM local_issues").fetchone()[0]
    return counts


@dataclass(frozen=True, slots=True)
class RunResult:
    """One daemon run as the child process reports it."""

    seconds: float
    maxrss_mb: float
    messages: int
    defects: int
    filed: int
    issues: int
    cpu: float = 0.0  # seconds, the service and its analysis processes

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stdlib_read(paths: list[Path]) -> int:
    """What the yardstick does per file: read, parse with ``compat32``, decode the text parts."""
    parts = 0
    for path in paths:
        with open(path, "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.compat32)
        for part in message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    payload.decode(part.get_content_charset() or "ascii", "replace")
                    parts += 1
    return parts


async def _timed_run(config: Config) -> float:
    from triagebot.daemon import Daemon  # noqa: PLC0415 - see the note on imports

    daemon = Daemon.from_config(config)
    started = time.perf_counter()
    await daemon.run(once=True)
    return time.perf_counter() - started


def child(args: argparse.Namespace) -> int:
    """One measured ``run --once`` in this process; prints a ``RunResult`` as JSON."""
    root = Path(args.root)
    mailbox = (
        maildir_table(root / "Maildir")
        if args.mode == "maildir"
        else imap_table(args.port, args.user)
    )
    config = bench_config(root, mailbox, Path(args.rules), level=args.level)
    with open(os.devnull, "w") as devnull:
        configure_logging(args.level, devnull if args.level == "info" else sys.stderr)
        seconds = asyncio.run(_timed_run(config))
    counts = store_counts(root / "triagebot.db")
    result = RunResult(
        seconds=seconds,
        maxrss_mb=maxrss_mb(),
        messages=counts["messages"],
        defects=counts["defects"],
        filed=counts["filed"],
        issues=counts.get("issues", 0),
        cpu=cpu_seconds(),
    )
    print(json.dumps(asdict(result)))
    return 0


def stdlib_child(args: argparse.Namespace) -> int:
    """The yardstick in this fresh process: prints its seconds over the template's mails."""
    paths = template_mails(Path(args.root))
    started = time.perf_counter()
    stdlib_read(paths)
    print(json.dumps({"seconds": time.perf_counter() - started, "messages": len(paths)}))
    return 0


def stdlib_rate(template: Path) -> float:
    """Mails per second of ``stdlib_read`` over ``template``, in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", "stdlib", "--root", str(template)]
    done = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout)
    return float(done["messages"] / done["seconds"])


def realistic_mails(corpus: Path, n: int, seed: int) -> list[bytes]:
    """``n`` realistic report mails: the corpus's traces perturbed and wrapped in its mail
    shapes (``bench/heldout.py``), as many variants as it takes, in a seeded shuffle."""
    import heldout  # noqa: PLC0415 - see the note on imports

    per_variant = len(heldout.corpus(1, 3, seed, corpus))
    mails = heldout.corpus(-(-n // per_variant), 3, seed, corpus)
    random.Random(seed).shuffle(mails)
    return [mail.raw for mail in mails[:n]]


def child_command(
    mode: str, root: Path, rules: Path, level: str, box: Mailbox | None = None
) -> list[str]:
    """The command line that runs ``child`` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", mode, "--root", str(root)]
    cmd += ["--rules", str(rules), "--level", level]
    if box is not None:
        os.environ[PASSWORD_ENV] = box.password
        cmd += ["--port", str(box.server.port), "--user", box.username]
    return cmd


def run_result(stdout: str) -> RunResult:
    """The ``RunResult`` a child printed last."""
    return RunResult(**json.loads(stdout.splitlines()[-1]))


def spawn(mode: str, root: Path, rules: Path, level: str, box: Mailbox | None = None) -> RunResult:
    """Run ``child`` in a fresh interpreter and read its result line."""
    cmd = child_command(mode, root, rules, level, box)
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return run_result(done.stdout)


def fresh_maildir(template: Path, root: Path) -> Path:
    """Hard-link the template mails into ``root/Maildir/new`` (instant, and the runs share
    the page cache); the daemon renames the links, the template keeps its own."""
    maildir = root / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    for entry in os.scandir(template / "new"):
        os.link(entry.path, maildir / "new" / entry.name)
    return maildir


def template_mails(template: Path) -> list[Path]:
    return sorted(Path(e.path) for e in os.scandir(template / "new"))


def seeded_box(server: DovecotServer, template: Path) -> Mailbox:
    """A new Dovecot user holding the template mails, already indexed by one bare fetch."""
    from imap_fetch import bare_loop  # noqa: PLC0415 - see the note on imports

    box = server.add_user()
    box.seed(path.read_bytes() for path in template_mails(template))
    bare_loop(box, 500)
    return box


def line(label: str, result: RunResult, expected: int) -> str:
    ok = "" if result.messages == expected else f"  !! {expected - result.messages} missing"
    return (
        f"{label:<26} {result.messages:>7} msgs {result.seconds:7.2f} s "
        f"{result.rate:>8,.0f} msg/s  CPU {result.cpu / result.messages * 1e6:5.0f} us/msg  "
        f"peak RSS {result.maxrss_mb:6.1f} MB  "
        f"defects {result.defects} (filed {result.filed}, tracker issues {result.issues}){ok}"
    )


#: Profile rows: label -> (file suffix, function name); cumulative seconds of each. "SOURCE" is
#: the profiled source's module (``mail/maildir.py`` or ``mail/imap.py``).
STAGES = {
    "source fetch": ("SOURCE", "fetch"),
    "analysis (all)": ("triagebot/pipeline.py", "analyse"),
    "  parse + classify": ("mail/parse.py", "parse_message"),
    "  signature": ("stack/signature.py", "sign"),
    "record_batch (all)": ("triagebot/daemon.py", "record_batch"),
    "  rules": ("triagebot/rules.py", "evaluate"),
    "    store.count (occurrences)": ("triagebot/store/facade.py", "count"),
    "  store.record": ("triagebot/store/facade.py", "record"),
    "acknowledge (move)": ("SOURCE", "move"),
    "outbox (local tracker)": ("triagebot/outbox.py", "run_effects"),
}


def _drain(daemon: Daemon) -> None:
    """What ``Daemon.run(once=True)`` does, on one thread: fetch, analyse (learning the
    signatures the store holds, as the analysis processes do), record, move, then flush."""
    from triagebot.analysis import InProcess  # noqa: PLC0415 - see the note on imports
    from triagebot.daemon import handle_batch  # noqa: PLC0415 - see the note on imports
    from triagebot.outbox import run_effects  # noqa: PLC0415 - see the note on imports

    source = daemon.sources[0]
    source.open()
    analysis = InProcess(daemon.pipeline)
    while batch := source.fetch(daemon.config.mailbox.batch_size):
        done = handle_batch(daemon.pipeline, daemon.store, source.name, batch, analysis=analysis)
        for folder, refs in done.moves.items():
            source.move(refs, folder)
    flush = datetime.now(UTC) + daemon.store.update_delay
    while run_effects(daemon.store, daemon.tracker, flush, 100) == 100:
        pass
    source.close()


def profile(template: Path, work: Path, n: int, mode: str) -> None:
    """Run ``_drain`` on the Maildir or the Dovecot mailbox (``mode``) under cProfile and
    print the stages and the hottest functions."""
    from tests.servers.dovecot import DovecotServer  # noqa: PLC0415 - see the note on imports

    root = work / "profile"
    server = DovecotServer.create() if mode == "imap" else None
    try:
        if server is None:
            mailbox = maildir_table(fresh_maildir(template, root))
        else:
            root.mkdir()
            mailbox = imap_mailbox(seeded_box(server, template))
        config = bench_config(root, mailbox, rules_dir(work, shipped=True))
        configure_logging("warning", sys.stderr)
        from triagebot.daemon import Daemon  # noqa: PLC0415 - see the note on imports

        daemon = Daemon.from_config(config)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.runcall(_drain, daemon)
        elapsed = time.perf_counter() - started
        daemon.store.close()
    finally:
        if server is not None:
            server.destroy()
    source = f"mail/{mode}.py"
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(
        f"profiled {n} mails: {elapsed:.2f} s wall, {total:.2f} s profiled "
        f"({n / elapsed:,.0f} msg/s under the profiler)"
    )
    for label, (suffix, name) in STAGES.items():
        cum = sum(
            row[3]
            for (file, _line, func), row in stats.stats.items()  # type: ignore[attr-defined]
            if func == name and file.endswith(source if suffix == "SOURCE" else suffix)
        )
        print(f"  {label:<30} {cum:7.2f} s  {cum / total:5.1%}  {cum / n * 1e6:7.1f} us/msg")
    stats.sort_stats("tottime").print_stats(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="number of mails (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--corpus", type=Path, help="realistic mails from this real-trace corpus (bench/realworld)"
    )
    parser.add_argument("--skip-imap", action="store_true", help="Maildir runs only")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="maildir",
        choices=("maildir", "imap"),
        help="cProfile one drain of the Maildir (default) or the Dovecot mailbox",
    )
    parser.add_argument("--child", choices=("maildir", "imap", "stdlib"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--rules", help=argparse.SUPPRESS)
    parser.add_argument("--level", default="warning", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "stdlib":
        return stdlib_child(args)
    if args.child:
        args.mode = args.child
        return child(args)

    import mailgen  # noqa: PLC0415 - see the note on imports
    from imap_fetch import bare_loop  # noqa: PLC0415 - see the note on imports

    from tests.servers.dovecot import DovecotServer  # noqa: PLC0415 - see the note on imports

    with tempfile.TemporaryDirectory(prefix="triagebot-live-") as tmp:
        work = Path(tmp)
        template = work / "template"
        started = time.perf_counter()
        if args.corpus is None:
            n = mailgen.write_maildir(template, mailgen.generate(args.n, args.seed))
        else:
            raws = realistic_mails(args.corpus, args.n, args.seed)
            n = mailgen.write_maildir(template, (mailgen.Mail(raw, None, None, "") for raw in raws))
        size = sum(p.stat().st_size for p in template_mails(template)) / n
        print(
            f"{'realistic' if args.corpus else 'generated'} {n} mails "
            f"({size / 1024:.1f} KiB average) in {time.perf_counter() - started:.1f} s"
        )
        if args.profile:
            profile(template, work, n, args.profile)
            return 0
        stdlib = stdlib_rate(template)
        print(f"{'stdlib compat32, 1 process':<26} {n:>7} msgs {'':>9} {stdlib:>8,.0f} msg/s")
        rules = rules_dir(work, shipped=True)
        results: dict[tuple[str, str], RunResult] = {}
        for level in ("warning", "info"):
            root = work / f"maildir-{level}"
            fresh_maildir(template, root)
            results["maildir", level] = r = spawn("maildir", root, rules, level)
            print(line(f"maildir ({level} logs)", r, n))
            left = len(os.listdir(root / "Maildir" / "new"))
            if left:
                print(f"  !! {left} mails left in new/")
        if not args.skip_imap:
            server = DovecotServer.create()
            try:
                box = seeded_box(server, template)
                started = time.perf_counter()
                fetched = bare_loop(box, 500)
                bare = fetched / (time.perf_counter() - started)
                print(f"{'imap bare fetch loop':<26} {fetched:>7} msgs {'':>9} {bare:>8,.0f} msg/s")
                for level in ("warning", "info"):
                    if level == "info":
                        box = seeded_box(server, template)
                    root = work / f"imap-{level}"
                    root.mkdir()
                    results["imap", level] = r = spawn("imap", root, rules, level, box)
                    print(line(f"imap ({level} logs)", r, n))
                    if box.uids():
                        print(f"  !! {len(box.uids())} mails left in INBOX")
            finally:
                server.destroy()
        md = results["maildir", "warning"].rate
        target = TARGET_STDLIB_SHARE_REALISTIC if args.corpus else TARGET_STDLIB_SHARE
        print(
            f"\nmaildir/stdlib: {md / stdlib:.0%} ({md:,.0f} of {stdlib:,.0f} msg/s; "
            f"target >= {target:.0%}: {'ok' if md >= target * stdlib else 'MISSED'})"
        )
        for level in ("warning", "info"):
            if ("imap", level) in results:
                share = results["imap", level].rate / results["maildir", level].rate
                verdict = "ok" if share >= TARGET_IMAP_SHARE else "MISSED"
                print(
                    f"imap/maildir ({level} logs): {share:.0%} "
                    f"(target >= {TARGET_IMAP_SHARE:.0%}: {verdict})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
