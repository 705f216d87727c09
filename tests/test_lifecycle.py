"""The defect life cycle without a database: the transitions table, the ladder, human states,
lifted rejections, regressions and the effects each change queues."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triagebot import lifecycle
from triagebot.lifecycle import (
    LISTED,
    OTHERS,
    DefectState,
    EffectKind,
    HumanDecision,
    Need,
    Touched,
    batch_effects,
    decision_applies,
    decision_effects,
    follow_up,
    is_regression,
    link_effect,
    newer,
    occur,
    promote,
    tally,
    wanted_state,
)
from triagebot.rules import Action

T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
LADDER = (DefectState.IGNORED, DefectState.CANDIDATE, DefectState.FILED)
HUMAN = (DefectState.REJECTED, DefectState.DUPLICATE)
S = DefectState


def touched(state: DefectState = S.FILED, **changes: object) -> Touched:
    t = Touched(1, state, None, False, None, None, T0)
    for name, value in changes.items():
        setattr(t, name, value)
    return t


def kinds(needs: list[Need]) -> list[EffectKind]:
    return [n.kind for n in needs]


class TestPurity:
    def test_importing_the_life_cycle_loads_no_database_or_configuration(self) -> None:
        """``triagebot.lifecycle`` is pure: neither SQLAlchemy, the store nor the config load."""
        code = (
            "import sys, triagebot.lifecycle; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'triagebot'))))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "sqlalchemy" not in done.stdout
        assert "triagebot.store" not in done.stdout
        assert "triagebot.config" not in done.stdout
        assert "triagebot.clock" not in done.stdout


# (current state, state the rule wants) -> state after, without ``override_rejection``
TRANSITIONS = {
    (S.IGNORED, S.IGNORED): S.IGNORED,
    (S.IGNORED, S.CANDIDATE): S.CANDIDATE,
    (S.IGNORED, S.FILED): S.FILED,
    (S.CANDIDATE, S.IGNORED): S.CANDIDATE,
    (S.CANDIDATE, S.CANDIDATE): S.CANDIDATE,
    (S.CANDIDATE, S.FILED): S.FILED,
    (S.FILED, S.IGNORED): S.FILED,
    (S.FILED, S.CANDIDATE): S.FILED,
    (S.FILED, S.FILED): S.FILED,
    (S.REJECTED, S.IGNORED): S.REJECTED,
    (S.REJECTED, S.CANDIDATE): S.REJECTED,
    (S.REJECTED, S.FILED): S.REJECTED,
    (S.DUPLICATE, S.IGNORED): S.DUPLICATE,
    (S.DUPLICATE, S.CANDIDATE): S.DUPLICATE,
    (S.DUPLICATE, S.FILED): S.DUPLICATE,
}


class TestTransitions:
    def test_the_table_covers_every_state_and_action(self) -> None:
        assert set(TRANSITIONS) == set(product(DefectState, LADDER))

    @pytest.mark.parametrize(("key", "after"), TRANSITIONS.items(), ids=str)
    def test_transitions(self, key: tuple[DefectState, DefectState], after: DefectState) -> None:
        """A rule's wish moves a defect as the table says."""
        state, wanted = key
        assert promote(state, wanted) is after

    @pytest.mark.parametrize(
        ("action", "state"),
        [
            (Action.FILE, S.FILED),
            (Action.CANDIDATE, S.CANDIDATE),
            (Action.IGNORE, S.IGNORED),
            (None, S.CANDIDATE),
        ],
    )
    def test_what_an_action_wants(self, action: Action | None, state: DefectState) -> None:
        """Each action wants its state; no decision at all proposes a candidate."""
        assert wanted_state(action) is state

    @given(st.sampled_from(LADDER), st.sampled_from(LADDER), st.booleans())
    def test_promotion_never_demotes(
        self, state: DefectState, wanted: DefectState, lift: bool
    ) -> None:
        """On the ladder the state only goes up, lifted or not."""
        after = promote(state, wanted, lift=lift)
        assert after in LADDER
        assert lifecycle.RANK[after] == max(lifecycle.RANK[state], lifecycle.RANK[wanted])

    @given(st.sampled_from(HUMAN), st.sampled_from(LADDER))
    def test_human_states_are_off_the_ladder(self, state: DefectState, wanted: DefectState) -> None:
        """No rule moves a rejected or duplicate defect."""
        assert state not in lifecycle.RANK
        assert promote(state, wanted) is state


class TestOverrideRejection:
    @pytest.mark.parametrize("wanted", [S.FILED, S.CANDIDATE])
    def test_lifts_a_rejection(self, wanted: DefectState) -> None:
        """An ``override_rejection`` rule moves a rejected defect to what it wants."""
        assert promote(S.REJECTED, wanted, lift=True) is wanted

    def test_does_not_lift_to_ignored(self) -> None:
        """An ignore rule cannot lift a rejection (the flag needs file or candidate)."""
        assert promote(S.REJECTED, S.IGNORED, lift=True) is S.REJECTED

    def test_lifts_only_rejections(self) -> None:
        """A duplicate stays a duplicate, even for an ``override_rejection`` rule."""
        for wanted in LADDER:
            assert promote(S.DUPLICATE, wanted, lift=True) is S.DUPLICATE

    def test_occur_reports_a_lifted_rejection(self) -> None:
        """``occur`` says when it lifted a rejection (the store logs it) and marks the change."""
        t = touched(S.REJECTED)
        assert occur(t, S.FILED, {}, T0, lift=True) is True
        assert (t.state, t.state_changed) == (S.FILED, True)
        assert occur(t, S.FILED, {}, T0, lift=True) is False

    def test_occur_without_the_flag_keeps_the_rejection(self) -> None:
        t = touched(S.REJECTED)
        assert occur(t, S.FILED, {}, T0, lift=False) is False
        assert (t.state, t.state_changed, t.new) == (S.REJECTED, False, 1)


class TestRegression:
    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ("4.10", "4.9", True),
            ("4.9", "4.10", False),
            ("4.2.0", "4.2", False),  # equal is not newer
            ("5.0", None, True),  # nothing known yet: any known version is newer
            (None, "1.0", False),
            ("n/a", None, False),
        ],
    )
    def test_newer(self, a: str | None, b: str | None, expected: bool) -> None:
        assert newer(a, b) is expected

    def test_only_a_strictly_newer_version_is_a_regression(self) -> None:
        """After a fix in 5.3, a recurrence in 5.4 is a regression; 5.3 and 5.2 are stragglers."""

        def regression(version: str | None) -> bool:
            return is_regression(version, resolved=True, resolved_version="5.3")

        assert regression("5.4")
        assert not regression("5.3.0")
        assert not regression("5.2")
        assert not regression(None)

    def test_no_regression_while_open(self) -> None:
        assert not is_regression("9", resolved=False, resolved_version="1")

    def test_occur_reopens_once_on_a_newer_version(self) -> None:
        """The first newer recurrence reopens; the defect is no longer resolved after it."""
        t = touched(S.FILED, tracker_key="OPS-1", resolved=True, resolved_version="5.3")
        occur(t, S.FILED, {"version": "5.2"}, T0, lift=False)
        assert (t.resolved, t.reopen_version) == (True, None)
        occur(t, S.FILED, {"version": "5.4"}, T0, lift=False)
        occur(t, S.FILED, {"version": "5.5"}, T0, lift=False)
        assert (t.resolved, t.reopen_version, t.last_version) == (False, "5.4", "5.5")

    def test_a_regression_whose_key_was_forgotten_is_filed_anew(self) -> None:
        """After a move to another tracker kind a resolved defect keeps no key: when it comes
        back in a newer version it is created in the new tracker, not reopened."""
        t = touched(S.FILED, resolved=True, resolved_version="1.0")
        occur(t, S.FILED, {"version": "2.0"}, T0, lift=False)
        assert (t.resolved, t.reopen_version) == (False, "2.0")
        assert kinds(batch_effects(t, created=False)) == [EffectKind.CREATE]
        old = touched(S.FILED, resolved=True, resolved_version="1.0")
        occur(old, S.FILED, {"version": "1.0"}, T0, lift=False)
        assert batch_effects(old, created=False) == []

    def test_occur_counts_and_collects(self) -> None:
        """Each occurrence counts once; last_seen never goes back; versions and environments
        are counted; the newest version is kept."""
        t = touched(S.FILED)
        occur(t, S.FILED, {"version": "2.0", "environment": "prod"}, T0, lift=False)
        earlier = T0 - timedelta(days=1)
        occur(t, S.FILED, {"version": "1.0", "environment": "test"}, earlier, lift=False)
        occur(t, S.FILED, {"version": "2.0", "environment": "prod"}, earlier, lift=False)
        assert (t.new, t.last_seen, t.last_version) == (3, T0, "2.0")
        assert (t.versions, t.environments) == ({"1.0": 1, "2.0": 2}, {"prod": 2, "test": 1})


class TestBatchEffects:
    def test_a_new_filed_defect_is_created(self) -> None:
        assert kinds(batch_effects(touched(S.FILED), created=True)) == [EffectKind.CREATE]

    def test_a_known_filed_defect_waiting_for_its_create_queues_nothing_new(self) -> None:
        """Its create is pending already: occurrences reach the issue when it exists."""
        assert batch_effects(touched(S.FILED), created=False) == []

    def test_a_promotion_to_filed_is_created(self) -> None:
        t = touched(S.FILED, state_changed=True)
        assert kinds(batch_effects(t, created=False)) == [EffectKind.CREATE]

    @pytest.mark.parametrize("state", [S.FILED, S.DUPLICATE])
    def test_a_tracked_defect_with_an_issue_is_updated(self, state: DefectState) -> None:
        """The update carries the batch's versions and environments, counted."""
        t = touched(state, tracker_key="OPS-1")
        t.versions.update({"2": 3, "1": 1})
        t.environments.update({"prod": 4})
        assert batch_effects(t, created=False) == [
            Need(EffectKind.UPDATE, {"versions": {"2": 3, "1": 1}, "environments": {"prod": 4}})
        ]

    def test_a_new_candidate_is_notified_once(self) -> None:
        assert batch_effects(touched(S.CANDIDATE), created=True) == [
            Need(EffectKind.NOTIFY, {"reason": "candidate"})
        ]
        assert batch_effects(touched(S.CANDIDATE), created=False) == []

    @pytest.mark.parametrize("state", [S.IGNORED, S.REJECTED])
    def test_untracked_states_queue_nothing(self, state: DefectState) -> None:
        assert batch_effects(touched(state, tracker_key="OPS-1"), created=True) == []

    def test_a_regression_reopens_before_it_updates(self) -> None:
        t = touched(S.FILED, tracker_key="OPS-1", reopen_version="5.4")
        needs = batch_effects(t, created=False)
        assert kinds(needs) == [EffectKind.REOPEN, EffectKind.UPDATE]
        assert needs[0].payload == {"version": "5.4"}

    def test_a_new_signature_links_only_tracked_defects(self) -> None:
        """An upgraded algorithm's signature: a tracked defect's issue learns its label."""
        assert link_effect(S.FILED, "abc") == Need(EffectKind.LINK, {"signature": "abc"}, "abc")
        assert link_effect(S.DUPLICATE, "abc") is not None
        assert link_effect(S.CANDIDATE, "abc") is None
        assert link_effect(S.IGNORED, "abc") is None


def after(
    done: EffectKind,
    payload: dict[str, Any],
    *,
    state: DefectState = S.FILED,
    key: str | None = "OPS-1",
    seen: int = 5,
    reported: int = 3,
) -> Need | None:
    """``follow_up`` for a defect with ``seen`` occurrences, ``reported`` of them told."""
    return follow_up(
        done, payload, state=state, tracker_key=key, occurrences=seen, reported=reported
    )


class TestFollowUp:
    def test_occurrences_in_flight_get_a_fresh_update(self) -> None:
        """An update completed while more arrived hands its payload on; a create starts empty."""
        payload: dict[str, Any] = {"versions": {"1": 2}, "environments": {}}
        assert after(EffectKind.UPDATE, payload) == Need(EffectKind.UPDATE, payload)
        assert after(EffectKind.CREATE, payload) == Need(EffectKind.UPDATE, {})

    def test_nothing_when_the_issue_heard_of_everything(self) -> None:
        """No fresh update when all was told, there is no issue, or the defect is not tracked."""
        assert after(EffectKind.UPDATE, {}, seen=3, reported=3) is None
        assert after(EffectKind.CREATE, {}, key=None) is None
        assert after(EffectKind.UPDATE, {}, state=S.REJECTED) is None


class TestTally:
    def test_counts_add_up_and_the_most_frequent_are_listed(self) -> None:
        assert tally({"4.2": 3, "4.1": 1}, {"4.2": 2, "4.3": 2}) == {"4.2": 5, "4.3": 2, "4.1": 1}

    def test_a_defect_seen_in_thousands_of_versions_keeps_a_small_payload(self) -> None:
        """However many builds report it, the payload lists ``LISTED`` names and sums the
        other occurrences: nothing is lost, nothing grows (issue: 133 KB after 100k mails)."""
        merged: dict[str, int] = {}
        for build in range(5_000):
            merged = tally(merged, {f"4.{build}": 1 + (build % 7 == 0)})
        assert len(merged) == LISTED + 1
        assert sum(merged.values()) == 5_000 + len(range(0, 5_000, 7))
        assert all(n == 2 for name, n in merged.items() if name != OTHERS)

    def test_a_comment_stays_small_however_long_the_names(self) -> None:
        """A version string of 10,000 characters (a build log pasted into the field) is cut,
        so an occurrence comment stays far below Jira's 32,767 characters."""
        merged = tally({("v" * 10_000) + str(n): 1 for n in range(100)})
        assert sum(len(name) for name in merged) <= (LISTED + 1) * 64

    def test_names_queued_by_release_0_1_0_count_once_each(self) -> None:
        assert tally(["4.1", "4.2"], {"4.2": 2}) == {"4.2": 3, "4.1": 1}


class TestHumanDecisions:
    CONFIRM = HumanDecision(S.FILED, frozenset({S.CANDIDATE}), by="alice@example.com")
    DUPLICATE = HumanDecision(S.DUPLICATE, frozenset({S.CANDIDATE, S.FILED}), tracker_key="OPS-7")

    @given(st.sampled_from(DefectState))
    def test_a_decision_applies_only_from_its_states(self, state: DefectState) -> None:
        assert decision_applies(self.CONFIRM, state) is (state is S.CANDIDATE)

    def test_confirming_creates_an_issue_or_reopens_the_one_an_undo_closed(self) -> None:
        """A candidate keeps a key only when an undo closed its issue: confirming it again
        reopens that issue (saying who) and tells it the occurrences it missed."""
        assert decision_effects(self.CONFIRM, None) == [Need(EffectKind.CREATE, {})]
        assert decision_effects(self.CONFIRM, "OPS-1") == [
            Need(EffectKind.REOPEN, {"by": "alice@example.com"}),
            Need(EffectKind.UPDATE, {}),
        ]

    def test_a_duplicate_links_every_signature_then_updates(self) -> None:
        """The existing issue learns each signature's label and hears of the occurrences."""
        assert lifecycle.relinks(self.DUPLICATE)
        needs = decision_effects(self.DUPLICATE, None, ["a", "b"])
        assert needs == [
            Need(EffectKind.LINK, {"signature": "a"}, "a"),
            Need(EffectKind.LINK, {"signature": "b"}, "b"),
            Need(EffectKind.UPDATE, {}),
        ]

    CONFIRMED = lifecycle.Before(
        state=S.CANDIDATE,
        decided=S.FILED,
        fields={"priority": "Low"},
        confirmed_by=None,
        tracker_key=None,
        occurrences_reported=0,
    )

    @pytest.mark.parametrize(
        ("kwargs", "why"),
        [
            ({"last_was_undo": None}, lifecycle.UndoRefusal.NOTHING),
            ({"last_was_undo": True}, lifecycle.UndoRefusal.UNDONE),
            ({"before": None}, lifecycle.UndoRefusal.NO_CHANGE),
            ({"age": timedelta(hours=1)}, lifecycle.UndoRefusal.EXPIRED),
            ({"changed_since": True}, lifecycle.UndoRefusal.SUPERSEDED),
            ({"state": S.DUPLICATE}, lifecycle.UndoRefusal.SUPERSEDED),
            ({}, None),
        ],
    )
    def test_an_undo_applies_only_to_a_recent_command_nothing_followed(
        self, kwargs: dict[str, Any], why: lifecycle.UndoRefusal | None
    ) -> None:
        """The window is measured from the command; at its end the command is final."""
        given_ = {
            "last_was_undo": False,
            "before": self.CONFIRMED,
            "age": timedelta(minutes=59),
            "window": timedelta(hours=1),
            "changed_since": False,
            "state": S.FILED,
            **kwargs,
        }
        assert lifecycle.undo_refusal(**given_) is why

    def test_an_undone_confirmation_keeps_its_issue_and_closes_it(self) -> None:
        values = lifecycle.undo_values(self.CONFIRMED, "OPS-1", 5)
        assert values == {
            "state": S.CANDIDATE,
            "fields": {"priority": "Low"},
            "confirmed_by": None,
            "tracker_key": "OPS-1",
            "occurrences_reported": 5,
        }
        assert lifecycle.undo_effects(self.CONFIRMED, "bob@x.test") == [
            Need(EffectKind.CLOSE, {"by": "bob@x.test"})
        ]

    def test_an_undone_duplicate_forgets_the_other_issue(self) -> None:
        before = lifecycle.Before(S.CANDIDATE, S.DUPLICATE, {}, None, None, 3)
        assert lifecycle.Before.from_dict(before.as_dict()) == before
        values = lifecycle.undo_values(before, "OPS-7", 0)
        assert (values["state"], values["tracker_key"], values["occurrences_reported"]) == (
            S.CANDIDATE,
            None,
            3,
        )
        assert lifecycle.undo_effects(before, "bob@x.test") == []

    def test_a_rejection_queues_nothing(self) -> None:
        reject = HumanDecision(S.REJECTED, frozenset({S.CANDIDATE}))
        assert not lifecycle.relinks(reject)
        assert decision_effects(reject, None, ["a"]) == []
