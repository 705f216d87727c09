"""``triagebot quarantine``: what was set aside and why, one mail's analysis, and putting
mail back after a fix, on a Maildir and on a real Dovecot. Quarantined mail is recorded with
its reason, so a copy delivered again is recognised."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.helpers import GARBAGE, Bot, imap_mailbox, listing, samples, seed_maildir
from tests.servers.dovecot import Mailbox

TIGHT = {"analysis_timeout": 0.000001}  # every analysis outlasts it: a budget set far too low


def recorded(bot: Bot) -> dict[str, str]:
    with sqlite3.connect(bot.db) as conn:
        return dict(conn.execute("SELECT message_id, kind FROM messages"))


def entries(bot: Bot) -> list[dict[str, Any]]:
    result = bot.run("quarantine", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_maildir_quarantine_list_show_and_retry_after_a_fix(tmp_path: Path) -> None:
    mails = samples()[:3]
    bot = Bot(tmp_path)
    bot.configure({})
    seed_maildir(bot.maildir, [("zz-garbage", GARBAGE)])
    bot.once()
    bot.configure({"service": TIGHT})
    seed_maildir(bot.maildir, mails)
    bot.once()
    quarantined = entries(bot)
    assert sorted(e["id"] for e in quarantined) == sorted([*(n for n, _ in mails), "zz-garbage"])
    reasons = {e["id"]: e["reason"] for e in quarantined}
    assert reasons["zz-garbage"] == "no mail headers"
    assert all(reasons[n].startswith("analysis timeout") for n, _ in mails)
    assert all(e["recorded_at"] != "-" for e in quarantined)

    shown = bot.run("quarantine", "show", "zz-garbage")
    assert shown.returncode == 0, shown.stderr
    assert "reason    no mail headers" in shown.stdout and "kind      invalid" in shown.stdout
    assert bot.run("quarantine", "show", "nope").returncode == 1

    seed_maildir(bot.maildir, [("zz-again", GARBAGE)])  # the same bytes delivered again
    before = recorded(bot)
    bot.once()
    assert recorded(bot) == before  # recognised: recorded once

    bot.configure({})  # the fix: the default budget
    assert bot.run("quarantine", "retry").returncode == 2  # neither ids nor --all
    released = bot.run("quarantine", "retry", *(n for n, _ in mails), "missing")
    assert released.returncode == 0, released.stderr
    assert "released 3 mails into the inbox" in released.stdout
    assert "not in quarantine: missing" in released.stdout
    bot.once()
    assert sorted(e["id"] for e in entries(bot)) == ["zz-again", "zz-garbage"]
    assert sum(d["occurrences"] for d in bot.defects()) == 3  # each counted once
    assert sorted(listing(bot.maildir / "cur")) == sorted(n for n, _ in mails)


def test_imap_quarantine_list_and_retry(tmp_path: Path, mailbox: Mailbox) -> None:
    mails = samples()[:2]
    bot = Bot(tmp_path, env={"TB_IMAP": mailbox.password})
    box = imap_mailbox(mailbox.server.port, mailbox.username, "TB_IMAP")
    bot.configure({"mailbox": box})
    mailbox.append([GARBAGE])
    bot.once()
    bot.configure({"mailbox": box, "service": TIGHT})
    mailbox.append(raw for _, raw in mails)
    bot.once()
    quarantined = entries(bot)
    assert len(quarantined) == 3
    assert sum(e["reason"] == "no mail headers" for e in quarantined) == 1
    ids = [e["id"] for e in quarantined if e["reason"].startswith("analysis timeout")]
    assert len(ids) == 2

    bot.configure({"mailbox": box})
    released = bot.run("quarantine", "retry", *ids)
    assert "released 2 mails into the inbox" in released.stdout, released.stderr
    bot.once()
    assert [e["reason"] for e in entries(bot)] == ["no mail headers"]
    assert sum(d["occurrences"] for d in bot.defects()) == 2
    assert len(mailbox.contents("Processed")) == 2
