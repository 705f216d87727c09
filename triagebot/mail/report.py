"""The parsed form of one incoming e-mail, as the rest of the pipeline sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from triagebot.mail.bounce import Bounce
from triagebot.picklable import by_fields
from triagebot.stack.model import Trace


class Kind(StrEnum):
    """What a message is; decides which part of triagebot handles it."""

    ERROR_REPORT = "error_report"
    REPLY = "reply"  # a reply to one of triagebot's own mails
    AUTO_REPLY = "auto_reply"  # out-of-office, bounce, delivery report: never answered
    OTHER = "other"
    INVALID = "invalid"  # could not be understood; ``reason`` says why


@by_fields
@dataclass(frozen=True, slots=True)
class Report:
    """One message: identity, classification, the text searched for a trace, and metadata.

    ``metadata`` holds the report fields (``application``, ``version``, ``environment``,
    ``machine``, plus any other ``Key: value`` lines found) from headers and body.
    ``headers`` maps lower-cased header names to their (decoded, first) value.
    ``auth_headers`` holds, for replies only, the ``From`` and ``Authentication-Results``
    fields in their order and exactly as received (raw, folded, nothing decoded): who may act
    by reply is decided on what was sent, never on a decoded or first-only view of it.
    ``text`` is everything searched for a trace (body, attachments, forwarded mails, with
    ``>`` quoting removed); ``body`` is the message's own text as written, quoting kept, which
    is what reply parsing reads. ``truncated`` says what was cut to bound the work (a mail
    part's text over ``max_part_chars``, frames over ``max_frames``), e.g.
    ``"text/plain part: 1,048,771 characters, the first 65,530 kept"``. ``bounce``: what a
    delivery failure report says (bounces only; ``mail.bounce``).
    """

    message_id: str
    kind: Kind
    subject: str = ""
    sender: str = ""
    date: datetime | None = None
    text: str = ""
    body: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    trace: Trace | None = None
    reason: str = ""
    truncated: tuple[str, ...] = ()
    auth_headers: tuple[tuple[str, str], ...] = ()
    bounce: Bounce | None = None
