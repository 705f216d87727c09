"""triagebot's own identity: its addresses, its Message-IDs and how it names candidates.

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
    "reference",
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


def reference(defect_id: int) -> str:
    """The readable candidate reference in subjects and replies: ``C-42``."""
    return f"C-{defect_id}"


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
