"""Regrouping after a signature upgrade (``triagebot.regroup``, ``store.joins``).

v1 signs up to twenty in-app frames, v2 the innermost five: one bug reached from two callers
is two defects under v1 and one under v2. After the upgrade the defects v1 split are joined
into one, through the real pipeline, the store (SQLite and PostgreSQL), the outbox and the
local tracker; the service does it when it starts, and ``triagebot regroup`` shows it first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.clocks import ManualClock
from tests.factories import decide
from tests.helpers import Bot, seed_maildir, write_rules
from triagebot.config import config_from_dict
from triagebot.daemon import handle_batch
from triagebot.lifecycle import DefectState
from triagebot.mail.source import Incoming
from triagebot.outbox import run_effects
from triagebot.pipeline import Pipeline
from triagebot.regroup import Regrouped, regroup
from triagebot.store import Store
from triagebot.trackers.local import LocalTracker

#: Where the bug is: the innermost five in-app frames, the same from every caller.
_INNER = [
    r"   at Acme.Billing.TaxTable.Rate(String region) in C:\b\Tax.cs:line 88",
    r"   at Acme.Billing.InvoiceTotals.Tax(Invoice invoice) in C:\b\Totals.cs:line 41",
    r"   at Acme.Billing.InvoiceTotals.Compute(Invoice invoice) in C:\b\Totals.cs:line 17",
    r"   at Acme.Billing.InvoiceService.Refresh(Int32 id) in C:\b\Service.cs:line 230",
    r"   at Acme.Cases.CaseViewModel.LoadInvoice(Int32 id) in C:\c\CaseVM.cs:line 64",
]
#: Two callers that reach it.
CALLERS = {
    "case-window": [
        r"   at Acme.Cases.CaseWindow.OnOpened(Object s, EventArgs e) in C:\c\Window.cs:line 30",
        r"   at Acme.Shell.WindowHost.Show(Window window) in C:\s\Host.cs:line 12",
    ],
    "search-panel": [
        r"   at Acme.Search.SearchPanel.OnResultChosen(Result result) in C:\s\Panel.cs:line 77",
        r"   at Acme.Search.SearchPanel.OnKeyDown(KeyEventArgs e) in C:\s\Panel.cs:line 51",
    ],
}


def report(n: int, caller: str) -> bytes:
    """An automated error report of the tax-rate bug, reached from ``caller``."""
    trace = [
        "System.Collections.Generic.KeyNotFoundException: The given key 'NO-4471' was not present.",
        *_INNER,
        *CALLERS[caller],
    ]
    return (
        "From: Acme Client <errors@customer.example>\r\n"
        "To: helpdesk@example.com\r\n"
        f"Subject: Error report {n}\r\n"
        f"Message-ID: <report-{n}@customer.example>\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Application: Acme.Client\r\nVersion: 4.2.0\r\nMachine: WS-{n}\r\n\r\n"
        + "\r\n".join(trace)
        + "\r\n"
    ).encode()


def pipeline(rules: Path, version: str) -> Pipeline:
    config = config_from_dict({"rules": {"path": str(rules)}, "signature": {"version": version}})
    return Pipeline.from_config(config)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", [{"name": "file-all", "action": "file"}])


def record(store: Store, pipe: Pipeline, *mails: tuple[int, str]) -> None:
    handle_batch(pipe, store, "test", [Incoming(f"m{n}", report(n, c)) for n, c in mails])


def test_defects_an_old_version_split_are_joined_into_the_oldest_filed_one(
    store: Store, clock: ManualClock, rules: Path, later: datetime
) -> None:
    """The survivor takes the others' signatures and occurrences, its issue their labels;
    the other's issue is closed as a duplicate of it, and a later report lands on it."""
    v1, v2 = pipeline(rules, "v1"), pipeline(rules, "v2")
    record(store, v1, (1, "case-window"))
    clock.advance(timedelta(hours=1))
    record(store, v1, (2, "search-panel"), (3, "search-panel"))
    tracker = LocalTracker(store)
    run_effects(store, tracker, later)
    first, second = store.defects()  # oldest first
    assert (first.occurrences, second.occurrences) == (1, 2)
    assert first.key is not None and second.key is not None and first.key != second.key

    planned = regroup(store, v2, dry_run=True)
    assert [(j.survivor, j.joined) for j in planned.joins] == [(first.id, (second.id,))]
    assert store.defect(second.id).state is DefectState.FILED  # a dry run changes nothing

    done = regroup(store, v2)
    assert done.joins == planned.joins and done.signed == 2 and done.traceless == ()
    survivor, joined = store.defect(first.id), store.defect(second.id)
    assert survivor.occurrences == 3
    assert set(survivor.signatures) == {
        *first.signatures,
        *second.signatures,
        done.joins[0].signature,
    }
    assert (joined.state, joined.tracker_key, joined.occurrences) == (
        DefectState.DUPLICATE,
        first.key,
        0,
    )
    assert joined.confirmed_by is not None and f"C-{first.id}" in joined.confirmed_by
    since = clock.now - timedelta(days=1)
    assert store.count(second.signatures[0], since) == 3  # its occurrences count on the survivor

    run_effects(store, tracker, later)
    assert tracker.get(second.key).resolved  # closed as a duplicate of the survivor's issue
    labels = tracker.labels(first.key)
    assert all(any(sig in label for label in labels) for sig in second.signatures)

    record(store, v2, (4, "search-panel"))  # after the upgrade: signed by v2 alone
    assert store.defect(first.id).occurrences == 4
    assert store.defect(second.id).occurrences == 0
    assert regroup(store, v2) == Regrouped(0, (), ())  # each defect is signed once
    # Another regrouping that read the joined defect before the join finds it holds nothing.
    assert store.settle_signatures("v2", {"0" * 16: [second.id]}) == []
    assert store.defect(first.id).occurrences == 4
    # ... and one that read both: the signature goes to the one left, with nothing to join.
    assert store.settle_signatures("v2", {"1" * 16: [first.id, second.id]}) == []
    assert "1" * 16 in store.defect(first.id).signatures
    assert store.defect(second.id).signatures == tuple(second.signatures[:1])  # it was made by


def test_a_filed_defect_survives_an_older_candidate(
    store: Store, clock: ManualClock, tmp_path: Path, later: datetime
) -> None:
    """An issue people may already work on is not closed for a candidate nobody filed."""
    rules = write_rules(tmp_path / "ask", [{"name": "ask", "action": "candidate"}])
    v1 = pipeline(rules, "v1")
    record(store, v1, (1, "case-window"))
    clock.advance(timedelta(hours=1))
    record(store, v1, (2, "search-panel"))
    older, newer = store.defects()
    decide(store, newer.id, DefectState.FILED)
    run_effects(store, LocalTracker(store), later)
    done = regroup(store, pipeline(rules, "v2"))
    assert [(j.survivor, j.joined) for j in done.joins] == [(newer.id, (older.id,))]
    assert store.defect(older.id).state is DefectState.DUPLICATE
    assert store.defect(older.id).tracker_key == store.defect(newer.id).tracker_key is not None


def test_the_service_regroups_when_it_starts_and_the_command_shows_it_first(
    tmp_path: Path,
) -> None:
    """``regroup --dry-run`` lists the join and changes nothing; ``run --once`` after the
    upgrade joins the defects before reading mail."""
    bot = Bot(tmp_path)
    rules = write_rules(tmp_path / "rules", [{"name": "file-all", "action": "file"}])
    bot.configure({"signature": {"version": "v1"}, "rules": {"path": str(rules)}})
    seed_maildir(bot.maildir, [("a", report(1, "case-window")), ("b", report(2, "search-panel"))])
    bot.once()
    first, second = bot.defects()
    assert first["state"] == second["state"] == "filed"

    bot.configure({"signature": {"version": "v2"}, "rules": {"path": str(rules)}})
    shown = bot.run("regroup", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert f"C-{first['id']}" in shown.stdout and f"<- C-{second['id']}" in shown.stdout
    assert "would join 1" in shown.stdout
    assert [d["state"] for d in bot.defects()] == ["filed", "filed"]

    result = bot.once()
    assert result.named("store.defects_joined")
    states = {d["id"]: (d["state"], d["key"]) for d in bot.defects()}
    assert states[second["id"]] == ("duplicate", first["key"])
    again = bot.run("regroup")
    assert "signed 0 defects with v2; joined 0" in again.stdout
