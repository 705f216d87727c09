"""Switching tracker kind: the service says what happens to the defects, and
``triagebot defects move`` files the open ones in the new tracker once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.clocks import ManualClock
from tests.factories import FakeTime, jira_settings, make_outcome, make_signature, resolve
from tests.fakejira import FakeJira
from tests.helpers import Bot, jira_tracker, samples, seed_maildir
from triagebot.outbox import run_effects
from triagebot.rules import Action
from triagebot.store import DefectState, HumanDecision, ReplyRecord, Store
from triagebot.tracker_move import kind_warning, move_defects
from triagebot.trackers.jira import JiraTracker
from triagebot.trackers.local import LocalTracker

SIGS = [f"{i:016x}" for i in range(1, 5)]


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


def filed_locally(store: Store, later: datetime) -> dict[str, int]:
    """Four filed defects in the local tracker: LOCAL-1..3 open (2 and 4 share LOCAL-2, 4
    being a duplicate of it), LOCAL-3 resolved after version 4.2. Signature → defect id."""
    assert kind_warning(store, "local") is None  # a new store takes the configured kind
    store.record([make_outcome(f"<{s}@x>", signature=make_signature(s)) for s in SIGS[:3]])
    store.record([make_outcome("<dup@x>", Action.CANDIDATE, signature=make_signature(SIGS[3]))])
    assert run_effects(store, LocalTracker(store), later) == 3
    ids = {d.signatures[0]: d.id for d in store.defects()}
    duplicate = HumanDecision(DefectState.DUPLICATE, frozenset(DefectState), tracker_key="LOCAL-2")
    store.apply_reply(
        ReplyRecord("<r@x>", ids[SIGS[3]], "h@x", "duplicate", {}, later, "<t>"), duplicate
    )
    resolve(store, "LOCAL-3")
    return ids


def jira(fake: FakeJira) -> JiraTracker:
    fake_time = FakeTime()
    return JiraTracker(jira_settings(fake), sleep=fake_time.sleep, clock=fake_time.clock)


def test_switching_kind_is_explained_until_the_defects_move(
    store: Store, later: datetime, fake_jira: FakeJira
) -> None:
    filed_locally(store, later)
    warning = kind_warning(store, "jira")
    assert warning is not None
    assert "4 defects hold local keys" in warning
    assert "triagebot defects move --to jira" in warning
    move_defects(store, jira(fake_jira), "jira")
    assert kind_warning(store, "jira") is None
    assert store.tracker_kind() == "jira"


def test_open_issues_move_once_and_resolved_ones_are_filed_again_on_regression(
    store: Store, later: datetime, fake_jira: FakeJira
) -> None:
    ids = filed_locally(store, later)
    tracker = jira(fake_jira)
    queued = store.effects()

    moves = move_defects(store, tracker, "jira")
    again = move_defects(store, tracker, "jira")  # a move that stopped half-way runs again

    by_old = {m.old_key: m for m in moves}
    assert set(by_old) == {"LOCAL-1", "LOCAL-2", "LOCAL-3"}
    assert by_old["LOCAL-3"].new_key is None
    assert by_old["LOCAL-1"].created and by_old["LOCAL-2"].created
    assert len(fake_jira.issues) == 2  # one issue per open defect, even after the second run
    assert not any(m.created for m in again)
    keys = {d.id: d.key for d in store.defects()}
    assert keys[ids[SIGS[1]]] == keys[ids[SIGS[3]]] == by_old["LOCAL-2"].new_key  # duplicate too
    assert keys[ids[SIGS[2]]] is None
    assert store.effects() == queued  # the move queues nothing

    store.record([make_outcome("<old@x>", signature=make_signature(SIGS[2]), version="4.2")])
    store.record([make_outcome("<new@x>", signature=make_signature(SIGS[2]), version="5.0")])
    assert store.effects(ids[SIGS[2]])[-1] == ("create", "pending", 0)  # 5.0 > 4.2: anew
    run_effects(store, tracker, later)
    assert len(fake_jira.issues) == 3
    assert store.defect(ids[SIGS[2]]).tracker_key is not None


def test_cli_moves_and_says_what_it_did(tmp_path: Path, fake_jira: FakeJira) -> None:
    """From a fresh install on the local tracker to Jira, as an operator would do it."""
    bot = Bot(tmp_path, env={"TB_JIRA_TOKEN": "api-token"})
    seed_maildir(bot.maildir, samples())
    jira_table = jira_tracker(fake_jira.url, "TB_JIRA_TOKEN")["jira"]
    bot.configure({"tracker": {"kind": "local", "jira": jira_table}, "rules": {"path": "rules"}})
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "file.toml").write_text(
        '[[rule]]\nname = "file-all"\naction = "file"\n', encoding="utf-8"
    )
    bot.once()
    filed = [d for d in bot.defects() if d["key"]]
    assert filed

    dry = bot.run("defects", "move", "--to", "jira", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would move {len(filed)} issues" in dry.stdout
    assert fake_jira.issues == {}
    moved = bot.run("defects", "move", "--to", "jira")

    assert moved.returncode == 0, moved.stderr
    assert len(fake_jira.issues) == len(filed)
    assert f"moved {len(filed)} issues to jira" in moved.stdout
    assert 'now set [tracker] kind = "jira"' in moved.stdout
    assert "api-token" not in moved.stdout + moved.stderr
    assert all(d["key"].startswith("OPS-") for d in bot.defects() if d["key"])
    bot.configure({"tracker": {"kind": "jira", "jira": jira_table}, "rules": {"path": "rules"}})
    assert bot.run("check-config").stdout.count("defects hold") == 0
