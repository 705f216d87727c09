"""Applying a reply: authorise, read the command from the new text, record it once, answer.

Runs after the reply's batch is committed. A reply that fails authorisation goes to the
Review folder with the reason logged and changes nothing; everything else is acknowledged
into Processed. The store applies each reply Message-ID once, so a re-delivered or re-sent
reply does nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from triagebot.config import Config, HelpdeskConfig
from triagebot.confirm.commands import Command, KeyParser, Verb, any_key, parse_command
from triagebot.confirm.trust import Gate, Located, locate
from triagebot.errors import StoreError
from triagebot.identity import reference
from triagebot.mail.reply import new_text
from triagebot.mail.report import Report
from triagebot.mail.source import Folder
from triagebot.rules import Fields
from triagebot.store import Defect, DefectState, HumanDecision, ReplyRecord, Store

__all__ = ["ReplyHandler", "explain"]

log = structlog.get_logger(__name__)

_OPEN = frozenset({DefectState.CANDIDATE})
# A confirm or duplicate may overrule an earlier reject (someone changed their mind).
_REOPENABLE = frozenset({DefectState.CANDIDATE, DefectState.REJECTED, DefectState.IGNORED})


def _decision(command: Command, sender: str) -> HumanDecision | None:
    if command.verb is Verb.CONFIRM:
        fields = Fields(
            priority=command.priority,
            components=command.components,
            labels=command.labels,
            assignee=command.assignee,
        )
        by = f"confirmed by {sender} by e-mail"
        return HumanDecision(DefectState.FILED, _REOPENABLE, by=by, fields=fields)
    if command.verb in (Verb.REJECT, Verb.IGNORE):
        by = f"rejected by {sender} by e-mail"
        return HumanDecision(DefectState.REJECTED, _OPEN, by=by)
    if command.verb is Verb.DUPLICATE:
        by = f"marked as duplicate of {command.key} by {sender} by e-mail"
        return HumanDecision(DefectState.DUPLICATE, _REOPENABLE, by=by, tracker_key=command.key)
    return None


def _note(defect: Defect, decision: HumanDecision | None) -> str:
    """What the acknowledgement says happened."""
    if decision is None:
        return ""
    if defect.state not in decision.from_states:
        key = f" ({defect.tracker_key})" if defect.tracker_key else ""
        return f"Nothing changed: {reference(defect.id)} is already {defect.state}{key}."
    if decision.state is DefectState.FILED:
        return f"{reference(defect.id)} is being filed in the tracker."
    if decision.state is DefectState.DUPLICATE:
        return f"{reference(defect.id)} now updates {decision.tracker_key}."
    return f"{reference(defect.id)} is rejected: later occurrences are recorded, not proposed."


def _bracketed(message_id: str) -> str:
    return f"<{message_id}>"


class ReplyHandler:
    """The reply side of the loop, configured once from ``[helpdesk]``."""

    def __init__(
        self, helpdesk: HelpdeskConfig, store: Store, issue_key: KeyParser = any_key
    ) -> None:
        """``issue_key``: what the configured tracker's keys look like (``duplicate KEY``)."""
        self.store = store
        self.gate = Gate(helpdesk)
        self.issue_key = issue_key
        self.ack_interval = timedelta(minutes=helpdesk.ack_interval_minutes)

    @classmethod
    def from_config(cls, config: Config, store: Store, issue_key: KeyParser) -> ReplyHandler | None:
        if config.helpdesk is None:
            return None
        return cls(config.helpdesk, store, issue_key)

    def handle(self, report: Report, now: datetime) -> Folder:
        """Apply one reply received at ``now``; returns the folder it is acknowledged into."""
        context = {"message_id": report.message_id, "sender": report.sender}
        verdict = self.gate.check(report, now)
        candidate_id = verdict.located.candidate_id
        if verdict.reason is not None or candidate_id is None:
            log.warning("reply.refused", **context, reason=verdict.reason)
            return Folder.REVIEW
        try:
            defect = self.store.defect(candidate_id)
        except StoreError:
            log.warning(
                "reply.refused", **context, reason=f"no candidate {reference(candidate_id)}"
            )
            return Folder.REVIEW
        command = parse_command(new_text(report.body), self.issue_key)
        if command is None:
            log.info("reply.empty", **context, defect=defect.id)
            return Folder.PROCESSED
        decision = _decision(command, report.sender)
        record = ReplyRecord(
            message_id=report.message_id,
            defect_id=defect.id,
            sender=report.sender,
            verb=str(command.verb),
            args=command.args(),
            at=now,
            thread=f"{reference(defect.id)}:{report.sender}",
        )
        applied = self.store.apply_reply(
            record, decision, self._answer(report, command, defect, decision), self.ack_interval
        )
        event = "reply.applied" if applied else "reply.already_applied"
        log.info(event, **context, defect=defect.id, verb=str(command.verb))
        return Folder.PROCESSED

    @staticmethod
    def _answer(
        report: Report, command: Command, defect: Defect, decision: HumanDecision | None
    ) -> dict[str, Any] | None:
        """The acknowledgement (or help) payload; comments are recorded without an answer."""
        if command.verb is Verb.COMMENT:
            return None
        thread = [_bracketed(r) for r in report.references]
        if report.message_id and not report.message_id.startswith("sha256:"):
            thread.append(_bracketed(report.message_id))
        helping = command.verb in (Verb.HELP, Verb.UNKNOWN)
        return {
            "reason": "help" if helping else "ack",
            "to": report.sender,
            "subject": report.subject,
            "in_reply_to": thread[-1] if thread else "",
            "references": thread,
            "verb": str(command.verb),
            "line": command.reason if command.verb is Verb.UNKNOWN else "",
            "note": _note(defect, decision),
        }


def explain(
    report: Report, helpdesk: HelpdeskConfig | None, now: datetime, issue_key: KeyParser = any_key
) -> dict[str, Any]:
    """The reply fields of ``explain --json``: token, sender check, new text and command."""
    text = new_text(report.body)
    command = parse_command(text, issue_key)
    if helpdesk is None:
        located: Located = locate(report)
        token = {"found_in": located.found_in, "valid": False, "why": "no [helpdesk] section"}
        allowed = False
    else:
        verdict = Gate(helpdesk).check(report, now)
        token, allowed = verdict.token_json(), verdict.sender_allowed
    return {
        "token": token,
        "sender_allowed": allowed,
        "new_text": text,
        "command": command.as_json() if command else None,
    }
