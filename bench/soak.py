"""Soak: a million mails through one running service's Maildir path; memory every 100,000.

A long-running ``triagebot run`` (default configuration: SQLite, the local tracker, the
shipped rules plus a rule filing the rest, one analysis process per CPU) reads a Maildir that
this script keeps fed: a template of generated reports is delivered over and over, each copy
with a Message-ID of its own, so every mail is a new report of one of the template's bugs.
Every ``--every`` mails acknowledged, the script prints the resident memory (``VmRSS``) of the
service and of each analysis process, and the rate since the last line; processed files are
removed from ``cur/`` so the disk holds only the backlog. The service's memory rises and falls
with each batch (a batch in flight holds a few MB), so each figure is the median of
``_SAMPLES`` readings a tenth of a second apart, with their peak beside it. The service's
memory must stay flat: every figure within 10 % of the first, and the last too.

    python bench/soak.py [-n 1000000] [--every 100000] [--template 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import live
import mailgen

from tests.helpers import toml

BACKLOG = 20_000  # mails waiting in new/ at most: the feeder stays ahead, the disk stays small
FLAT = 0.10
_SAMPLES = 11  # readings per figure, 0.1 s apart


def _pause() -> bool:
    time.sleep(0.1)
    return True


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` now, or one part of it (``RssAnon``: the heap; ``RssFile``,
    ``RssShmem``: mapped files such as SQLite's WAL index), in MB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith(field + ":")), "x: 0 kB")
    return int(line.split()[1]) / 1024


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return sorted(found)


def unique(raw: bytes, n: int) -> bytes:
    """``raw`` under a Message-ID of its own (the id's local part gets a counter)."""
    for header in (b"Message-ID: <", b"Message-Id: <", b"message-id: <"):
        if header in raw:
            return raw.replace(header, header + b"soak%d." % n, 1)
    return b"Message-ID: <soak%d@bench.invalid>\r\n" % n + raw


def feed(maildir: Path, template: list[bytes], start: int, count: int) -> None:
    tmp, new = maildir / "tmp", maildir / "new"
    for n in range(start, start + count):
        name = f"soak{n:08d}"
        (tmp / name).write_bytes(unique(template[n % len(template)], n))
        os.rename(tmp / name, new / name)


def sweep(folder: Path) -> int:
    """Remove acknowledged files; how many there were."""
    removed = 0
    for entry in os.scandir(folder):
        os.unlink(entry.path)
        removed += 1
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="mails in all")
    parser.add_argument("--every", type=int, default=100_000, help="mails between figures")
    parser.add_argument("--template", type=int, default=5_000, help="distinct generated mails")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="triagebot-soak-") as tmp:
        work = Path(tmp)
        template = [mail.raw for mail in mailgen.generate(args.template, args.seed)]
        maildir = work / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        config = work / "triagebot.toml"
        config.write_text(
            toml(
                {
                    "mailbox": live.maildir_table(maildir),
                    "store": {"url": f"sqlite:///{work / 'triagebot.db'}"},
                    "rules": {"path": str(live.rules_dir(work, shipped=True))},
                    "logging": {"level": "warning", "format": "json"},
                }
            ),
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "triagebot.cli", "-c", str(config), "run"]
        with (work / "service.log").open("wb") as log:
            service = subprocess.Popen(command, stderr=log, cwd=live.REPO)
        delivered = done = 0
        first: float | None = None
        highest = 0.0
        service_mb = 0.0
        mark, started = args.every, time.perf_counter()
        last = started
        try:
            while done < args.n:
                waiting = len(os.listdir(maildir / "new"))
                if waiting < BACKLOG // 2 and delivered < args.n:
                    count = min(BACKLOG - waiting, args.n - delivered)
                    feed(maildir, template, delivered, count)
                    delivered += count
                done += sweep(maildir / "cur")
                if service.poll() is not None:
                    print(f"the service stopped (exit {service.returncode}); see its log")
                    return 1
                if done >= mark:
                    now = time.perf_counter()
                    samples = sorted(rss_mb(service.pid) for _ in range(_SAMPLES) if _pause())
                    service_mb, peak = samples[len(samples) // 2], samples[-1]
                    first = first or service_mb
                    highest = max(highest, service_mb)
                    workers = " ".join(f"{rss_mb(c):.0f}" for c in children(service.pid))
                    parts = "/".join(
                        f"{rss_mb(service.pid, f):.1f}" for f in ("RssAnon", "RssFile", "RssShmem")
                    )
                    print(
                        f"{done:>9,} mails  service {service_mb:6.1f} MB (peak {peak:.1f}; "
                        f"anon/file/shmem {parts})"
                        f"  analysis [{workers}] MB"
                        f"  {args.every / (now - last):6,.0f} msg/s",
                        flush=True,
                    )
                    mark, last = mark + args.every, now
                time.sleep(0.2)
        finally:
            service.terminate()
            service.wait(30)
        growth = (service_mb - first) / first if first else 0.0
        spread = (highest - first) / first if first else 0.0
        verdict = "flat" if abs(growth) <= FLAT and spread <= FLAT else "GROWS"
        print(
            f"{done:,} mails in {time.perf_counter() - started:,.0f} s; service memory "
            f"{first:.1f} -> {service_mb:.1f} MB ({growth:+.1%}; highest {spread:+.1%} over the "
            f"first): {verdict} (limit {FLAT:.0%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
