"""Header signals that decide what a message is before its body is searched for a trace.

Each check answers with a short reason string (for ``Report.reason`` and explanations) or
``None``. The order of the checks, and how they combine with a found trace, lives in
``parse.classify``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "AddressSet",
    "auto_reason",
    "bounce_reason",
    "first_address",
    "is_answer",
    "is_own",
    "is_thread_reply",
    "message_ids",
    "reply_reason",
]

# Reply prefixes mail clients put before a subject ("Re:", German "AW:", Nordic "SV:", Dutch
# "Antw:", Italian "R:"/"Rif:", Polish "Odp:", Turkish "Ynt:"), then forward prefixes.
_REPLY = r"(?:re|aw|sv|vs|r|rif|antw|odp|ynt)\s*+(?:\[\d+\])?:"
_PREFIX = rf"(?:{_REPLY}|(?:wg|fw|fwd|tr)\s*+:)\s*+"
_REPLY_SUBJECT = re.compile(rf"^\s*+{_REPLY}", re.IGNORECASE)
# "Out of Office: Weekly digest", "AW: Automatische Antwort: ...", "Réponse automatique : ..."
_OUT_OF_OFFICE = re.compile(
    rf"^\s*+(?:{_PREFIX})*(?:"
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|autorespond"
    r"|vacation reply|away from (?:the )?office|on vacation"
    r"|abwesenheitsnotiz|automatische antwort|abwesend|nicht im b[üu]ro"
    r"|absence du bureau|r[ée]ponse automatique|absent(?:e)? du bureau"
    r"|respuesta autom[áa]tica|fuera de la oficina|ausente"
    r"|afwezig|automatisch antwoord|niet aanwezig"
    r"|risposta automatica|fuori sede|fuori ufficio"
    r"|resposta autom[áa]tica|fora do escrit[óo]rio"
    r"|autosvar|fr[åa]nvaro|automaattinen vastaus|poissa"
    r"|automatyczna odpowied[źz]|nieobecno[śs][ćc]|automatick[áa] odpov[ěe]d"
    r"|automatikus v[áa]lasz|otomatik yan[ıi]t"
    r")(?=\W|$)",
    re.IGNORECASE,
)
# Non-delivery reports whose sender or content type did not give them away.
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|returned mail|delivery failure|unzustellbar|non remis|no se puede entregar"
    r"|onbestelbaar|non recapitabile)(?=\W|$)",
    re.IGNORECASE,
)
_DAEMON_LOCAL = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BULK = frozenset({"bulk", "junk", "list", "auto_reply"})
_SUBJECT_TOKEN = re.compile(r"\[triage C-[A-Za-z0-9]+\]", re.IGNORECASE)
# From the start of a run of address characters only: a later start in the same run ends at the
# same "@" (or fails the same way), and each read the rest of a long run again.
_ADDRESS = re.compile(r"(?<![^\s<>\"'(),;:])[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
#: Tag of the plus-address triagebot sends from, so answers route back to one candidate.
REPLY_TAG = "+c-"


def addresses(value: str) -> list[str]:
    """All e-mail addresses in a header value, lower-cased (display names ignored)."""
    return [match.lower() for match in _ADDRESS.findall(value)]


def first_address(value: str) -> str:
    """The mailbox of a From-like header, lower-cased; ``""`` when there is none."""
    match = _ANGLE_ADDRESS.search(value) if "<" in value else None
    if match is None:
        match = _ADDRESS.search(value)
        return match.group(0).lower() if match else ""
    return match.group(1).lower()


def message_ids(value: str) -> tuple[str, ...]:
    """The ``<id>`` tokens of an In-Reply-To / References value, without the angle brackets."""
    return tuple(_MESSAGE_ID.findall(value))


def _base(address: str) -> str:
    """``helpdesk+c-abc@x`` → ``helpdesk@x``."""
    local, at, domain = address.partition("@")
    return local.partition("+")[0] + at + domain


class AddressSet:
    """Addresses and domains (``a@x``, ``@x``, ``x``; subdomains included), matched fast."""

    __slots__ = ("_addresses", "_domains")

    def __init__(self, entries: Iterable[str]) -> None:
        addrs: set[str] = set()
        domains: list[str] = []
        for raw in entries:
            entry = raw.strip().lower()
            if "@" in entry and not entry.startswith("@"):
                addrs.add(_base(entry))
            elif entry:
                domains.append(entry.lstrip("@"))
        self._addresses = frozenset(addrs)
        self._domains = tuple(domains)

    def __bool__(self) -> bool:
        return bool(self._addresses or self._domains)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str) or "@" not in address:
            return False
        address = _base(address.lower())
        if address in self._addresses:
            return True
        domain = address.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self._domains)


def bounce_reason(headers: Mapping[str, str], sender: str, subject: str) -> str | None:
    """Delivery reports and mailer-daemon mail: never a report, even when it quotes one."""
    if headers.get("content-type", "").lower().lstrip().startswith("multipart/report"):
        return "delivery report"
    if sender.partition("@")[0] in _DAEMON_LOCAL:
        return "bounce from " + sender
    if _BOUNCE_SUBJECT.match(subject):
        return "bounce subject"
    return None


#: ``auto_reason`` answers that mark an answer to a mail (an auto-reply), not mail a program
#: sends on its own (an automated report); RFC 3834 section 5.
_ANSWERS = ("auto-submitted: auto-replied", "x-autoreply", "x-autorespond", "out-of-office subject")


def is_thread_reply(subject: str, reply_ids: Iterable[str]) -> bool:
    """A mail that answers an earlier one: a trace it only quotes belongs to that earlier mail."""
    return bool(_REPLY_SUBJECT.match(subject)) or any(True for _ in reply_ids)


def is_answer(reason: str) -> bool:
    """Whether an ``auto_reason`` says the mail answers another one (never a new report)."""
    return reason in _ANSWERS


def auto_reason(headers: Mapping[str, str], subject: str) -> str | None:
    """RFC 3834 and vendor auto-reply markers, bulk precedence, out-of-office subjects.

    ``X-Auto-Response-Suppress`` alone is set by Outlook on ordinary mail, so it only counts
    together with ``Auto-Submitted`` (which counts on its own).
    """
    submitted = headers.get("auto-submitted", "").partition(";")[0].strip().lower()
    if submitted and submitted != "no":
        return "auto-submitted: " + submitted
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        value = headers.get(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return name
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in _BULK:
        return "precedence: " + precedence
    if _OUT_OF_OFFICE.match(subject):
        return "out-of-office subject"
    return None


def reply_reason(
    headers: Mapping[str, str],
    subject: str,
    reply_ids: Iterable[str],
    own: AddressSet,
    own_message_id_prefix: str,
) -> str | None:
    """An answer to one of triagebot's own mails: by thread ids, plus-address or subject tag."""
    if own_message_id_prefix and any(i.startswith(own_message_id_prefix) for i in reply_ids):
        return "in reply to own message"
    for name in ("to", "cc", "delivered-to", "x-original-to"):
        value = headers.get(name, "")
        if REPLY_TAG in value.lower():
            for address in addresses(value):
                if REPLY_TAG in address and (not own or address in own):
                    return "sent to reply address"
    if _SUBJECT_TOKEN.search(subject):
        return "subject token"
    return None


def is_own(sender: str, message_id: str, own: AddressSet, own_message_id_prefix: str) -> bool:
    """triagebot's own mail come back (a digest or candidate delivered to the watched box)."""
    if own_message_id_prefix and message_id.startswith(own_message_id_prefix):
        return True
    return sender in own
