"""IMAP fetch rate: a bare imapclient loop beside ``ImapSource`` on a real Dovecot mailbox.

Seeds a throw-away Dovecot user with generated reports written straight into ``Maildir/new``
(APPEND slows down as the folder grows), lets Dovecot index them once, then times:

- bare:    imapclient ``SEARCH`` + ``FETCH BODY.PEEK[]`` in batches, nothing else;
- source:  ``ImapSource.fetch(batch)`` until empty (what the daemon's reader thread does);
- source+move: fetch then ``move(..., PROCESSED)`` per batch (fetch and acknowledge).

Usage: ``python bench/imap_fetch.py [-n 10000] [--batch 500]`` (needs the dovecot binary).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imapclient import IMAPClient
from mailgen import generate

from tests.servers import HOST
from tests.servers.dovecot import DovecotServer, Mailbox
from triagebot.mail.imap import ImapSettings, ImapSource, Security
from triagebot.mail.source import Folder


def bare_loop(box: Mailbox, batch: int) -> int:
    client = IMAPClient(HOST, box.server.port, ssl=False)
    client.login(box.username, box.password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search("ALL"))
    count = 0
    for start in range(0, len(uids), batch):
        data = client.fetch(uids[start : start + batch], ["BODY.PEEK[]"])
        count += sum(1 for item in data.values() if b"BODY[]" in item)
    client.logout()
    return count


def source_loop(box: Mailbox, batch: int, *, move: bool) -> int:
    source = ImapSource(
        ImapSettings(
            host=HOST,
            port=box.server.port,
            security=Security.NONE,
            username=box.username,
            password=box.password,
        )
    )
    source.open()
    count = 0
    while messages := source.fetch(batch):
        count += len(messages)
        if move:
            source.move([m.ref for m in messages], Folder.PROCESSED)
    source.close()
    return count


def timed(label: str, run: Callable[[], int]) -> float:
    started = time.perf_counter()
    count = run()
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    print(f"{label:<12} {count:>7} msgs  {elapsed:7.3f} s  {rate:>9,.0f} msg/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    server = DovecotServer.create()
    try:
        box = server.add_user()
        started = time.perf_counter()
        mails = [mail.raw for mail in generate(args.n, seed=3)]
        seeded = box.seed(mails)
        elapsed = time.perf_counter() - started
        size = sum(map(len, mails)) / len(mails)
        print(f"seeded {seeded} mails (avg {size:,.0f} bytes) in {elapsed:.2f} s")
        # Dovecot indexes and caches the new files on first access: keep that out of the figures.
        timed("warm-up", lambda: bare_loop(box, args.batch))
        bare = timed("bare", lambda: bare_loop(box, args.batch))
        source = timed("source", lambda: source_loop(box, args.batch, move=False))
        moved = timed("source+move", lambda: source_loop(box, args.batch, move=True))
        print(f"source/bare {source / bare:.0%}, source+move/bare {moved / bare:.0%}")
        assert box.uids() == [], "every mail should have been moved to Processed"
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
