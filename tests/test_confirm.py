"""The confirmation loop's parts: tokens, commands, authorisation, templates, store and mails.

Real parts only: the real pipeline and rules make the candidates, a real SQLite store keeps
them, and the candidate mails go through a real aiosmtpd server.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import RULES, SAMPLES, Bot
from tests.servers.smtp import SmtpServer
from triagebot.config import Config, HelpdeskConfig, Secret, SmtpConfig, config_from_dict
from triagebot.confirm import Notifier, ReplyHandler, Templates, Verb, parse_command, tokens
from triagebot.confirm.commands import COMMANDS, HELP
from triagebot.confirm.trust import Gate, authentication_problem, locate
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind, Report
from triagebot.mail.source import Folder
from triagebot.outbox import run_notifications
from triagebot.pipeline import Pipeline
from triagebot.smtp import Mailer
from triagebot.store import DefectState, EffectKind, Store
from triagebot.trackers import tracker_kind

SECRET = "unit-test-secret-0123456789"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(days=30)
ALICE = "alice@example.test"
HELPDESK = HelpdeskConfig(
    recipients=(ALICE, "bob@example.test"),
    allowed_senders=(ALICE, "staff.example.test"),
    reply_address="helpdesk@example.test",
    token_secret=Secret(SECRET, "test"),
    trusted_authserv_ids=("mx.example.test",),
)


def token_for(recipient: str = ALICE, candidate: int = 1, now: datetime = NOW) -> str:
    return str(tokens.issue(SECRET, candidate, recipient, now, TTL))


def reply(
    body: str = "confirm",
    *,
    sender: str = ALICE,
    in_reply_to: str = "",
    to: str = "helpdesk@example.test",
    subject: str = "Re: [triage C-1] NullReferenceException in CaseViewModel.Load",
    extra: str = "",
) -> Report:
    """A reply mail through the real parser (helpdesk reply address as own address)."""
    raw = (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <reply-{abs(hash((body, sender, in_reply_to, to, extra)))}@example.test>\r\n"
        + (f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else "")
        + extra
        + f"\r\n{body}\r\n"
    ).encode()
    return parse_message(raw, ParseSettings(own_addresses=("helpdesk@example.test",)))


def thread_id(token: str) -> str:
    return f"<triagebot.c-{token}@example.test>"


class TestTokens:
    def test_a_token_verifies_for_its_recipient_only(self) -> None:
        """The recipient (any case) is accepted; anybody else is not."""
        token = tokens.parse(token_for())
        assert token is not None
        assert tokens.verify(SECRET, token, "ALICE@example.test", NOW) is None
        assert "not issued" in (tokens.verify(SECRET, token, "bob@example.test", NOW) or "")

    def test_expired_token_is_refused(self) -> None:
        token = tokens.parse(token_for(now=NOW - TTL - timedelta(hours=1)))
        assert token is not None
        assert "expired" in (tokens.verify(SECRET, token, ALICE, NOW) or "")

    def test_forged_token_with_another_secret_is_refused(self) -> None:
        forged = tokens.issue("attacker-secret-0123456789", 1, ALICE, NOW, TTL)
        assert tokens.verify(SECRET, forged, ALICE, NOW) is not None

    @pytest.mark.parametrize("part", ["candidate", "expiry", "mac"])
    def test_tampered_token_is_refused(self, part: str) -> None:
        """Changing the candidate id, moving the expiry or flipping the MAC breaks it."""
        token = tokens.parse(token_for())
        assert token is not None
        if part == "candidate":
            token = dataclasses.replace(token, candidate_id=2)
        elif part == "expiry":
            token = dataclasses.replace(token, expires=token.expires + timedelta(days=365))
        else:
            token = dataclasses.replace(
                token, mac=("b" if token.mac[0] == "a" else "a") + token.mac[1:]
            )
        assert tokens.verify(SECRET, token, ALICE, NOW) is not None

    def test_token_shape(self) -> None:
        """Lowercase base32, candidate id and expiry readable, at least 80 bits of MAC."""
        text = token_for(candidate=42)
        assert text == text.lower() and text.startswith("c42-")
        mac = text.rsplit("-", 1)[1]
        assert len(mac) * 5 >= 80
        assert tokens.parse(text.upper()) == tokens.parse(text)
        assert tokens.parse("c42-xyz") is None

    @given(st.integers(1, 10**9), st.emails(), st.integers(0, 10**6))
    def test_round_trip(self, candidate: int, recipient: str, seconds: int) -> None:
        now = NOW + timedelta(seconds=seconds)
        token = tokens.issue(SECRET, candidate, recipient, now, TTL)
        assert tokens.parse(str(token)) == token
        assert tokens.verify(SECRET, token, recipient, now) is None


class TestCommands:
    def test_confirm_with_fields_on_the_same_and_following_lines(self) -> None:
        command = parse_command(
            "Confirm priority high\nComponent: Client\nassign bob\nlabel billing\n\nthanks"
        )
        assert command is not None
        assert command.verb is Verb.CONFIRM
        assert command.args() == {
            "priority": "High",
            "components": ["Client"],
            "labels": ["billing"],
            "assignee": "bob",
        }

    def test_confirm_fields_stop_at_prose(self) -> None:
        command = parse_command("confirm\nthe priority is obviously high, see ticket")
        assert command is not None and command.verb is Verb.CONFIRM
        assert command.priority is None

    @pytest.mark.parametrize(
        ("text", "verb", "args"),
        [
            ("REJECT known network blip", Verb.REJECT, {"reason": "known network blip"}),
            ("reject", Verb.REJECT, {}),
            ("Duplicate ops-123.", Verb.DUPLICATE, {"key": "ops-123"}),
            ("duplicate C-41", Verb.UNKNOWN, {"text": "duplicate C-41"}),
            ("duplicate of something", Verb.UNKNOWN, {"text": "duplicate of something"}),
            ("Ignore!", Verb.IGNORE, {}),
            ("help", Verb.HELP, {}),
            ("yes please", Verb.UNKNOWN, {"text": "yes please"}),
            ("\n\n  confirm.  \n", Verb.CONFIRM, {}),
        ],
    )
    def test_verbs(self, text: str, verb: Verb, args: dict[str, str]) -> None:
        command = parse_command(text)
        assert command is not None
        assert (command.verb, command.args()) == (verb, args)

    @pytest.mark.parametrize(
        ("kind", "text", "key"),
        [
            ("jira", "duplicate ops-123.", "OPS-123"),
            ("jira", "duplicate 123", None),
            ("jira", "duplicate c-41", None),  # a candidate, not Jira project C
            ("local", "duplicate LOCAL-7", "LOCAL-7"),
            ("local", "duplicate OPS-7", None),
        ],
    )
    def test_duplicate_takes_the_configured_trackers_keys(
        self, kind: str, text: str, key: str | None
    ) -> None:
        """Each tracker kind says what its keys look like; anything else is not understood."""
        command = parse_command(text, tracker_kind(kind).key)
        assert command is not None
        expected = (Verb.DUPLICATE, key) if key else (Verb.UNKNOWN, None)
        assert (command.verb, command.key) == expected

    def test_help_lists_every_registered_command(self) -> None:
        """The command list in mails is made from the registry the parser uses."""
        assert [usage.split()[0] for usage, _ in HELP] == list(COMMANDS)
        rendered = Templates().render("help.txt.j2", line="", reference="C-1")
        assert all(usage in rendered for usage, _ in HELP)

    def test_prose_is_a_comment_and_nothing_is_none(self) -> None:
        command = parse_command("I think this is the same as last week.\nCan someone look?")
        assert command is not None and command.verb is Verb.COMMENT
        assert "last week" in command.args()["text"]
        assert parse_command(" \n\n") is None

    def test_only_the_first_line_counts(self) -> None:
        """A command further down (e.g. in an untrimmed quote) is not read."""
        command = parse_command("Looks like a real problem to me, please check it\nconfirm")
        assert command is not None and command.verb is Verb.COMMENT


class TestTrust:
    gate = Gate(HELPDESK)

    @pytest.mark.parametrize(
        ("kwargs", "found_in"),
        [
            ({"in_reply_to": thread_id(token_for())}, "in-reply-to"),
            ({"to": f"helpdesk+c-{token_for()}@example.test"}, "plus-address"),
            ({"extra": "Authentication-Results: mx.example.test; dkim=pass\r\n"}, "subject"),
        ],
    )
    def test_token_places(self, kwargs: dict[str, str], found_in: str) -> None:
        report = reply(**kwargs)
        assert report.kind is Kind.REPLY
        located = locate(report)
        assert (located.found_in, located.candidate_id) == (found_in, 1)
        assert self.gate.check(report, NOW).reason is None

    def test_token_in_references(self) -> None:
        extra = f"References: <other@x> {thread_id(token_for())}\r\n"
        report = reply(in_reply_to="", extra=extra)
        assert locate(report).found_in == "references"

    @pytest.mark.parametrize(
        ("token", "sender", "why"),
        [
            (token_for("mallory@evil.test"), ALICE, "not issued"),  # token for another recipient
            (token_for(now=NOW - TTL - TTL), ALICE, "expired"),
            (str(tokens.issue("x" * 20, 1, ALICE, NOW, TTL)), ALICE, "not issued"),  # forged
            (token_for("eve@elsewhere.test"), "eve@elsewhere.test", "allowed_senders"),
        ],
    )
    def test_refusals(self, token: str, sender: str, why: str) -> None:
        verdict = self.gate.check(reply(sender=sender, in_reply_to=thread_id(token)), NOW)
        assert verdict.reason is not None and why in verdict.reason

    def test_subject_only_needs_an_allowed_sender(self) -> None:
        extra = "Authentication-Results: mx.example.test; dkim=pass\r\n"
        assert self.gate.check(reply(sender="eve@elsewhere.test", extra=extra), NOW).reason
        assert (
            self.gate.check(reply(sender="carol@staff.example.test", extra=extra), NOW).reason
            is None
        )

    @pytest.mark.parametrize(
        ("stamp", "trusted"),
        [
            ("", ("mx.example.test",)),  # no stamp: From: alone proves nothing
            ("evil.test; dkim=pass; dmarc=pass", ("mx.example.test",)),  # not a trusted server
            ("mx.example.test; dkim=pass", ()),  # no trusted servers at all
            ("mx.example.test; dkim=fail; dmarc=none", ("mx.example.test",)),
            ("mx.example.test; spf=pass", ("mx.example.test",)),
        ],
    )
    def test_subject_only_without_a_trusted_pass_goes_to_review(
        self, stamp: str, trusted: tuple[str, ...]
    ) -> None:
        """Even an allowed sender with ``require_dkim = false`` needs a trusted dkim/dmarc pass
        when the reply carries no token."""
        gate = Gate(dataclasses.replace(HELPDESK, trusted_authserv_ids=trusted, require_dkim=False))
        extra = f"Authentication-Results: {stamp}\r\n" if stamp else ""
        verdict = gate.check(reply(extra=extra), NOW)
        assert verdict.located.found_in == "subject"
        assert verdict.reason is not None
        assert (
            "subject reference only" in verdict.reason or "authentication-results" in verdict.reason
        )

    def test_subject_only_with_a_trusted_dmarc_pass_acts(self) -> None:
        extra = "Authentication-Results: MX.example.test; dkim=fail; dmarc=pass\r\n"
        assert self.gate.check(reply(extra=extra), NOW).reason is None

    @pytest.mark.parametrize(
        ("stamp", "require", "ok"),
        [
            ("mx.example.test; dkim=pass header.d=example.test", True, True),
            ("mx.example.test; dkim=fail; dmarc=pass", True, True),
            ("mx.example.test; dkim=fail header.d=example.test; dmarc=fail", True, False),
            ("mx.example.test; spf=pass", True, False),
            ("MX.Example.Test; dkim=fail", False, True),
            ("evil.test; dkim=fail", True, True),  # not a trusted authserv-id: not a verdict
        ],
    )
    def test_authentication_results(self, stamp: str, require: bool, ok: bool) -> None:
        problem = authentication_problem(
            {"authentication-results": stamp}, frozenset({"mx.example.test"}), require
        )
        assert (problem is None) is ok

    def test_dkim_fail_refuses_an_otherwise_valid_reply(self) -> None:
        extra = "Authentication-Results: mx.example.test; dkim=fail; dmarc=fail\r\n"
        report = reply(in_reply_to=thread_id(token_for()), extra=extra)
        assert "dkim=fail" in (self.gate.check(report, NOW).reason or "")


# --- the store, the handler and the mails -----------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    yield store
    store.close()


def config_for(smtp: SmtpConfig | None, **helpdesk: object) -> Config:
    base = config_from_dict({"rules": {"path": str(RULES)}})
    return dataclasses.replace(base, smtp=smtp, helpdesk=dataclasses.replace(HELPDESK, **helpdesk))


def add_candidate(
    store: Store, config: Config, sample: str = "client-case-load-nullref-01.eml"
) -> int:
    outcome = Pipeline.from_config(config).process((SAMPLES / sample).read_bytes())
    assert outcome.action == "candidate"
    store.record([outcome], now=NOW)
    (summary,) = [d for d in store.defects() if d.title == outcome.signature.title]  # type: ignore[union-attr]
    return summary.id


class TestHandler:
    def test_confirm_files_once_with_fields_and_one_ack(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        report = reply("confirm priority high", in_reply_to=thread_id(token_for(candidate=defect)))
        assert handler.handle(report, NOW) is Folder.PROCESSED
        assert handler.handle(report, NOW) is Folder.PROCESSED  # re-delivered: nothing more
        filed = store.defect(defect)
        assert filed.state is DefectState.FILED
        assert filed.confirmed_by == f"confirmed by {ALICE} by e-mail"
        assert filed.fields.priority == "High"
        kinds = [kind for kind, _state, _n in store.effects(defect)]
        assert kinds.count("create") == 1 and kinds.count("notify") == 2  # candidate + one ack
        (record,) = store.replies(defect)
        assert (record.sender, record.verb, record.message_id) == (
            ALICE,
            "confirm",
            report.message_id,
        )

    def test_refused_reply_goes_to_review_and_changes_nothing(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        forged = reply(in_reply_to=thread_id(token_for("mallory@evil.test", candidate=defect)))
        assert handler.handle(forged, NOW) is Folder.REVIEW
        assert store.defect(defect).state is DefectState.CANDIDATE
        assert store.replies(defect) == []

    def test_acks_are_rate_limited_per_thread(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        thread = thread_id(token_for(candidate=defect))
        for minute, text in enumerate(["help", "yes", "what?"]):
            handler.handle(reply(text, in_reply_to=thread), NOW + timedelta(minutes=minute))
        handler.handle(reply("help me", in_reply_to=thread), NOW + timedelta(hours=1))
        notify = [k for k, _s, _n in store.effects(defect) if k == EffectKind.NOTIFY]
        assert len(notify) == 1 + 2  # the candidate mail, then one help per interval
        assert len(store.replies(defect)) == 4

    def test_reject_mutes_and_duplicate_points_at_the_issue(self, store: Store) -> None:
        config = config_for(None)
        first = add_candidate(store, config)
        second = add_candidate(store, config, "appserver-case-sql-timeout-01.eml")
        handler = ReplyHandler(config.helpdesk, store)  # type: ignore[arg-type]
        handler.handle(
            reply("reject noise", in_reply_to=thread_id(token_for(candidate=first))), NOW
        )
        handler.handle(
            reply("duplicate OPS-7", in_reply_to=thread_id(token_for(candidate=second))), NOW
        )
        assert store.defect(first).state is DefectState.REJECTED
        duplicate = store.defect(second)
        assert (duplicate.state, duplicate.tracker_key) == (DefectState.DUPLICATE, "OPS-7")
        assert ("link", "pending", 0) in store.effects(second)
        # Later occurrences: recorded, no new candidate mail for the rejected one.
        add_again = Pipeline.from_config(config).process(
            (SAMPLES / "client-case-load-nullref-02.eml").read_bytes()
        )
        store.record([add_again], now=NOW + timedelta(hours=1))
        assert store.defect(first).state is DefectState.REJECTED
        assert store.defect(first).occurrences == 2
        assert [k for k, _s, _n in store.effects(first)].count("notify") == 2  # candidate + ack


class TestTemplates:
    def test_html_part_escapes_the_title(self, store: Store) -> None:
        config = config_for(None)
        defect = dataclasses.replace(
            store.defect(add_candidate(store, config)), title="<script>alert(1)</script>"
        )
        context = {"defect": defect, "reference": "C-1", "reminder": False, "expires": NOW}
        templates = Templates()
        html = templates.render("candidate.html.j2", **context)
        text = templates.render("candidate.txt.j2", **context)
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "<script>alert(1)</script>" in text  # plain text stays as written
        for command in ("confirm", "reject", "duplicate", "ignore", "help"):
            assert command in text and command in html
        assert "CaseViewModel" in text and "Acme Desk Client" in text


class TestNotifier:
    def test_candidate_mail_per_recipient_then_one_reminder(
        self, store: Store, smtp_server: SmtpServer, smtp_config: SmtpConfig
    ) -> None:
        config = config_for(
            smtp_config, recipients=(ALICE, "BOB@example.test", smtp_config.from_address)
        )
        defect = add_candidate(store, config)
        notifier = Notifier.from_config(config, store, Mailer(smtp_config))
        assert notifier is not None
        assert run_notifications(store, notifier, NOW) == 1
        mails = [r.message for r in smtp_server.messages]
        assert sorted(m["To"] for m in mails) == [ALICE, "bob@example.test"]  # never to itself
        for mail in mails:
            assert mail["Subject"].startswith(f"[triage C-{defect}] NullReferenceException")
            assert mail["Auto-Submitted"] == "auto-generated"
            assert mail["X-Triagebot"] == "candidate"
            token = mail["Message-ID"].removeprefix("<triagebot.c-").partition("@")[0]
            assert mail["Reply-To"] == f"helpdesk+c-{token}@example.test"
            parsed = tokens.parse(token)
            assert parsed is not None and tokens.verify(SECRET, parsed, mail["To"], NOW) is None
        assert run_notifications(store, notifier, NOW + timedelta(hours=71)) == 0
        assert len(smtp_server.messages) == 2  # not due yet, nothing new
        run_notifications(store, notifier, NOW + timedelta(hours=73))
        run_notifications(store, notifier, NOW + timedelta(hours=200))
        reminders = [
            r.message for r in smtp_server.messages if r.message["X-Triagebot"] == "reminder"
        ]
        assert sorted(m["To"] for m in reminders) == [ALICE, "bob@example.test"]

    def test_without_mail_notify_effects_are_skipped(self, store: Store) -> None:
        config = config_for(None)
        defect = add_candidate(store, config)
        assert run_notifications(store, None, NOW) == 1
        assert ("notify", "done", 0) in store.effects(defect)


class TestExplain:
    def test_explain_json_shows_why_a_reply_acts(self, tmp_path: Path) -> None:
        """One JSON line per file: kind, token verdict, sender check, new text and command."""
        bot = Bot(tmp_path, env={"TB_SECRET": SECRET})
        bot.configure(
            {
                "helpdesk": {
                    "recipients": [ALICE],
                    "allowed_senders": [ALICE],
                    "reply_address": "helpdesk@example.test",
                    "token_secret_env": "TB_SECRET",
                }
            }
        )
        good = (
            f"From: {ALICE}\r\nTo: helpdesk@example.test\r\nSubject: Re: [triage C-1] x\r\n"
            f"Message-ID: <r1@example.test>\r\nIn-Reply-To: {thread_id(token_for())}\r\n\r\n"
            "Confirm priority low\r\n\r\nOn Mon, 1 Dec 2026, Triage Bot wrote:\r\n> confirm\r\n"
        )
        (tmp_path / "good.eml").write_text(good, encoding="utf-8")
        (tmp_path / "forged.eml").write_text(
            good.replace(token_for(), token_for("mallory@evil.test")), encoding="utf-8"
        )
        result = bot.run(
            "explain",
            "--json",
            "good.eml",
            "forged.eml",
            str(SAMPLES / "client-case-load-nullref-01.eml"),
        )
        assert result.returncode == 0, result.stderr
        good_json, forged_json, report_json = map(json.loads, result.stdout.splitlines())
        assert good_json["kind"] == "reply"
        assert good_json["token"]["found_in"] == "in-reply-to"
        assert good_json["sender_allowed"] is True
        assert good_json["new_text"].strip() == "Confirm priority low"
        assert good_json["command"] == {"verb": "confirm", "args": {"priority": "Low"}}
        assert good_json["token"]["valid"] != forged_json["token"]["valid"]
        assert "not issued" in forged_json["token"]["why"]
        assert report_json["kind"] == "error_report"
        assert report_json["token"]["found_in"] is None
