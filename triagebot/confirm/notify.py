"""Mails of the confirmation loop: candidate mails, one reminder, acknowledgements, help, and
the one-line answers to refused replies.

Every mail about a defect has one subject (``subject``): ``[triage C-42] <installation> ·
<application> <version> (<environment>): <title>``, and every other one names the installation
too (``triagebot.identity.subject``); a reminder threads with the candidate mail it follows.
At most ``max_candidate_mails_per_hour`` candidates get a mail of their own in any rolling
hour; the others are held, and one summary lists them with ``mailto:`` links that carry each
one's token.

Candidate mails and reminders carry a reply token (in their Message-ID and, with plus
addressing, their Reply-To) bound to the candidate and the helpdesk audience, so whoever of
the helpdesk answers may use it. They go one per recipient and each is recorded after it was
sent, so a retried effect skips the recipients already served; acknowledgements and refusal
answers go in the reply's thread. Nothing is ever sent to triagebot's own addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import structlog

from triagebot.config import Config, HelpdeskConfig
from triagebot.confirm import mailto, tokens
from triagebot.confirm.commands import EXAMPLE, HELP, Verb
from triagebot.errors import LeadershipLost, NotifyError, RetryableError
from triagebot.identity import Identity, answer_subject, reference, subject
from triagebot.mail.classify import AddressSet
from triagebot.smtp import Mailer
from triagebot.store import (
    Defect,
    DefectState,
    Effect,
    JobLease,
    Reminder,
    Store,
    replica_name,
)
from triagebot.templates import environment

__all__ = ["DUE_MAIL", "Notifier", "Templates"]

log = structlog.get_logger(__name__)

_HOUR = timedelta(hours=1)
#: The job (``Store.claim_job``) of sending summaries, reminders and refusal answers.
DUE_MAIL = "due-mail"


class Templates:
    """The loop's templates (see ``triagebot.templates``); each may list the reply ``commands``."""

    def __init__(self, directory: Path | None = None) -> None:
        self._env = environment(directory)

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(commands=HELP, example=EXAMPLE, **context)


@dataclass(frozen=True, slots=True)
class _Addressing:
    """Where replies go, and which addresses are triagebot's own."""

    own: AddressSet

    helpdesk: HelpdeskConfig

    def reply_to(self, token: tokens.Token) -> str:
        return mailto.reply_address(self.helpdesk, token)


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
        installation: str = "triagebot",
        holder: str | None = None,
    ) -> None:
        """``installation``: the ``[service]`` name in every subject; ``holder``: this replica
        among those sharing the store (default: host and process)."""
        self.holder = holder or replica_name()
        self.mailer = mailer
        self.installation = installation
        self.helpdesk = helpdesk
        self.store = store
        self.templates = templates or Templates()
        self._secret = helpdesk.token_secret.reveal() if helpdesk.token_secret else ""
        self._ttl = timedelta(days=helpdesk.token_ttl_days)
        self.identity = identity or Identity.from_sections(None, helpdesk)
        self._addressing = _Addressing(
            AddressSet((helpdesk.reply_address, *self.identity.addresses)), helpdesk
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
        return cls(
            mailer,
            config.helpdesk,
            store,
            identity=Identity.from_config(config),
            installation=config.installation,
        )

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

    def send_due(self, now: datetime) -> None:
        """What is due besides the queued effects: the summary of held candidates, reminders,
        answers to refused replies. One replica at a time sends them (the ``due-mail`` job,
        under a fencing token); reminders are claimed one by one on top."""
        lease = self.store.claim_job(DUE_MAIL, self.holder, timedelta(0))
        if lease is None:
            return  # another replica is at it
        try:
            self.summarise(now, lease)
            self.remind(now)
            self.answer_refusals(now, lease)
        except LeadershipLost as exc:  # paused past the lease: another replica sends them
            log.warning("confirm.due_mail_lost", holder=self.holder, error=str(exc))
        finally:
            self.store.finish_job(lease)

    def answer_refusals(self, now: datetime, lease: JobLease) -> int:
        """Send the queued one-line answers to refused replies under the ``due-mail`` job's
        ``lease`` (``LeadershipLost`` once it is not current); returns how many went out."""
        sent = 0
        for message_id, answer in self.store.refusal_notices_due():
            to = self._recipients([str(answer["to"])])
            self.store.renew_job(lease)  # outside the ``try``: a lost lease ends the round
            try:
                if to:
                    self.mailer.send(self._reply(to, answer, "refusal", "refusal.txt.j2"))
            except RetryableError as exc:  # the server is away: the next round tries again
                log.warning("confirm.refusal_deferred", message_id=message_id, error=str(exc))
                break
            except NotifyError as exc:  # refused: kept, tried again next round
                log.warning("confirm.refusal_refused", message_id=message_id, error=str(exc))
                continue
            self.store.refusal_notice_sent(message_id, now, lease=lease)
            log.info("confirm.refusal_sent", message_id=message_id, to=answer["to"])
            sent += 1
        return sent

    def remind(self, now: datetime) -> int:
        """Send the one reminder for candidates unanswered after ``reminder_after_hours``;
        each is claimed first, so replicas never send the same one."""
        sent = 0
        cutoff = now - timedelta(hours=self.helpdesk.reminder_after_hours)
        for claim in self.store.claim_reminders(cutoff):
            try:
                sent += self.send_reminder(claim, now)
            except NotifyError as exc:  # away or refusing: the next round tries again
                log.warning("confirm.reminder_deferred", defect=claim.defect_id, error=str(exc))
                break
        return sent

    def send_reminder(self, claim: Reminder, now: datetime) -> bool:
        """Send a claimed reminder, unless another replica took it over meanwhile (this one
        was paused past the claim); False when it did not go out from here."""
        context = {"defect": claim.defect_id, "recipient": claim.recipient, "fence": claim.token}
        if not self.store.renew_reminder(claim):
            log.warning("confirm.reminder_claim_lost", **context, doing="send")
            return False
        message_id = self._send_candidate(
            self.store.defect(claim.defect_id), claim.recipient, "reminder", now
        )
        if not self.store.complete_reminder(claim, message_id, now):
            log.warning("confirm.reminder_claim_lost", **context, doing="complete")
        return True

    # --- the mails ------------------------------------------------------------------------

    def _recipients(self, addresses: tuple[str, ...] | list[str]) -> list[str]:
        out = []
        for address in addresses:
            if address.lower() in self._addressing.own:
                log.warning("confirm.own_address_skipped", recipient=address)
            else:
                out.append(address.lower())
        return out

    def subject(self, defect: Defect) -> str:
        """The one subject of every mail about ``defect``."""
        meta = defect.metadata
        application = " ".join(
            v for v in (meta.get("application"), defect.last_version or meta.get("version")) if v
        )
        return subject(
            self.installation,
            defect.title,
            ref=reference(defect.id),
            about=application,
            environment=meta.get("environment") or "",
        )

    def _held(self, defect: Defect, now: datetime) -> bool:
        """Whether the candidate waits for the summary: it was held before, or the hour's
        candidate mails are used up and none of its own went out yet."""
        if self.store.notified(defect.id, "held"):
            return True
        if self.store.notified(defect.id, "candidate"):
            return False
        if self.store.candidates_mailed(now - _HOUR) < self.helpdesk.max_candidate_mails_per_hour:
            return False
        self.store.record_notification(defect.id, "held", "", "", now)
        log.info("confirm.candidate_held", defect=defect.id)
        return True

    def _candidate(self, defect: Defect, kind: str, now: datetime) -> None:
        if defect.state is not DefectState.CANDIDATE:
            log.info("confirm.candidate_skipped", defect=defect.id, state=str(defect.state))
            return
        if kind == "candidate" and self._held(defect, now):
            return
        done = self.store.notified(defect.id, kind)
        refused: list[NotifyError] = []
        for recipient in self._recipients(self.helpdesk.recipients):
            if recipient in done:
                continue
            try:
                self._send_candidate(defect, recipient, kind, now)
            except RetryableError:
                raise  # the server is away: the others would wait for it too
            except NotifyError as exc:  # one refused recipient does not hold up the others
                log.warning(
                    "confirm.candidate_refused",
                    defect=defect.id,
                    recipient=recipient,
                    error=str(exc),
                )
                refused.append(exc)
        if refused:  # the effect is tried again for these (those served are recorded)
            raise refused[0]

    def _send_candidate(self, defect: Defect, recipient: str, kind: str, now: datetime) -> str:
        """Send one candidate mail or reminder; returns its Message-ID. A candidate mail is
        recorded here, a reminder by the caller, under its claim."""
        message = self.candidate_mail(defect, recipient, kind, now)
        self.mailer.send(message)
        message_id = str(message["Message-ID"])
        if kind != "reminder":
            self.store.record_notification(defect.id, kind, recipient, message_id, now)
        log.info("confirm.candidate_sent", defect=defect.id, kind=kind, recipient=recipient)
        return message_id

    def candidate_mail(
        self, defect: Defect, recipient: str, kind: str, now: datetime
    ) -> EmailMessage:
        """The candidate mail (or reminder, ``kind``) for ``recipient``, composed, not sent."""
        token = tokens.issue(self._secret, defect.id, now, self._ttl)
        message_id = self.identity.message_id(f"c-{token}")
        context = {
            "defect": defect,
            "reference": reference(defect.id),
            "reminder": kind == "reminder",
            "expires": token.expires,
            "seen_on": self.store.seen_on(defect.id),
        }
        original = self.store.notified(defect.id, "candidate").get(recipient, "")
        thread = [original] if kind == "reminder" and original else []
        return self.mailer.compose(
            to=[recipient],
            subject=self.subject(defect),
            text=self.templates.render("candidate.txt.j2", **context),
            html=self.templates.render("candidate.html.j2", **context),
            kind=kind,
            message_id=message_id,
            in_reply_to=thread[0] if thread else None,
            references=thread,
            reply_to=self._addressing.reply_to(token),
        )

    def summarise(self, now: datetime, lease: JobLease) -> int:
        """Send each recipient one summary of the held candidates it has not seen, under the
        ``due-mail`` job's ``lease`` (``LeadershipLost`` once it is not current); returns how
        many summaries went out."""
        sent = 0
        for recipient in self._recipients(self.helpdesk.recipients):
            held = [self.store.defect(i) for i in self.store.summaries_due(recipient)]
            if not held:
                continue
            lines = [self._summary_line(defect, now) for defect in held]
            context = {"lines": lines, "limit": self.helpdesk.max_candidate_mails_per_hour}
            message = self.mailer.compose(
                to=[recipient],
                subject=subject(self.installation, f"{len(held)} more candidates"),
                text=self.templates.render("summary.txt.j2", **context),
                html=self.templates.render("summary.html.j2", **context),
                kind="summary",
            )
            self.store.renew_job(lease)
            try:
                self.mailer.send(message)
            except NotifyError as exc:  # away or refusing: the next round tries again
                log.warning("confirm.summary_deferred", recipient=recipient, error=str(exc))
                continue
            for defect in held:
                message_id = str(message["Message-ID"])
                self.store.record_notification(
                    defect.id, "summary", recipient, message_id, now, lease=lease
                )
            log.info("confirm.summary_sent", recipient=recipient, candidates=len(held))
            sent += 1
        return sent

    def _summary_line(self, defect: Defect, now: datetime) -> dict[str, str]:
        """One held candidate: its subject and a ``mailto:`` link per verb (``mailto``)."""
        links = mailto.reply_links(self.helpdesk, self.identity, defect.id, now)
        return {"subject": self.subject(defect), **links}

    def _reply(
        self, to: list[str], payload: dict[str, Any], kind: str, template: str, **context: Any
    ) -> EmailMessage:
        """A mail answering a reply in its thread (``payload``: ``subject``, ``in_reply_to``,
        ``references`` and the template's fields)."""
        return self.mailer.compose(
            to=to,
            subject=answer_subject(self.installation, str(payload.get("subject") or "")),
            text=self.templates.render(template, **{**payload, **context}),
            kind=kind,
            in_reply_to=str(payload["in_reply_to"]),
            references=[str(r) for r in payload.get("references", ())],
        )

    def _answer(self, defect_id: int, payload: dict[str, Any], now: datetime) -> None:
        to = self._recipients([str(payload["to"])])
        if not to:
            return
        reason = str(payload["reason"])
        payload = {
            **payload,
            "subject": payload.get("subject") or f"[triage {reference(defect_id)}]",
        }
        message = self._reply(
            to,
            {"understood": "", "state": "", **payload},  # answers queued by 0.1.0 lack these
            reason,
            "help.txt.j2" if reason == "help" else "ack.txt.j2",
            reference=reference(defect_id),
            verbs=Verb,
        )
        self.mailer.send(message)
        self.store.record_notification(defect_id, reason, to[0], str(message["Message-ID"]), now)
