"""The service over a Maildir of 40 ordinary reports and 4 hostile mails (a 1 MB run of
spaces and one of tabs inside a .NET trace, colon-padded ``Key: value`` lines, 300,000 frames):
everything is processed within a minute (the ordinary mail recorded, the hostile recorded or
quarantined with a reason), and SIGTERM stops the service within 5 s while it works."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench.mailgen import generate
from tests.helpers import Bot, listing, seed_maildir, wait_until

MB = 1024 * 1024
NET = (
    "System.InvalidOperationException: Queue full\n"
    "   at Acme.Billing.Worker.Run() in C:\\src\\W.cs:line 7\n"
)
FRAME = "   at Acme.Deep.Loop.Step() in C:\\src\\L.cs:line 1\n"


def hostile_mail(name: str, body: str) -> tuple[str, bytes]:
    head = (
        "From: Acme Desk <errors@acme.example.com>\r\nTo: helpdesk@example.com\r\n"
        f"Subject: Unhandled exception ({name})\r\nMessage-ID: <{name}@acme.example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return name, (head + body).encode()


HOSTILE = [
    hostile_mail("zz-spaces", NET + " " * MB + "\n" + NET),
    hostile_mail("zz-tabs", NET + "\t" * MB + "x\n" + NET),
    hostile_mail("zz-colons", ("Key" + " " * 5000 + ":" + " " * 5000 + "\n") * 100 + NET),
    hostile_mail(
        "zz-frames", NET + "   at Acme.Deep.Loop.Step() in C:\\src\\L.cs:line 1\n" * 300_000
    ),
]


def ordinary(count: int) -> list[tuple[str, bytes]]:
    return [(f"m{i:03d}", mail.raw) for i, mail in enumerate(generate(count, 7), 1)]


def test_hostile_mail_among_ordinary_reports_is_done_within_a_minute(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({})
    mails = [*ordinary(40), *HOSTILE]
    seed_maildir(bot.maildir, mails)
    daemon = bot.start(tmp_path / "run.log")
    started = time.monotonic()
    try:
        assert wait_until(lambda: not listing(bot.maildir / "new"), 60, 0.1), daemon.log.read_text()
        took = time.monotonic() - started
    finally:
        assert daemon.terminate(timeout=15) == 0
    assert took < 60
    done = listing(bot.maildir / "cur") + listing(bot.maildir / ".Quarantine" / "new")
    assert sorted(done) == sorted(name for name, _ in mails)
    with sqlite3.connect(bot.db) as conn:
        rows = dict(conn.execute("SELECT source_ref, coalesce(reason, kind) FROM messages"))
    assert all(name in rows for name, _ in mails), "every mail recorded, hostile ones included"
    quarantined = set(listing(bot.maildir / ".Quarantine" / "new"))
    assert all(rows[name] for name in quarantined)  # with a reason
    print(f"44 mails in {took:.1f} s; quarantined: {sorted(quarantined)}")


def test_sigterm_while_hostile_mail_is_analysed_stops_within_five_seconds(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({"mailbox": {"batch_size": 2}})
    seed_maildir(bot.maildir, [*HOSTILE, *ordinary(10)])
    daemon = bot.start(tmp_path / "run.log")
    try:
        daemon.wait_for_event("daemon.started", timeout=30)
        time.sleep(0.5)  # well inside the hostile batches
        started = time.monotonic()
        assert daemon.terminate(timeout=15) == 0
        stopped = time.monotonic() - started
    finally:
        daemon.kill()
    assert stopped < 5.5, stopped
