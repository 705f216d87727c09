"""End-to-end dry-run replay throughput and memory.

Writes N generated report mails into a temporary Maildir, then runs
``triagebot replay --dry-run --json MAILDIR`` as a user would (a fresh process, start-up
included), with the JSON lines going to /dev/null. Prints messages/second and the peak
resident memory of the replay's processes, and, on the same mails in the same run, the rate
of the standard library's parser (``email`` with ``policy.default``, reading each mail and its
body's text, on one core) for comparison. ``--scale`` runs N and 4N mails to show memory
does not grow with N.

    python bench/replay.py [-n 10000] [--seed 1] [--scale]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mailgen

REPO = Path(__file__).resolve().parent.parent


def _children_maxrss_mb() -> float:
    """Peak resident set size of the largest finished child process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


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
        command = [sys.executable, "-m", "triagebot.cli", "replay", "--dry-run", "--json"]
        with open(os.devnull, "wb") as sink:
            started = time.perf_counter()
            subprocess.run([*command, str(maildir)], stdout=sink, check=True, cwd=REPO)
            elapsed = time.perf_counter() - started
        print(
            f"replay n={written}: {elapsed:.2f} s, {written / elapsed:,.0f} msg/s (process "
            f"start-up included), peak RSS of the largest replay process "
            f"{_children_maxrss_mb():.1f} MB"
        )
        stdlib = _stdlib_rate(maildir)
        print(
            f"stdlib email (policy.default), same mails: {stdlib:,.0f} msg/s; "
            f"replay is {written / elapsed / stdlib:.1f}x"
        )


def _stdlib_rate(maildir: Path) -> float:
    """Messages per second the standard library parses and decodes to their body text."""
    paths = [entry.path for entry in os.scandir(maildir / "new")]
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            body.get_content()
    return len(paths) / (time.perf_counter() - started)


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
