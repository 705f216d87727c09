"""Authentication-Results stamps and From fields as attackers write them: what counts, what never
does, and that no header, however broken, huge or repeated, raises or authorises."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagebot.confirm.senders import MAX_FROM_CHARS, AllowList, author
from triagebot.confirm.stamps import MAX_STAMP_CHARS, MAX_STAMPS, aligned, read

TRUSTED = frozenset({"mx.acme.example"})
DOMAIN = "acme.example"
NONE_STAMP = "mx.acme.example; dkim=none; dmarc=none header.from=acme.example"


class TestAlignment:
    @pytest.mark.parametrize(
        ("signer", "domain", "ok"),
        [
            ("acme.example", "acme.example", True),
            ("ACME.example.", "acme.example", True),
            ("mail.acme.example", "acme.example", True),  # a subdomain signs for its parent
            ("acme.example", "eu.acme.example", True),  # the parent signs for a subdomain
            ("eu.acme.example", "us.acme.example", False),  # siblings: stricter than DMARC
            ("evil.example", "acme.example", False),
            ("acme.example.evil.example", "acme.example", False),
            ("xacme.example", "acme.example", False),
            ("", "acme.example", False),
            ("acme.example", "", False),
        ],
    )
    def test_relaxed_alignment(self, signer: str, domain: str, ok: bool) -> None:
        assert aligned(signer, domain) is ok


class TestStamps:
    def test_each_stamp_is_explained(self) -> None:
        """Above the trusted one: skipped; the topmost trusted one: counted; below: ignored."""
        evidence = read(
            [
                "relay.acme.example; dkim=pass header.d=acme.example",
                "mx.acme.example; dmarc=pass header.from=acme.example",
                "mx.acme.example; dmarc=fail header.from=acme.example",
            ],
            TRUSTED,
            DOMAIN,
        )
        assert evidence.proof == "dmarc=pass header.from=acme.example"
        assert evidence.failure == ""
        assert [(n.position, n.authserv_id, n.counted) for n in evidence.notes] == [
            (1, "relay.acme.example", False),
            (2, "mx.acme.example", True),
            (3, "mx.acme.example", False),
        ]
        assert "trusted_authserv_ids" in evidence.notes[0].why
        assert "ignored" in evidence.notes[2].why

    def test_an_unreadable_topmost_trusted_stamp_hides_the_ones_below(self) -> None:
        """It still is the receiving server's own: nothing below stands in for it."""
        evidence = read(
            ["mx.acme.example; =pass; dmarc=pass header.from=acme.example", NONE_STAMP],
            TRUSTED,
            DOMAIN,
        )
        assert (evidence.proof, evidence.failure) == ("", "")
        assert "not RFC 8601" in evidence.notes[0].why and evidence.notes[0].counted
        assert not evidence.notes[1].counted

    def test_a_quoted_authserv_id_counts_but_proves_nothing(self) -> None:
        """``authres`` reads no quoted authserv-id: the stamp is the server's own, unread."""
        evidence = read(
            ['"mx.acme.example"; dmarc=pass header.from=acme.example', NONE_STAMP], TRUSTED, DOMAIN
        )
        assert evidence.proof == "" and [n.counted for n in evidence.notes] == [True, False]

    def test_huge_stamps_are_not_read(self) -> None:
        """A stamp over the limit is refused at once (the parser is quadratic)."""
        huge = "mx.acme.example; " + "; ".join(["dkim=pass header.d=acme.example"] * 30_000)
        started = time.perf_counter()
        evidence = read([huge], TRUSTED, DOMAIN)
        assert time.perf_counter() - started < 1.0
        assert evidence.proof == "" and str(MAX_STAMP_CHARS) in evidence.notes[0].why

    def test_only_the_first_stamps_are_looked_at(self) -> None:
        many = ["other.example; dkim=pass header.d=acme.example"] * (MAX_STAMPS + 50)
        evidence = read(
            [*many, "mx.acme.example; dmarc=pass header.from=acme.example"], TRUSTED, DOMAIN
        )
        assert evidence.proof == ""
        assert len(evidence.notes) == MAX_STAMPS + 1

    def test_deeply_nested_comments_neither_raise_nor_count(self) -> None:
        nested = "mx.acme.example; dkim=pass " + "(" * 4000 + ")" * 4000 + " header.d=acme.example"
        evidence = read([nested[:MAX_STAMP_CHARS]], TRUSTED, DOMAIN)
        assert evidence.proof == ""


# Pieces an attacker assembles stamps from: the From domain only ever appears where it must not
# count (comments, quoted reasons, other property types, other methods' properties).
_FORGED_PIECES = st.sampled_from(
    [
        "mx.acme.example",
        ";",
        " ",
        "\r\n\t",
        "dkim=pass",
        "dmarc=pass",
        "dkim=fail",
        "dmarc=none",
        "spf=pass",
        "header.d=evil.example",
        "header.from=evil.example",
        "header.i=@acme.example",
        "policy.d=acme.example",
        "smtp.mailfrom=dkim=pass@acme.example",
        "smtp.mailfrom=acme.example",
        "(dkim=pass header.d=acme.example)",
        "(dmarc=pass header.from=acme.example)",
        'reason="dkim=pass header.d=acme.example"',
        'reason="dmarc=pass; header.from=acme.example"',
        "(",
        ")",
        '"',
        "=",
        "\\",
        "header.d=",
        "x-acme.example",
        "foo",
        "x=y",
    ]
)
_FORGED_STAMP = st.lists(_FORGED_PIECES, max_size=40).map("".join)


class TestAdversarialStamps:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(_FORGED_STAMP, min_size=1, max_size=5))
    def test_forged_pieces_never_vouch_for_the_from_domain(self, stamps: list[str]) -> None:
        evidence = read(["mx.acme.example; " + s for s in stamps], TRUSTED, DOMAIN)
        assert evidence.proof == ""

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(max_size=400), max_size=50))
    def test_any_text_below_the_real_stamp_changes_nothing(self, below: list[str]) -> None:
        evidence = read([NONE_STAMP, *below], TRUSTED, DOMAIN)
        assert (evidence.proof, evidence.failure) == ("", "")
        assert [n.counted for n in evidence.notes].count(True) == 1

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(max_size=2000), max_size=8), st.text(max_size=60))
    def test_garbage_never_raises(self, stamps: list[str], domain: str) -> None:
        evidence = read(stamps, TRUSTED, domain)
        assert len(evidence.notes) == min(len(stamps), MAX_STAMPS)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text(max_size=300), max_size=6))
    def test_without_a_trusted_stamp_nothing_is_proven(self, stamps: list[str]) -> None:
        untrusted = ["other.example; " + s for s in stamps]
        evidence = read([*untrusted, "dmarc=pass header.from=acme.example"], TRUSTED, DOMAIN)
        assert (evidence.proof, evidence.failure) == ("", "")


class TestAuthor:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["from", "sender"]), st.text(max_size=300))))
    def test_any_from_fields_never_raise(self, fields: list[tuple[str, str]]) -> None:
        found = author(fields)
        assert bool(found.address) != bool(found.why)
        if found.address:
            assert [name for name, _ in fields].count("from") == 1
            assert found.address.count("@") == 1

    def test_a_huge_from_field_is_not_read(self) -> None:
        found = author([("from", "Jane " * MAX_FROM_CHARS + "<jane.doe@acme.example>")])
        assert found.address == "" and "longer" in found.why

    def test_invalid_utf8_is_not_read(self) -> None:
        raw = b"J\xe4ne <jane.doe@acme.example>".decode("ascii", "surrogateescape")
        assert author([("from", raw)]).address == ""


class TestAllowList:
    @pytest.mark.parametrize(
        ("address", "ok"),
        [
            ("jane.doe@acme.example", True),
            ("JANE.DOE@ACME.EXAMPLE", True),
            ("ops@partner.example", True),
            ("ops+x@partner.example", False),  # no plus-address folding
            ("other@partner.example", False),
            ("jane.doe@eu.acme.example", False),  # subdomains are not included
            ("jane.doe@acme.example.evil.example", False),
            ("acme.example", False),
            ("", False),
        ],
    )
    def test_matched_exactly(self, address: str, ok: bool) -> None:
        allowed = AllowList(["acme.example", "ops@partner.example", "@other.example"])
        assert (address in allowed) is ok
        assert "x@other.example" in allowed
