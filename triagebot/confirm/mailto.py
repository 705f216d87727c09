"""Reply links: ``mailto:`` URLs that open a prefilled ``confirm`` / ``reject`` reply to one
candidate, for mails that list candidates instead of being the candidate mail (the summary
of held candidates, the helpdesk digest).

A link carries a fresh reply token twice, like a candidate mail: in the address (plus
addressing) and in the ``In-Reply-To`` header field RFC 6068 lets a ``mailto:`` set, so the
reply is accepted whether the mail client keeps the address, the header, or both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from triagebot.config import HelpdeskConfig
from triagebot.confirm import tokens
from triagebot.identity import Identity, reference
from triagebot.mail.classify import REPLY_TAG

__all__ = ["VERBS", "reply_address", "reply_links"]

#: The verbs a link may prefill, in the order mails show them.
VERBS = ("confirm", "reject")


def reply_address(helpdesk: HelpdeskConfig, token: tokens.Token) -> str:
    """Where a reply carrying ``token`` goes: the helpdesk mailbox, plus-addressed if set."""
    if not helpdesk.plus_addressing:
        return helpdesk.reply_address
    local, _, domain = helpdesk.reply_address.partition("@")
    return f"{local}{REPLY_TAG}{token}@{domain}"


def reply_links(
    helpdesk: HelpdeskConfig, identity: Identity, defect_id: int, now: datetime
) -> dict[str, str]:
    """Verb → a ``mailto:`` URL whose reply acts on candidate ``defect_id``."""
    secret = helpdesk.token_secret.reveal() if helpdesk.token_secret else ""
    token = tokens.issue(secret, defect_id, now, timedelta(days=helpdesk.token_ttl_days))
    address = reply_address(helpdesk, token)
    thread = identity.message_id(f"c-{token}")
    return {
        verb: f"mailto:{quote(address, safe='@+')}?"
        + urlencode(
            {
                "subject": f"Re: [triage {reference(defect_id)}] {verb}",
                "body": verb,
                "In-Reply-To": thread,
            },
            quote_via=quote,
        )
        for verb in VERBS
    }
