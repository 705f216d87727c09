"""Peak memory: the real ``Daemon`` draining a Maildir of N reports, some of them 30 MB.

The mailbox holds ``-n`` generated reports (``mailgen``) and, spread through them, ``--huge``
mails of ``--huge-mb`` MB each: in turn a report with a base64 attachment, a report whose
text/plain body goes on and on, and one whose HTML body does. The service runs as in
``live.py`` (a fresh process, ``run --once``, one analysis process per CPU unless
``TRIAGEBOT_BENCH_WORKERS`` says otherwise); this script watches that process and its
analysis children and prints the peak resident set size (``VmHWM``) of each.

    python bench/memory.py [-n 10000] [--huge 20] [--huge-mb 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import live
import mailgen

TARGET_MB = 300.0
POLL = 0.02  # seconds between looks at the processes' peaks
KINDS = ("attachment", "text", "html")


def huge_mail(kind: str, size: int, rng: random.Random, bug: mailgen.Bug) -> bytes:
    """A report of about ``size`` bytes whose bulk is an attachment, its text or its HTML."""
    occ = mailgen.occurrence(rng)
    report = mailgen.report_text(bug.app, mailgen.RENDERERS[bug.language](bug, occ), occ)
    env = mailgen.report_envelope(bug.app, occ)
    head = (
        f"From: {env.sender}\r\nTo: {env.to}\r\nSubject: {env.subject}\r\n"
        f"Message-ID: {env.message_id}\r\nDate: {env.date}\r\nMIME-Version: 1.0\r\n"
    )
    text = report.replace("\n", "\r\n")
    if kind == "attachment":
        boundary = f"bench-{rng.getrandbits(64):x}"
        blob = base64.encodebytes(rng.randbytes(size * 3 // 4)).decode().replace("\n", "\r\n")
        body = (
            f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="heap.dmp"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{blob}--{boundary}--\r\n"
        )
    elif kind == "text":
        line = "DEBUG worker polled the queue: nothing to do, sleeping 100 ms\r\n"
        filler = line * (size // len(line))
        body = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n{filler}"
    else:
        row = "<tr><td>2024-05-01 10:00:00</td><td>INFO</td><td>request served</td></tr>\r\n"
        rows = row * (size // len(row))
        body = (
            "Content-Type: text/html; charset=utf-8\r\n\r\n"
            f"<html><body><pre>{text}</pre><table>\r\n{rows}</table></body></html>\r\n"
        )
    return (head + body).encode()


def write_huge(maildir: Path, count: int, size: int, n: int, seed: int) -> int:
    """``count`` huge mails in ``maildir/new``, named to sort evenly among the ``n`` others;
    returns their total size."""
    rng = random.Random(seed)
    bugs = mailgen.bug_pool()
    total = 0
    for i in range(count):
        raw = huge_mail(KINDS[i % len(KINDS)], size, rng, bugs[i % len(bugs)])
        position = (i + 1) * n // (count + 1)
        (maildir / "new" / f"{position:08d}.huge").write_bytes(raw)
        total += len(raw)
    return total


@dataclass(slots=True)
class Peak:
    """One process seen while the service ran, and the highest ``VmHWM`` read from it."""

    pid: int
    role: str
    kib: int = 0

    @property
    def mb(self) -> float:
        return self.kib / 1024


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as file:
                children = [int(c) for c in file.read().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def vm_hwm(pid: int) -> int | None:
    """The process's peak resident set size so far in KiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def role(pid: int) -> str:
    """What a descendant is, from its command line (``spawn`` children run ``spawn_main``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            cmdline = file.read()
    except OSError:
        return "gone"
    if b"resource_tracker" in cmdline:
        return "mp-tracker"
    return "analysis" if b"spawn_main" in cmdline else "other"


def watch(proc: subprocess.Popen[str]) -> dict[int, Peak]:
    """Peaks of the service and every descendant, read until the service exits. A child
    killed between two looks may have peaked a little higher in its last ``POLL`` seconds."""
    peaks = {proc.pid: Peak(proc.pid, "service")}
    while proc.poll() is None:
        for pid in [proc.pid, *descendants(proc.pid)]:
            peak = peaks.setdefault(pid, Peak(pid, "other"))
            if peak.role == "other":  # seen between fork and exec: look again
                peak.role = role(pid)
            kib = vm_hwm(pid)
            if kib is not None:
                peak.kib = max(peak.kib, kib)
        time.sleep(POLL)
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="ordinary mails (default 10000)")
    parser.add_argument("--huge", type=int, default=20, help="huge mails (default 20)")
    parser.add_argument("--huge-mb", type=float, default=30.0, help="their size (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="triagebot-memory-") as tmp:
        work = Path(tmp)
        root = work / "run"
        maildir = root / "Maildir"
        started = time.perf_counter()
        n = mailgen.write_maildir(maildir, mailgen.generate(args.n, args.seed))
        huge_bytes = write_huge(maildir, args.huge, int(args.huge_mb * 1e6), n, args.seed)
        print(
            f"generated {n} mails and {args.huge} huge ones ({huge_bytes / 1e6:,.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        cmd = live.child_command("maildir", root, live.rules_dir(work, shipped=True), "warning")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        peaks = watch(proc)
        stdout, _ = proc.communicate()
        if proc.returncode:
            print(f"!! the service exited {proc.returncode}")
            return 1
        # Not the child's own ru_maxrss: Linux carries this script's peak into it across exec.
        result = live.run_result(stdout)
        missing = n + args.huge - result.messages
        print(
            f"recorded {result.messages} mails in {result.seconds:.1f} s "
            f"({result.rate:,.0f} msg/s){f'  !! {missing} missing' if missing else ''}"
        )
        for peak in sorted(peaks.values(), key=lambda p: (p.role != "service", p.pid)):
            print(f"  peak RSS {peak.role:<10} pid {peak.pid:<8} {peak.mb:7.1f} MB")
        for name in ("service", "analysis"):
            worst = max((p.mb for p in peaks.values() if p.role == name), default=0.0)
            verdict = "ok" if worst < TARGET_MB else "MISSED"
            print(f"highest {name} peak: {worst:.1f} MB (target < {TARGET_MB:.0f} MB: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
