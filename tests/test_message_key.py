"""A message's identity is its Message-ID plus its content: a re-delivery counts once, a
different report under a reused Message-ID counts as the new report it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.clocks import ManualClock
from tests.helpers import samples
from triagebot.config import config_from_dict
from triagebot.mail.key import KEY_WIDTH, message_key
from triagebot.pipeline import Pipeline
from triagebot.store import Store

RULES = Path(__file__).resolve().parents[1] / "rules"
TRANSPORT = (
    b"Received: from mx1.acme.example by mx2.acme.example; Mon, 7 Dec 2026 09:00:00 +0000\r\n"
    b"Authentication-Results: mx2.acme.example; dkim=pass header.d=acme.example\r\n"
    b"ARC-Seal: i=1; a=rsa-sha256; d=acme.example; s=arc; b=abc\r\n"
    b"X-MS-Exchange-Organization-SCL: -1\r\n"
)


def reused(raw: bytes, body: bytes) -> bytes:
    """The same headers (Message-ID included) over another body: a recycled id."""
    head, _, _ = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    return head + b"\n\n" + body


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline.from_config(config_from_dict({"rules": {"path": str(RULES)}}))


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'triagebot.db'}", clock=clock)
    s.migrate()
    return s


def test_transport_headers_and_line_endings_do_not_change_the_key() -> None:
    _, raw = samples()[0]
    again = TRANSPORT + raw.replace(b"\n", b"\r\n")
    assert message_key(again, "<a@x>") == message_key(raw, "<a@x>")


def test_body_and_origin_headers_do() -> None:
    _, raw = samples()[0]
    key = message_key(raw, "<a@x>")
    assert message_key(raw + b"\nmore", "<a@x>") != key
    assert message_key(raw.replace(b"Subject: ", b"Subject: Re: ", 1), "<a@x>") != key
    assert message_key(raw, "<b@x>") != key
    assert message_key(raw, "<a@x>").startswith("<a@x>#")


def test_ids_that_differ_past_the_column_width_keep_apart() -> None:
    """The digest always fits: two long ids that differ only at the end, over other
    bodies, are two keys, each within the store's column."""
    long_id = "x" * 2000
    first = message_key(b"Subject: a\n\none", long_id + "1")
    second = message_key(b"Subject: a\n\ntwo", long_id + "2")
    assert first != second
    assert len(first) == len(second) == KEY_WIDTH


@given(st.binary(max_size=2000), st.text(max_size=50))
def test_key_never_fails_and_fits(raw: bytes, message_id: str) -> None:
    assert len(message_key(raw, message_id)) <= KEY_WIDTH


def test_a_second_delivery_counts_once(pipeline: Pipeline, store: Store) -> None:
    _, raw = samples()[0]
    assert store.record([pipeline.process(raw)]) == 1
    assert store.record([pipeline.process(TRANSPORT + raw)]) == 0  # through another relay
    assert sum(d.occurrences for d in store.defects()) == 1


def test_a_reused_message_id_is_a_new_report(pipeline: Pipeline, store: Store) -> None:
    """An application that sends one fixed Message-ID still has every report counted."""
    (_, first), (_, second) = samples()[0], samples()[5]
    fixed = reused(second, first.partition(b"\n\n")[2] + b"\nMachine: WS-0099\n")
    outcomes = [pipeline.process(raw) for raw in (first, reused(first, b"") + b"x", fixed)]
    assert len({o.report.message_id for o in outcomes[:2]}) == 1
    assert store.record(outcomes) == 3


def test_a_reused_message_id_is_reported_once_per_sender(tmp_path: Path) -> None:
    """Through the service: three mails under one Message-ID from one application are three
    reports, and one warning says its mailer reuses ids; a plain re-delivery says nothing."""
    from tests.helpers import Bot, parse_events, seed_maildir

    (_, first) = samples()[0]
    body = first.partition(b"\n\n")[2]
    copies = [reused(first, body + b"\nMachine: WS-%04d\n" % n) for n in range(3)]
    bot = Bot(tmp_path)
    bot.configure({})
    seed_maildir(bot.maildir, [(f"m{n}", raw) for n, raw in enumerate([*copies, copies[0]])])
    result = bot.once()
    warnings = [e for e in parse_events(result.stderr) if e.get("event") == "message.id_reused"]
    assert len(warnings) == 1
    assert warnings[0]["sender"] == pipeline_sender(first)
    (defect,) = bot.defects()
    assert defect["occurrences"] == 3


def pipeline_sender(raw: bytes) -> str:
    return (
        Pipeline.from_config(config_from_dict({"rules": {"path": str(RULES)}}))
        .analyse(raw)
        .report.sender
    )
