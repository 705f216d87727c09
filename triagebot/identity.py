"""triagebot's own identity: its addresses, its Message-IDs, how it names candidates, and the
subject of every mail it sends (``subject``, ``answer_subject``).

Built once from the config (``Identity.from_sections``): the parser knows mail from these
addresses as triagebot's own (never a report, never a reply loop), the mailer refuses to
send to them, and every Message-ID it makes starts with ``MESSAGE_ID_PREFIX`` so replies to
its mails are recognised whatever client answered.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triagebot.config import Config, HelpdeskConfig, SmtpConfig

__all__ = [
    "CANDIDATE_ID_PREFIX",
    "CANDIDATE_REF",
    "MESSAGE_ID_PREFIX",
    "SUBJECT_REF",
    "Identity",
    "answer_subject",
    "reference",
    "subject",
]

#: Every Message-ID triagebot makes: ``<triagebot.<local>@<domain>>``.
MESSAGE_ID_PREFIX = "triagebot."
#: Candidate mails carry their reply token: ``<triagebot.c-<token>@<domain>>``.
CANDIDATE_ID_PREFIX = MESSAGE_ID_PREFIX + "c-"
#: A candidate's reference as people write it (``C-42``); never a tracker key.
CANDIDATE_REF = re.compile(r"[Cc]-([0-9]{1,12})")
#: The reference in the subject of every mail about a candidate: ``[triage C-42]``.
SUBJECT_REF = re.compile(r"\[triage C-([0-9]{1,12})\]", re.IGNORECASE)
DEFAULT_DOMAIN = "localhost"  # Message-IDs before any address is configured
SUBJECT_CHARS = 250  # a subject is cut here: report values never make a header too long
# The tag a subject of triagebot's starts with, "[triage]" or "[triage C-42]" ("^": match).
_TAG = re.compile(r"^\[triage(?: (C-[0-9]{1,12}))?\] ?", re.IGNORECASE)
# "Re: ", "RE: AW: ", "Antw: ", "SV: ", "R: ", "RIF: ", "Réf. : ", "Re[2]: " before a subject.
_ANSWER_PREFIX = re.compile(
    r"^(?:(?:re|aw|antw|antwort|sv|vs|r|rif|r[ée]f\.?|res)(?:\[[0-9]{1,4}\])? ?: ?)+",
    re.IGNORECASE,
)


def reference(defect_id: int) -> str:
    """The readable candidate reference in subjects and replies: ``C-42``."""
    return f"C-{defect_id}"


def subject(
    installation: str, text: str = "", *, ref: str = "", about: str = "", environment: str = ""
) -> str:
    """The subject of every mail triagebot sends, naming the installation so people who read
    mail from several tell them apart: ``[triage C-42] acme-prod · Acme Desk 4.6
    (Production): title`` (``ref``, ``about``: the application and version, ``environment``),
    ``[triage] acme-prod · developers-daily: 3 new, ...`` (``about``: the digest).
    One line (report values never break the header), at most ``SUBJECT_CHARS``."""
    where = installation + (f" · {about}" if about else "")
    where += f" ({environment})" if environment else ""
    line = f"[triage {ref}] {where}" if ref else f"[triage] {where}"
    line += f": {text}" if text else ""
    return " ".join(line.split())[:SUBJECT_CHARS]


def answer_subject(installation: str, original: str) -> str:
    """The subject of an answer to a reply whose subject was ``original``: "Re:" and that
    subject, so mail clients thread it, when it still names the installation after its
    ``[triage C-42]``; otherwise rebuilt by ``subject`` around the same reference."""
    text = _ANSWER_PREFIX.sub("", " ".join(original.split()))
    tag = _TAG.match(text)
    rest = text[tag.end() :] if tag else text
    named = rest == installation or rest.startswith((f"{installation} ", f"{installation}:"))
    if not (tag and named):
        text = subject(installation, rest, ref=(tag[1] or "").upper() if tag else "")
    return f"Re: {text}"[:SUBJECT_CHARS]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who triagebot is on the mail side."""

    addresses: tuple[str, ...] = ()  # From, reply mailbox, SMTP login: all its own
    domain: str = DEFAULT_DOMAIN  # of its Message-IDs

    @classmethod
    def from_sections(cls, smtp: SmtpConfig | None, helpdesk: HelpdeskConfig | None) -> Identity:
        sender = smtp.from_address if smtp else ""
        login = smtp.username if smtp else ""
        reply = helpdesk.reply_address if helpdesk else ""
        found = (a.strip() for a in (sender, reply, login))
        addresses = tuple(dict.fromkeys(a for a in found if "@" in a))
        domain = (sender or reply).rpartition("@")[2] or DEFAULT_DOMAIN
        return cls(addresses, domain)

    @classmethod
    def from_config(cls, config: Config) -> Identity:
        return cls.from_sections(config.smtp, config.helpdesk)

    def message_id(self, local: str | None = None) -> str:
        """A new Message-ID of triagebot's (``local`` given: that one, e.g. a token's)."""
        return f"<{MESSAGE_ID_PREFIX}{local or secrets.token_hex(12)}@{self.domain}>"
