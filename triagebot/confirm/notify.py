"""Mails of the confirmation loop: candidate mails, one reminder, acknowledgements, help.

Candidate mails and reminders go one per recipient, because each carries that recipient's
reply token (in its Message-ID and, with plus addressing, its Reply-To). Each mail is recorded
after it was sent, so a retried effect skips the recipients already served; acknowledgements
answer in the reply's thread. Nothing is ever sent to triagebot's own addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from triagebot.config import Config, HelpdeskConfig
from triagebot.confirm import tokens
from triagebot.confirm.commands import HELP, Verb
from triagebot.errors import NotifyError, RetryableError
from triagebot.identity import Identity, reference
from triagebot.mail.classify import AddressSet
from triagebot.smtp import Mailer
from triagebot.store import Defect, DefectState, Effect, Store
from triagebot.templates import environment

__all__ = ["Notifier", "Templates"]

log = structlog.get_logger(__name__)


class Templates:
    """The loop's templates (see ``triagebot.templates``); each may list the reply ``commands``."""

    def __init__(self, directory: Path | None = None) -> None:
        self._env = environment(directory)

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(commands=HELP, **context)


@dataclass(frozen=True, slots=True)
class _Addressing:
    """Where replies go, and which addresses are triagebot's own."""

    reply_address: str
    plus: bool
    own: AddressSet

    def reply_to(self, token: tokens.Token) -> str:
        if not self.plus:
            return self.reply_address
        local, _, domain = self.reply_address.partition("@")
        return f"{local}+c-{token}@{domain}"


class Notifier:
    """Sends the loop's mails through a ``Mailer`` and records what went out in the store."""

    def __init__(
        self,
        mailer: Mailer,
        helpdesk: HelpdeskConfig,
        store: Store,
        *,
        identity: Identity | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.mailer = mailer
        self.helpdesk = helpdesk
        self.store = store
        self.templates = templates or Templates()
        self._secret = helpdesk.token_secret.reveal() if helpdesk.token_secret else ""
        self._ttl = timedelta(days=helpdesk.token_ttl_days)
        self.identity = identity or Identity.from_sections(None, helpdesk)
        self._addressing = _Addressing(
            helpdesk.reply_address,
            helpdesk.plus_addressing,
            AddressSet((helpdesk.reply_address, *self.identity.addresses)),
        )

    @classmethod
    def from_config(cls, config: Config, store: Store, mailer: Mailer | None) -> Notifier | None:
        """None when ``[helpdesk]`` is absent (logged here) or mail is disabled (``mailer`` is
        None: ``mail_enabled`` logged why)."""
        if config.helpdesk is None:
            log.info("confirm.disabled", reason="no [helpdesk] section")
            return None
        if mailer is None:
            return None
        return cls(mailer, config.helpdesk, store, identity=Identity.from_config(config))

    # --- effects --------------------------------------------------------------------------

    def perform(self, effect: Effect, now: datetime) -> None:
        """One ``notify`` effect: a candidate mail, or an answer to a reply."""
        reason = effect.payload.get("reason")
        if reason == "candidate":
            self._candidate(self.store.defect(effect.defect_id), "candidate", now)
        elif reason in ("ack", "help"):
            self._answer(effect.defect_id, effect.payload, now)
        else:
            raise NotifyError(f"unknown notification {reason!r}")

    def remind(self, now: datetime) -> int:
        """Send the one reminder for candidates unanswered after ``reminder_after_hours``."""
        sent = 0
        cutoff = now - timedelta(hours=self.helpdesk.reminder_after_hours)
        for defect_id, recipient in self.store.reminders_due(cutoff):
            try:
                self._send_candidate(self.store.defect(defect_id), recipient, "reminder", now)
            except RetryableError as exc:
                log.warning("confirm.reminder_deferred", defect=defect_id, error=str(exc))
                break  # the server is away: the next round tries again
            except NotifyError as exc:
                log.error("confirm.reminder_failed", defect=defect_id, error=str(exc))
                self.store.record_notification(defect_id, "reminder", recipient, "", now)
                continue
            sent += 1
        return sent

    # --- the mails ------------------------------------------------------------------------

    def _recipients(self, addresses: tuple[str, ...] | list[str]) -> list[str]:
        out = []
        for address in addresses:
            if address.lower() in self._addressing.own:
                log.warning("confirm.own_address_skipped", recipient=address)
            else:
                out.append(address.lower())
        return out

    def _candidate(self, defect: Defect, kind: str, now: datetime) -> None:
        if defect.state is not DefectState.CANDIDATE:
            log.info("confirm.candidate_skipped", defect=defect.id, state=str(defect.state))
            return
        done = self.store.notified(defect.id, kind)
        for recipient in self._recipients(self.helpdesk.recipients):
            if recipient not in done:
                self._send_candidate(defect, recipient, kind, now)

    def _send_candidate(self, defect: Defect, recipient: str, kind: str, now: datetime) -> None:
        token = tokens.issue(self._secret, defect.id, recipient, now, self._ttl)
        message_id = self.identity.message_id(f"c-{token}")
        context = {
            "defect": defect,
            "reference": reference(defect.id),
            "reminder": kind == "reminder",
            "expires": token.expires,
        }
        prefix = "Reminder: " if kind == "reminder" else ""
        message = self.mailer.compose(
            to=[recipient],
            subject=f"[triage {reference(defect.id)}] {prefix}{defect.title}"[:250],
            text=self.templates.render("candidate.txt.j2", **context),
            html=self.templates.render("candidate.html.j2", **context),
            kind=kind,
            message_id=message_id,
            reply_to=self._addressing.reply_to(token),
        )
        self.mailer.send(message)
        self.store.record_notification(defect.id, kind, recipient, message_id, now)
        log.info("confirm.candidate_sent", defect=defect.id, kind=kind, recipient=recipient)

    def _answer(self, defect_id: int, payload: dict[str, Any], now: datetime) -> None:
        to = self._recipients([str(payload["to"])])
        if not to:
            return
        subject = str(payload.get("subject") or f"[triage {reference(defect_id)}]")
        if not subject.lower().startswith("re:"):
            subject = "Re: " + subject
        template = "help.txt.j2" if payload["reason"] == "help" else "ack.txt.j2"
        message = self.mailer.compose(
            to=to,
            subject=subject[:250],
            text=self.templates.render(
                template, reference=reference(defect_id), verbs=Verb, **payload
            ),
            kind=str(payload["reason"]),
            in_reply_to=str(payload["in_reply_to"]),
            references=[str(r) for r in payload.get("references", ())],
        )
        self.mailer.send(message)
        self.store.record_notification(
            defect_id, str(payload["reason"]), to[0], str(message["Message-ID"]), now
        )
