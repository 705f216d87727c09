"""Who may act by reply: find the reply token, then check token, sender and DKIM together.

Token places, strongest first: ``In-Reply-To``, ``References``, the plus-address the reply was
sent to. The ``[triage C-42]`` subject reference is the last resort, for clients that drop
thread headers and Reply-To; it proves nothing by itself and ``From:`` is easy to forge, so
such a reply acts only when a trusted ``Authentication-Results`` stamp shows dkim=pass or
dmarc=pass. A reply acts only when every check passes; the first failing one is the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triagebot.config import HelpdeskConfig
from triagebot.confirm import tokens
from triagebot.confirm.tokens import Token
from triagebot.identity import CANDIDATE_ID_PREFIX
from triagebot.mail.classify import AddressSet
from triagebot.mail.report import Report

__all__ = [
    "Gate",
    "Located",
    "Verdict",
    "authentication_problem",
    "locate",
    "subject_only_problem",
]

#: A candidate mail's Message-ID (``<triagebot.c-<token>@domain>``) as replies quote it.
_IN_ID = re.compile(re.escape(CANDIDATE_ID_PREFIX) + "(" + tokens.TOKEN_PATTERN + ")@")
_IN_ADDRESS = re.compile(r"\+c-(" + tokens.TOKEN_PATTERN + ")@")
_SUBJECT_REF = re.compile(r"\[triage C-([0-9]{1,12})\]", re.IGNORECASE)
_ADDRESS_HEADERS = ("to", "cc", "delivered-to", "x-original-to")
_AUTHSERV = re.compile(r"^\s*+([^\s;]+)")  # "^": used with match
_METHOD = re.compile(r"\b(dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
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
    subject = _SUBJECT_REF.search(report.subject)
    if subject is not None:
        return Located("subject", int(subject[1]))
    return Located(None)


def authentication_problem(
    headers: Mapping[str, str], trusted: frozenset[str], require: bool
) -> str | None:
    """Why the receiving server's ``Authentication-Results`` stamp rejects the mail, if it does.

    Only the topmost stamp (the receiving server's own) from a trusted ``authserv-id`` counts;
    mail without one (internal mail) passes, as the issue asks.
    """
    stamp = _trusted_stamp(headers, trusted) if require else None
    return None if stamp is None else _failed(*stamp)


def subject_only_problem(headers: Mapping[str, str], trusted: frozenset[str]) -> str | None:
    """Why a reply naming its candidate only in the subject may not act: without a token,
    only a trusted stamp with dkim=pass or dmarc=pass vouches for its ``From:``."""
    stamp = _trusted_stamp(headers, trusted)
    if stamp is None:
        return f"{SUBJECT_ONLY}, and no trusted Authentication-Results stamp vouches for it"
    return _failed(*stamp)


def _trusted_stamp(
    headers: Mapping[str, str], trusted: frozenset[str]
) -> tuple[str, dict[str, str]] | None:
    """The topmost stamp's authserv-id and dkim/dmarc results, when a trusted server wrote it."""
    value = headers.get("authentication-results")
    if not value:
        return None
    authserv = _AUTHSERV.match(value)
    if authserv is None or authserv[1].lower() not in trusted:
        return None
    return authserv[1], {name.lower(): result.lower() for name, result in _METHOD.findall(value)}


def _failed(authserv: str, results: dict[str, str]) -> str | None:
    if "pass" in (results.get("dkim"), results.get("dmarc")):
        return None
    shown = ", ".join(f"{k}={v}" for k, v in sorted(results.items())) or "no dkim or dmarc result"
    return f"authentication-results from {authserv}: {shown}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checks of one reply; ``reason`` is None when the reply may act."""

    located: Located
    token_valid: bool
    token_why: str
    sender_allowed: bool
    reason: str | None

    def token_json(self) -> dict[str, Any]:
        return {
            "found_in": self.located.found_in,
            "valid": self.token_valid,
            "why": self.token_why,
        }


class Gate:
    """The ``[helpdesk]`` trust settings, prepared once."""

    def __init__(self, helpdesk: HelpdeskConfig) -> None:
        self._secret = helpdesk.token_secret.reveal() if helpdesk.token_secret else ""
        self._allowed = AddressSet(helpdesk.allowed_senders)
        self._trusted = frozenset(i.lower() for i in helpdesk.trusted_authserv_ids)
        self._require_dkim = helpdesk.require_dkim

    def sender_allowed(self, sender: str) -> bool:
        return sender in self._allowed

    def check(self, report: Report, now: datetime) -> Verdict:
        located = locate(report)
        allowed = self.sender_allowed(report.sender)
        if located.token is not None:
            why = tokens.verify(self._secret, located.token, report.sender, now)
            valid, token_why = why is None, why or "valid, issued to the sender"
        elif located.found_in == "subject":
            valid, token_why = False, f"{SUBJECT_ONLY}: needs a trusted stamp with dkim/dmarc=pass"
        else:
            valid, token_why = False, "no token and no subject reference"
        reason: str | None
        if located.found_in is None or (located.token is not None and not valid):
            reason = token_why
        elif not allowed:
            reason = f"sender {report.sender or '(none)'} is not in [helpdesk].allowed_senders"
        elif located.token is None:
            reason = subject_only_problem(report.headers, self._trusted)
        else:
            reason = authentication_problem(report.headers, self._trusted, self._require_dkim)
        return Verdict(located, valid, token_why, allowed, reason)
