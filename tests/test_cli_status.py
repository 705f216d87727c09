"""``triagebot status``: what an operator checks first, from a real store after a real run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.factories import make_outcome, make_signature
from tests.helpers import GARBAGE, Bot, samples, seed_maildir
from triagebot.store import Store

LATER = datetime.now(UTC) + timedelta(days=1)
REFUSED = "Jira answered 400: project OPS does not exist"


def test_status_counts_messages_defects_and_the_outbox(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    seed_maildir(bot.maildir, [*samples(), ("zz-garbage", GARBAGE)])
    bot.configure({})
    bot.once()
    store = Store(f"sqlite:///{bot.db}")
    store.record([make_outcome("<refused@x>", signature=make_signature("a" * 16))])
    (refused,) = store.due_effects(LATER, 10)
    store.fail_effect(refused, REFUSED, None)
    store.record([make_outcome("<waiting@x>", signature=make_signature("b" * 16))])
    assert store.claim_job("retention", "host:42", timedelta(days=1)) is not None
    store.close()

    result = bot.run("status", "--json")

    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    mails = len(samples()) + 3
    assert status["messages"]["total"] == status["messages"]["last_24h"] == mails
    by_kind = {(m["kind"], m["action"]): m["count"] for m in status["messages"]["by_kind"]}
    assert by_kind[("invalid", None)] == 1
    assert by_kind[("error_report", "candidate")] == len(samples())
    assert by_kind[("error_report", "file")] == 2
    assert status["defects"] == {"candidate": 5, "filed": 2}
    outbox = status["outbox"]
    assert outbox["pending"] == {"create": 1}  # no [helpdesk]: no candidate mail waits
    assert outbox["failed"] == {"create": 1}
    assert datetime.fromisoformat(outbox["oldest_pending"]) <= datetime.now(UTC)
    (failed,) = outbox["failed_errors"]
    assert (failed["kind"], failed["error"]) == ("create", REFUSED)
    assert status["digests"] == []
    (job,) = status["jobs"]
    assert (job["job"], job["holder"], job["token"]) == ("retention", "host:42", 1)
    assert "host:42" not in [r["holder"] for r in status["replicas"]]  # a job is no replica

    text = bot.run("status")
    assert text.returncode == 0, text.stderr
    assert f"messages  {mails} recorded, {mails} in the last 24 h" in text.stdout
    assert f"failed #{failed['id']} create" in text.stdout
    assert "digest    no run yet" in text.stdout
    assert "job       retention: held by host:42 (token 1) since " in text.stdout
    assert "mail      disabled: no [smtp] section (0 mails wait for it)" in text.stdout


def test_outbox_retry_queues_failed_effects_again(tmp_path: Path) -> None:
    """After the cause is fixed (here: Jira's project), the failed create is queued again and
    no longer shown as failed; ids that are not failed are named, and nothing is done twice."""
    bot = Bot(tmp_path)
    bot.configure({})
    store = Store(f"sqlite:///{bot.db}")
    store.migrate()
    store.record([make_outcome("<refused@x>", signature=make_signature("a" * 16))])
    (refused,) = store.due_effects(LATER, 10)
    store.fail_effect(refused, REFUSED, None)
    store.close()

    assert bot.run("outbox", "retry").returncode == 2  # neither ids nor --all
    again = bot.run("outbox", "retry", str(refused.id), "999999")
    assert again.returncode == 0, again.stderr
    assert f"queued 1 effects again: {refused.id}" in again.stdout
    assert "not queued (not failed, or superseded by a pending one): 999999" in again.stdout
    status = json.loads(bot.run("status", "--json").stdout)
    assert status["outbox"]["failed"] == {}
    assert status["outbox"]["pending"] == {"create": 1}
    assert "queued 0 effects again" in bot.run("outbox", "retry", "--all").stdout
