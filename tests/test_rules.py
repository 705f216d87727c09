"""Triage rules: every condition, ordering, fields, occurrence windows and broken files."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import factories
from tests.factories import make_outcome, make_report, make_signature
from triagebot.errors import RuleError
from triagebot.pipeline import Outcome
from triagebot.rules import (
    Action,
    Fields,
    RuleSet,
    load_rules,
    parse_duration,
    parse_rule_file,
    parse_version,
)
from triagebot.store import DefectState, Store

SHIPPED = Path(__file__).resolve().parent.parent / "rules"


def rules(text: str) -> RuleSet:
    return RuleSet(tuple(parse_rule_file(text, "t.toml")))


def decide(text: str, **report_args: object) -> tuple[Action, str]:
    d = rules(text).evaluate(make_report("<m@x>", **report_args), make_signature())  # type: ignore[arg-type]
    return d.action, d.rule


def one(condition: str) -> str:
    return f'[[rule]]\nname = "r"\n{condition}\naction = "ignore"\n'


class TestConditions:
    @pytest.mark.parametrize(
        ("condition", "hit"),
        [
            ('exception_type = "System.NullReferenceException"', True),
            ('exception_type = "NullReferenceException"', True),  # short name
            ('exception_type = "System.*Exception"', True),
            ('exception_type = ["Foo", "*.NullReference*"]', True),
            ('exception_type = "ArgumentException"', False),
            ('message = "^Object reference"', True),
            ('message = "(?i)OBJECT REFERENCE"', True),
            ('message = "timeout"', False),
            ('frame = "Acme.Cases.Shell.*"', True),  # any in-app frame
            ('top_frame = "Acme.Cases.Shell.*"', False),  # but not the top one
            ('top_frame = "*.CaseViewModel.Load"', True),
            ('language = "DotNet"', True),
            ('language = ["java", "python"]', False),
            ('application = "acme.cases.*"', True),
            ('environment = "prod"', True),
            ('environment = ["dev", "test"]', False),
            ('machine = "WS-*"', True),
            ('machine = "APPSRV*"', False),
            ('version = ">=4.2, <5"', True),
            ('version = ">4.2"', False),  # 4.2.0 == 4.2
            ('version = "4.2"', True),
            ('version = "!=4.2.0"', False),
            ('header = { "X-Mailer" = "^Acme" }', True),
            ('header = { "x-mailer" = "^Acme", "X-Priority" = "1" }', False),  # absent header
            ('kind = "error_report"', True),
            ('kind = ["reply", "other"]', False),
        ],
    )
    def test_each_condition(self, condition: str, hit: bool) -> None:
        """Every condition kind matches what it should and nothing else."""
        action, rule = decide(one(condition), headers={"x-mailer": "Acme Reporter 2"})
        assert (action, rule) == ((Action.IGNORE, "r") if hit else (Action.CANDIDATE, "default"))

    def test_version_ranges_compare_numerically(self) -> None:
        """4.10 is newer than 4.9, and suffixes do not confuse the comparison."""
        text = one('version = ">=4.10, <5"')
        assert decide(text, version="4.10.1")[0] is Action.IGNORE
        assert decide(text, version="4.9.9")[0] is Action.CANDIDATE
        assert decide(text, version="5.0-beta")[0] is Action.CANDIDATE
        assert decide(text, version="")[0] is Action.CANDIDATE  # unknown version never matches
        assert parse_version("4.10") > parse_version("4.9")  # type: ignore[operator]
        assert parse_version("4.2.0") == parse_version("4.2")
        assert parse_version("n/a") is None

    @given(st.lists(st.integers(0, 50), min_size=1, max_size=4), st.integers(0, 50))
    def test_appending_a_component_makes_a_newer_version(
        self, parts: list[int], extra: int
    ) -> None:
        """a.b.c < a.b.c.(n+1) and a.b.c == a.b.c.0, for any numbers."""
        base = ".".join(map(str, parts))
        assert parse_version(f"{base}.{extra + 1}") > parse_version(base)  # type: ignore[operator]
        assert parse_version(f"{base}.0") == parse_version(base)

    def test_all_conditions_must_hold(self) -> None:
        """One failing condition is enough to skip the rule, and the miss names it."""
        text = one('exception_type = "*NullReference*"\nenvironment = "dev"')
        decision = rules(text).evaluate(make_report("<m@x>"), make_signature(), explain=True)
        assert decision.rule == "default"
        assert decision.misses[0].rule == "r"
        assert "environment matches 'dev'" in decision.misses[0].condition
        assert "(got prod)" in decision.misses[0].condition

    def test_without_signature_frame_rules_do_not_match(self) -> None:
        """Reports without a signature (no frames) never match frame conditions."""
        decision = rules(one('frame = "*"')).evaluate(make_report("<m@x>"), None)
        assert decision.rule == "default"


class TestOrder:
    TEXT = """
[[rule]]
name = "label-all"
description = "fields only"
labels = ["seen"]
priority = "Low"

[[rule]]
name = "prod-high"
environment = "prod"
priority = "High"
components = ["Client"]
labels = ["production"]

[[rule]]
name = "file-nre"
exception_type = "*NullReferenceException"
action = "file"
assignee = "alice"

[[rule]]
name = "ignore-everything"
action = "ignore"
"""

    def test_first_decisive_rule_wins_and_fields_accumulate(self) -> None:
        """Field rules add up (later single values win), the first action decides."""
        decision = rules(self.TEXT).evaluate(make_report("<m@x>"), make_signature())
        assert decision.action is Action.FILE
        assert decision.rule == "file-nre"
        assert decision.fields == Fields(
            priority="High",
            components=("Client",),
            labels=("seen", "production"),
            assignee="alice",
        )
        assert [h.rule for h in decision.hits] == ["label-all", "prod-high", "file-nre"]
        assert decision.misses == ()

    def test_later_decisive_rule_when_earlier_misses(self) -> None:
        """A rule that does not match lets the next one decide."""
        decision = rules(self.TEXT).evaluate(
            make_report("<m@x>", exc_type="System.ArgumentException", environment="dev"),
            make_signature(),
        )
        assert (decision.action, decision.rule) == (Action.IGNORE, "ignore-everything")
        assert decision.fields == Fields(priority="Low", labels=("seen",))
        assert [m.rule for m in decision.misses] == ["prod-high", "file-nre"]

    def test_files_load_in_name_order(self, tmp_path: Path) -> None:
        """``10-*.toml`` is evaluated before ``20-*.toml`` whatever the creation order."""
        (tmp_path / "20-b.toml").write_text('[[rule]]\nname = "b"\naction = "file"\n')
        (tmp_path / "10-a.toml").write_text('[[rule]]\nname = "a"\naction = "ignore"\n')
        (tmp_path / "notes.txt").write_text("not a rule file")
        loaded = load_rules(tmp_path)
        assert [r.name for r in loaded.rules] == ["a", "b"]
        assert loaded.evaluate(make_report("<m@x>"), make_signature()).rule == "a"


class TestOccurrences:
    TEXT = (
        '[[rule]]\nname = "burst"\noccurrences = { at_least = 5, within = "1h" }\naction = "file"\n'
    )

    def test_window_with_a_real_store(self, tmp_path: Path, t0: datetime) -> None:
        """Four recorded in the hour plus this one make five; older ones do not count."""
        store = Store(f"sqlite:///{tmp_path / 's.db'}")
        store.migrate()
        now = t0 + timedelta(hours=3)
        store.record([make_outcome(f"<old{i}@x>") for i in range(10)], now=t0)
        store.record([make_outcome(f"<{i}@x>") for i in range(3)], now=now - timedelta(minutes=1))
        ruleset = rules(self.TEXT)
        report, sig = make_report("<m@x>", at=now), make_signature()
        assert ruleset.evaluate(report, sig, store.count, now=now).rule == "default"
        store.record([make_outcome("<4@x>")], now=now - timedelta(minutes=30))
        assert ruleset.evaluate(report, sig, store.count, now=now).rule == "burst"
        explained = ruleset.evaluate(
            report, sig, store.count, now=now + timedelta(hours=2), explain=True
        )
        assert explained.misses[0].condition.endswith("(got 1 occurrence(s))")

    def test_dry_run_counts_only_this_report(self) -> None:
        """Without a store (replay --dry-run) a threshold above one never matches."""
        assert rules(self.TEXT).evaluate(make_report("<m@x>"), make_signature()).rule == "default"
        low = self.TEXT.replace("at_least = 5", "at_least = 1")
        assert rules(low).evaluate(make_report("<m@x>"), make_signature()).rule == "burst"

    def test_durations(self) -> None:
        assert parse_duration("90s") == timedelta(seconds=90)
        assert parse_duration("1h30m") == timedelta(minutes=90)
        assert parse_duration("2d") == timedelta(days=2)


class TestBrokenFiles:
    @pytest.mark.parametrize(
        ("body", "key", "problem"),
        [
            ('colour = "red"\naction = "file"', "colour", "unknown key"),
            ('message = "(unclosed"\naction = "file"', "message", "bad regex"),
            ("exception_type = 5\naction = 'file'", "exception_type", "string or a non-empty list"),
            ('frame = []\naction = "file"', "frame", "non-empty list"),
            ('version = ">=4.x"\naction = "file"', "version", "bad version range"),
            ('version = "~4"\naction = "file"', "version", "bad version range"),
            ('action = "escalate"', "action", "bad action 'escalate'"),
            (
                "occurrences = { at_least = 5, within = \"soon\" }\naction = 'file'",
                "occurrences",
                "bad duration",
            ),
            (
                "occurrences = { at_least = 0, within = \"1h\" }\naction = 'file'",
                "occurrences",
                "positive integer",
            ),
            ("occurrences = { at_least = 2 }\naction = 'file'", "occurrences", "within"),
            ('kind = "bounce"\naction = "file"', "kind", "unknown kind 'bounce'"),
            ('header = { "X-A" = "[" }\naction = "file"', "header", "bad regex"),
            ('labels = "one"', "labels", "list of strings"),
            ('priority = ""', "priority", "non-empty string"),
            ('environment = "prod"', "action", "neither an action nor fields"),
            ('override_rejection = "yes"\naction = "file"', "override_rejection", "true or false"),
            ('override_rejection = true\naction = "ignore"', "override_rejection", "needs action"),
            ('override_rejection = true\npriority = "High"', "override_rejection", "needs action"),
        ],
    )
    def test_error_names_file_rule_and_key(self, body: str, key: str, problem: str) -> None:
        """Each kind of mistake fails at load, naming the file, the rule and the key."""
        with pytest.raises(RuleError) as err:
            parse_rule_file(f'[[rule]]\nname = "broken"\n{body}\n', "rules/10-x.toml")
        message = str(err.value)
        assert message.startswith("rules/10-x.toml: rule 'broken': key ")
        assert f"key {key!r}" in message
        assert problem in message

    def test_missing_name_points_at_the_rule_number(self) -> None:
        with pytest.raises(RuleError, match=r"t.toml: rule #2: key 'name'"):
            rules('[[rule]]\nname = "a"\naction = "file"\n[[rule]]\naction = "file"\n')

    def test_invalid_toml_names_the_file(self) -> None:
        with pytest.raises(RuleError, match=r"^t.toml: not valid TOML"):
            rules("[[rule]\n")

    def test_duplicate_names_across_files_are_fatal(self, tmp_path: Path) -> None:
        (tmp_path / "10-a.toml").write_text('[[rule]]\nname = "same"\naction = "file"\n')
        (tmp_path / "20-b.toml").write_text('[[rule]]\nname = "same"\naction = "ignore"\n')
        with pytest.raises(RuleError) as err:
            load_rules(tmp_path)
        assert "20-b.toml: rule 'same': key 'name': duplicate" in str(err.value)
        assert "10-a.toml" in str(err.value)


class TestOverrideRejection:
    def test_deciding_rule_carries_the_flag(self) -> None:
        """The decision says whether its rule may lift a rejection (default: it may not)."""
        ruleset = rules(
            '[[rule]]\nname = "flood"\nenvironment = "prod"\naction = "file"\n'
            "override_rejection = true\n"
            '[[rule]]\nname = "rest"\naction = "candidate"\noverride_rejection = false\n'
        )
        prod = ruleset.evaluate(make_report("<p@x>", environment="prod"), make_signature())
        dev = ruleset.evaluate(make_report("<d@x>", environment="dev"), make_signature())
        assert (prod.rule, prod.override_rejection) == ("flood", True)
        assert (dev.rule, dev.override_rejection) == ("rest", False)

    def test_lifts_a_rejection_through_the_store(self, tmp_path: Path) -> None:
        """Rejected, then a matching overriding rule: filed again, with its create."""
        store = Store(f"sqlite:///{tmp_path / 's.db'}")
        store.migrate()
        store.record([make_outcome("<1@x>", Action.CANDIDATE)])
        defect_id = store.defects()[0].id
        factories.decide(store, defect_id, DefectState.REJECTED)
        ruleset = rules(
            '[[rule]]\nname = "new-major"\nversion = ">=5"\naction = "file"\n'
            "override_rejection = true\n"
        )

        def record(message_id: str, version: str) -> str:
            report = make_report(message_id, version=version)
            decision = ruleset.evaluate(report, make_signature())
            store.record([Outcome(report, make_signature(), decision)])
            return store.defects()[0].state

        assert record("<old@x>", "4.9") == "rejected"  # the default rule decided: still muted
        assert record("<new@x>", "5.0") == "filed"
        assert ("create", "pending", 0) in store.effects(defect_id)
        store.close()

    def test_documented_in_the_shipped_rules(self) -> None:
        text = "".join(p.read_text(encoding="utf-8") for p in SHIPPED.glob("*.toml"))
        assert "override_rejection" in text


class TestShippedRules:
    @pytest.fixture(scope="class")
    def shipped(self) -> RuleSet:
        return load_rules(SHIPPED)

    def test_every_shipped_rule_is_documented(self, shipped: RuleSet) -> None:
        assert len(shipped.rules) >= 6
        assert all(r.description for r in shipped.rules)

    def test_thread_abort_is_ignored(self, shipped: RuleSet) -> None:
        report = make_report(
            "<m@x>",
            exc_type="System.Threading.ThreadAbortException",
            message="Thread was being aborted.",
        )
        assert shipped.evaluate(report, make_signature()).rule == "ignore-thread-abort"

    def test_dns_blip_ignored_on_dev_only(self, shipped: RuleSet) -> None:
        blip = {
            "exc_type": "System.Net.WebException",
            "message": "The remote name could not be resolved: 'api.acme.local'",
        }
        dev = shipped.evaluate(make_report("<a@x>", environment="dev", **blip), make_signature())
        prod = shipped.evaluate(make_report("<b@x>", environment="prod", **blip), make_signature())
        assert dev.action is Action.IGNORE
        assert prod.action is Action.CANDIDATE
        assert "production" in prod.fields.labels

    def test_deadlock_in_service_is_filed_with_highest_priority(self, shipped: RuleSet) -> None:
        report = make_report(
            "<m@x>",
            exc_type="System.Data.SqlClient.SqlException",
            message="Transaction (Process ID 71) was deadlocked ... chosen as the deadlock victim.",
            frames=("Acme.Desk.AppServer.CaseRepository.Save",),
        )
        sig = make_signature(frames=("Acme.Desk.AppServer.CaseRepository.Save",))
        decision = shipped.evaluate(report, sig)
        assert (decision.action, decision.rule) == (
            Action.FILE,
            "file-service-crashes-in-production",
        )
        assert decision.fields.priority == "Highest"
        assert decision.fields.components == ("App server",)
        assert decision.fields.labels == ("data-loss", "production")

    def test_evaluation_is_fast(self, shipped: RuleSet) -> None:
        """The shipped rules evaluate well above the pipeline's 5,000 msg/s budget (per CPU
        second: the machine's other work does not count)."""
        report, sig = make_report("<m@x>"), make_signature()
        start = time.process_time()
        for _ in range(5000):
            shipped.evaluate(report, sig)
        rate = 5000 / (time.process_time() - start)
        print(f"rules.evaluate: {rate:,.0f} msg/s")
        assert rate > 20_000


class TestFieldsJson:
    @given(
        st.builds(
            Fields,
            project=st.none() | st.text(min_size=1),
            priority=st.none() | st.text(min_size=1),
            components=st.lists(st.text()).map(tuple),
            labels=st.lists(st.text()).map(tuple),
        )
    )
    def test_round_trip(self, fields: Fields) -> None:
        """What a rule sets survives the store's JSON: ``from_dict`` reads ``as_dict``."""
        assert Fields.from_dict(fields.as_dict()) == fields
