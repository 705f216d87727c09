"""End-to-end dry-run replay throughput and memory.

Writes N generated report mails into a temporary Maildir, then runs exactly what
``triagebot replay --dry-run --json MAILDIR`` runs (``triagebot.cli.main``), with the JSON
lines going to /dev/null. Prints messages/second and the peak resident memory of the replay.
``--scale`` runs N and 4N mails in fresh processes to show memory does not grow with N.

    python bench/replay.py [-n 10000] [--seed 1] [--scale]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mailgen

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from triagebot import cli  # noqa: E402


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far (Linux reports KiB); RUSAGE_CHILDREN: the largest worker."""
    return resource.getrusage(who).ru_maxrss / 1024


def run(n: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="triagebot-bench-") as tmp:
        maildir = Path(tmp) / "Maildir"
        started = time.perf_counter()
        written = mailgen.write_maildir(maildir, mailgen.generate(n, seed))
        size = sum(e.stat().st_size for e in os.scandir(maildir / "new"))
        generated = time.perf_counter() - started
        print(
            f"generated {written} mails ({size / written / 1024:.1f} KiB average) "
            f"in {generated:.1f} s"
        )
        rss_start = _maxrss_mb()
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            started = time.perf_counter()
            status = cli.main(["replay", "--dry-run", "--json", str(maildir)])
            elapsed = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"replay exited with {status}")
        rss_peak = _maxrss_mb()
        print(
            f"replay n={written}: {elapsed:.2f} s, {written / elapsed:,.0f} msg/s, "
            f"peak RSS {rss_peak:.1f} MB (+{rss_peak - rss_start:.1f} MB during replay), "
            f"largest worker process {_maxrss_mb(resource.RUSAGE_CHILDREN):.1f} MB"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="number of mails (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", action="store_true", help="run N and 4N in fresh processes")
    args = parser.parse_args()
    if not args.scale:
        run(args.n, args.seed)
        return 0
    for n in (args.n, 4 * args.n):
        cmd = [sys.executable, __file__, "-n", str(n), "--seed", str(args.seed)]
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
