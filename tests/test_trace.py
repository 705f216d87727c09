"""``triagebot trace MESSAGE-ID|FILE``: when a mail was read, what it was, the rule, the
defect it counts for and that defect's effects, from the store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import GARBAGE, SAMPLES, Bot, samples, seed_maildir, write_rules
from triagebot.config import config_from_dict
from triagebot.pipeline import Pipeline

FILE_INVOICES = {
    "name": "file-invoice-totals",
    "exception_type": ["KeyError", "NullPointerException"],
    "action": "file",
}


def test_trace_by_file_and_by_message_id(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({"rules": {"path": str(write_rules(tmp_path / "rules", [FILE_INVOICES]))}})
    seed_maildir(bot.maildir, [*samples(), ("zz-garbage", GARBAGE)])
    bot.once()

    filed = bot.run("trace", str(SAMPLES / "invoice-totals-npe-01.eml"))
    assert filed.returncode == 0, filed.stderr
    lines = dict(line.split(None, 1) for line in filed.stdout.splitlines() if line)
    assert lines["ref"] == "invoice-totals-npe-01.eml"
    assert lines["outcome"] == "error_report, file"
    assert lines["rule"] == "file-invoice-totals"
    assert lines["defect"].endswith("filed (LOCAL-1, 2 mails)") or lines["defect"].endswith(
        "filed (LOCAL-2, 2 mails)"
    )
    assert "effect     create done\n" in filed.stdout

    raw = (SAMPLES / "client-case-load-nullref-01.eml").read_bytes()
    message_id = Pipeline.from_config(config_from_dict({})).process(raw).report.message_id
    candidate = bot.run("trace", f"<{message_id}>", "--json")
    (record,) = [json.loads(line) for line in candidate.stdout.splitlines()]
    assert record["outcome"] == "error_report, candidate"
    assert record["ref"] == "client-case-load-nullref-01.eml"
    assert "candidate (not filed, 3 mails)" in record["defect"]
    # the candidate mail to the helpdesk, skipped as done: no [helpdesk] here
    assert record["effects"] == [{"kind": "notify", "state": "done", "attempts": 0, "error": None}]

    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(GARBAGE)
    quarantined = bot.run("trace", str(garbage))
    assert "outcome    invalid" in quarantined.stdout
    assert "reason     no mail headers" in quarantined.stdout

    unknown = bot.run("trace", "never-seen@example.test")
    assert unknown.returncode == 1
    assert "no mail never-seen@example.test recorded in sqlite:///" in unknown.stderr
