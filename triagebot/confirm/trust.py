"""Who may act by reply: find the reply token, then check token, author and stamps together.

Token places, strongest first: ``In-Reply-To``, ``References``, the plus-address the reply was
sent to. A genuine token proves the reply answers a candidate mail only the helpdesk received,
so a **token reply** acts when its author (``senders.author``: the one ``From:`` mailbox) is
on ``allowed_senders`` and the counted ``Authentication-Results`` stamp (``stamps``) shows no
failure for the From domain: internal mail often carries no DKIM or DMARC pass, and a missing
pass must not refuse staff (unless ``require_dkim``). The ``[triage C-42]`` subject reference
is the last resort, for clients that drop thread headers and Reply-To; it proves nothing and
``From:`` is easy to forge, so such a **token-less reply** acts only when the counted stamp
vouches for the From domain. A reply acts only when every check passes; the first failing
one is the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triagebot.config import HelpdeskConfig
from triagebot.confirm import tokens
from triagebot.confirm.senders import AllowList, Author, author
from triagebot.confirm.stamps import Evidence, read
from triagebot.confirm.tokens import Token
from triagebot.identity import CANDIDATE_ID_PREFIX, SUBJECT_REF
from triagebot.mail.report import Report

__all__ = ["SUBJECT_ONLY", "Gate", "Located", "Verdict", "locate"]

#: A candidate mail's Message-ID (``<triagebot.c-<token>@domain>``) as replies quote it.
_IN_ID = re.compile(re.escape(CANDIDATE_ID_PREFIX) + "(" + tokens.TOKEN_PATTERN + ")@")
_IN_ADDRESS = re.compile(r"\+c-(" + tokens.TOKEN_PATTERN + ")@")
_ADDRESS_HEADERS = ("to", "cc", "delivered-to", "x-original-to")
SUBJECT_ONLY = "no token, subject reference only"


@dataclass(frozen=True, slots=True)
class Located:
    """Where a reply names its candidate; ``token`` is None for a subject reference."""

    found_in: str | None  # "in-reply-to", "references", "plus-address", "subject" or None
    candidate_id: int | None = None
    token: Token | None = None


def locate(report: Report) -> Located:
    """The first well-formed token in the thread headers or recipient addresses, else the
    subject reference."""
    places: list[tuple[str, str]] = [("in-reply-to", report.in_reply_to)]
    places += [("references", ref) for ref in reversed(report.references)]
    for found_in, value in places:
        match = _IN_ID.search(value.lower())
        token = tokens.parse(match[1]) if match else None
        if token is not None:
            return Located(found_in, token.candidate_id, token)
    for name in _ADDRESS_HEADERS:
        match = _IN_ADDRESS.search(report.headers.get(name, "").lower())
        token = tokens.parse(match[1]) if match else None
        if token is not None:
            return Located("plus-address", token.candidate_id, token)
    subject = SUBJECT_REF.search(report.subject)
    if subject is not None:
        return Located("subject", int(subject[1]))
    return Located(None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checks of one reply; ``reason`` is None when the reply may act."""

    located: Located
    token_valid: bool
    token_why: str
    sender: Author
    sender_allowed: bool
    evidence: Evidence
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        """The checks for ``explain --json``: each stamp found, which one counted and why."""
        return {
            "token": {
                "found_in": self.located.found_in,
                "valid": self.token_valid,
                "why": self.token_why,
            },
            "sender": {"address": self.sender.address, "why": self.sender.why},
            "sender_allowed": self.sender_allowed,
            "authentication_results": [note.as_json() for note in self.evidence.notes],
            "authentication": {
                "summary": self.evidence.summary,
                "proof": self.evidence.proof,
                "failure": self.evidence.failure,
            },
            "refused": self.reason,
        }


class Gate:
    """The ``[helpdesk]`` trust settings, prepared once."""

    def __init__(self, helpdesk: HelpdeskConfig) -> None:
        self._secret = helpdesk.token_secret.reveal() if helpdesk.token_secret else ""
        self._recipients = helpdesk.recipients
        self._allowed = AllowList(helpdesk.allowed_senders)
        self._trusted = frozenset(i.lower() for i in helpdesk.trusted_authserv_ids)
        self._require_dkim = helpdesk.require_dkim

    def check(self, report: Report, now: datetime) -> Verdict:
        located = locate(report)
        sender = author(report.auth_headers)
        stamps = [value for name, value in report.auth_headers if name == "authentication-results"]
        evidence = read(stamps, self._trusted, sender.domain)
        if located.token is not None:
            why = tokens.verify(self._secret, located.token, now, self._recipients)
            valid, token_why = why is None, why or "valid: answers a candidate mail"
        elif located.found_in == "subject":
            valid, token_why = False, f"{SUBJECT_ONLY}: needs a trusted, aligned dkim/dmarc pass"
        else:
            valid, token_why = False, "no token and no subject reference"
        allowed = sender.address in self._allowed
        reason: str | None = None
        if located.found_in is None or (located.token is not None and not valid):
            reason = token_why
        elif not sender.address:
            reason = f"no usable From address: {sender.why}"
        elif not allowed:
            reason = f"sender {sender.address} is not in [helpdesk].allowed_senders"
        elif evidence.failure:
            reason = f"{evidence.summary}: fails for {sender.domain}"
        elif not evidence.proof and (located.token is None or self._require_dkim):
            why = SUBJECT_ONLY if located.token is None else "[helpdesk].require_dkim"
            reason = (
                f"{why}, and {evidence.summary} vouches for no {sender.domain}: needs dmarc=pass "
                f"header.from={sender.domain} or dkim=pass with header.d aligned with it"
            )
        return Verdict(located, valid, token_why, sender, allowed, evidence, reason)
