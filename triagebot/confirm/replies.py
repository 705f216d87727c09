"""Applying a reply: authorise, read the command, record it once, answer once.

Runs after the reply's batch is committed. A reply that fails authorisation goes to the
Review folder with the reason logged and changes nothing; when its author is on the
allow-list, the author is told why in one line, at most once per hour (a forged From must not
make triagebot mail staff on demand). Everything else is acknowledged into Processed: a
command is applied, a reply without one (a question, a comment, a command not understood) is
kept as a comment and answered with the candidate's state and the commands. Automatic mail
(RFC 3834 auto-replies, bounces, list traffic, a null ``Return-Path``) is never answered. The
store applies each reply Message-ID once, so a re-delivered or re-sent reply does nothing the
second time.

``undo`` reverses the sender's own last command on the candidate: only its author may, since
an undo puts back what that command changed and nobody else's decision should vanish without
a command of their own (another member of staff answers with ``confirm`` or ``reject``). It
acts within ``[helpdesk] undo_window_minutes`` of the command and only while nothing changed
the candidate since (another reply, a rule); a confirmation's issue is closed with a comment
and kept, so a later ``confirm`` reopens it. Every undo is recorded and answered, with why
when nothing changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from triagebot.config import Config, HelpdeskConfig
from triagebot.confirm.commands import Command, KeyParser, Verb, any_key, read_command
from triagebot.confirm.trust import Gate, Located, Verdict, locate
from triagebot.errors import StoreError
from triagebot.identity import reference
from triagebot.mail.classify import auto_reason, bounce_reason
from triagebot.mail.reply import new_text
from triagebot.mail.report import Report
from triagebot.mail.source import Folder
from triagebot.rules import Fields
from triagebot.store import Defect, DefectState, HumanDecision, ReplyRecord, Store, UndoRefusal

__all__ = ["REFUSAL_INTERVAL", "ReplyHandler", "automatic", "explain", "explain_lines"]

log = structlog.get_logger(__name__)

#: An allowed sender is told at most once per this interval that a reply was refused.
REFUSAL_INTERVAL = timedelta(hours=1)
_OPEN = frozenset({DefectState.CANDIDATE})
# A confirm or duplicate may overrule an earlier reject (someone changed their mind).
_REOPENABLE = frozenset({DefectState.CANDIDATE, DefectState.REJECTED, DefectState.IGNORED})
_STATES = {
    DefectState.CANDIDATE: "a candidate: it waits for your decision",
    DefectState.FILED: "filed in the tracker",
    DefectState.DUPLICATE: "a duplicate of an existing issue",
    DefectState.REJECTED: "rejected: later occurrences are recorded, not proposed",
    DefectState.IGNORED: "ignored by a rule: occurrences are recorded, never filed",
}


def automatic(report: Report) -> str | None:
    """Why a mail must never be answered (RFC 3834: auto-replies, bounces, list traffic, a
    null ``Return-Path``), or None."""
    headers = report.headers
    if "list-id" in headers:
        return "list-id"
    if "".join(headers.get("return-path", "-").split()) in ("<>", ""):
        return "null return-path"
    return bounce_reason(headers, report.sender, report.subject) or auto_reason(
        headers, report.subject
    )


def state_line(defect: Defect) -> str:
    """The candidate's state in one sentence, as answers show it."""
    key = f" ({defect.tracker_key})" if defect.tracker_key else ""
    return f"{reference(defect.id)}{key} is {_STATES[defect.state]}."


def _decide(
    command: Command, sender: str, defect: Defect, target: Defect | None
) -> tuple[HumanDecision | None, str]:
    """What a command asks of ``defect`` (``target``: the candidate a ``duplicate C-41``
    names, when it exists), and what the acknowledgement says happened."""
    ref = reference(defect.id)
    if command.duplicate_of is not None:
        named = reference(command.duplicate_of)
        if target is None or target.id == defect.id or target.tracker_key is None:
            why = (
                f"{named} does not exist"
                if target is None
                else "it is this candidate"
                if target.id == defect.id
                else f"{named} has no tracker issue yet: confirm it first, then answer again"
            )
            return None, f"Nothing changed: {ref} cannot be a duplicate of {named}: {why}."
    decision = _decision(command, sender, target)
    if decision is None:
        return None, ""
    if defect.state not in decision.from_states:
        key = f" ({defect.tracker_key})" if defect.tracker_key else ""
        return decision, f"Nothing changed: {ref} is already {defect.state}{key}."
    if decision.state is DefectState.FILED and defect.tracker_key:
        return decision, f"{ref} is filed again: {defect.tracker_key} is reopened."
    if decision.state is DefectState.FILED:
        return decision, f"{ref} is being filed in the tracker."
    if decision.state is DefectState.DUPLICATE:
        return decision, f"{ref} now updates {decision.tracker_key}."
    return decision, f"{ref} is rejected: later occurrences are recorded, not proposed."


def _decision(command: Command, sender: str, target: Defect | None) -> HumanDecision | None:
    """The decision of an acting command; ``target``: the candidate a ``duplicate C-41``
    names, which has a tracker issue."""
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
        key, of = command.key, command.key
        if target is not None and target.tracker_key is not None:
            key, of = target.tracker_key, f"{reference(target.id)} ({target.tracker_key})"
        by = f"marked as duplicate of {of} by {sender} by e-mail"
        return HumanDecision(DefectState.DUPLICATE, _REOPENABLE, by=by, tracker_key=key)
    return None


def _undo_note(
    defect: Defect, last: ReplyRecord | None, why: UndoRefusal | None, window: timedelta
) -> str:
    """What the answer to an ``undo`` says happened, or why nothing did."""
    ref = reference(defect.id)
    if last is None or why is UndoRefusal.NOTHING:
        return f"Nothing changed: you gave no command on {ref} to undo."
    said = f'your "{last.verb}" of {last.at:%Y-%m-%d %H:%M} UTC'
    if why is None:
        closed = (
            f" Its tracker issue {defect.tracker_key} is closed with a comment."
            if last.verb == "confirm" and defect.tracker_key
            else ""
        )
        return f"{ref} is back to where it was before {said}.{closed}"
    reasons = {
        UndoRefusal.UNDONE: "your last command was undone already",
        UndoRefusal.NO_CHANGE: f"{said} changed nothing",
        UndoRefusal.EXPIRED: f"{said} is older than {_minutes(window)}, the time it may be undone",
        UndoRefusal.SUPERSEDED: f"{ref} changed since {said}",
    }
    return f"Nothing changed: {reasons[why]}."


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _understood(command: Command | None, ref: str) -> str:
    """What the answer to a reply without a command says was understood."""
    if command is None:
        return f"Your reply to {ref} holds no new text, so no command."
    if command.verb is Verb.UNKNOWN:
        return f'"{command.reason}" is not a command triagebot knows; it is kept as a comment.'
    if command.verb is Verb.COMMENT:
        return f"Your reply holds no command on its first line; it is kept as a comment on {ref}."
    return ""


def _thread(report: Report) -> dict[str, Any]:
    """The fields that answer ``report`` in its thread."""
    thread = [f"<{r}>" for r in report.references]
    if report.message_id and not report.message_id.startswith("sha256:"):
        thread.append(f"<{report.message_id}>")
    return {
        "subject": report.subject,
        "in_reply_to": thread[-1] if thread else "",
        "references": thread,
    }


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
        self.undo_window = timedelta(minutes=helpdesk.undo_window_minutes)

    @classmethod
    def from_config(cls, config: Config, store: Store, issue_key: KeyParser) -> ReplyHandler | None:
        if config.helpdesk is None:
            return None
        return cls(config.helpdesk, store, issue_key)

    def handle(self, report: Report, now: datetime) -> Folder:
        """Apply one reply received at ``now``; returns the folder it is acknowledged into."""
        verdict = self.gate.check(report, now)
        sender = verdict.sender.address  # the one From mailbox the checks were made on
        context = {"message_id": report.message_id, "sender": sender or report.sender}
        candidate_id = verdict.located.candidate_id
        if verdict.reason is not None or candidate_id is None:
            return self._refuse(report, verdict, verdict.reason or "no candidate", now)
        defect = self._defect(candidate_id)
        if defect is None:
            return self._refuse(report, verdict, f"no candidate {reference(candidate_id)}", now)
        command = read_command(new_text(report.body), report.subject, self.issue_key)
        target = None
        if command is not None and command.duplicate_of is not None:
            target = self._defect(command.duplicate_of)
        decision, note = _decide(command, sender, defect, target) if command else (None, "")
        acts = command is not None and command.acts
        record = ReplyRecord(
            message_id=report.message_id,
            defect_id=defect.id,
            sender=sender,
            verb=str(command.verb) if command is not None and acts else str(Verb.COMMENT),
            args=command.args() if command is not None else {},
            at=now,
            thread=f"{reference(defect.id)}:{sender}",
        )
        quiet = automatic(report)
        if command is not None and command.verb is Verb.UNDO:
            return self._undo(report, record, command, defect, quiet=quiet, context=context)
        answer = None if quiet else self._answer(report, sender, command, defect, note)
        applied = self.store.apply_reply(record, decision, answer, self.ack_interval)
        event = "reply.applied" if applied else "reply.already_applied"
        verb = str(command.verb) if command is not None else "none"
        log.info(event, **context, defect=defect.id, verb=verb, unanswered=quiet)
        return Folder.PROCESSED

    def _undo(
        self,
        report: Report,
        record: ReplyRecord,
        command: Command,
        defect: Defect,
        *,
        quiet: str | None,
        context: dict[str, str],
    ) -> Folder:
        """Apply an ``undo``: the store finds the sender's last command and reverses it in
        the transaction that records the undo and its answer."""

        def answer(last: ReplyRecord | None, why: UndoRefusal | None) -> dict[str, Any] | None:
            if quiet:
                return None
            note = _undo_note(defect, last, why, self.undo_window)
            return self._answer(report, record.sender, command, defect, note)

        outcome = self.store.apply_undo(record, self.undo_window, answer)
        if outcome is None:
            log.info("reply.already_applied", **context, defect=defect.id, verb=str(Verb.UNDO))
        else:
            last, why = outcome
            log.info(
                "reply.undo",
                **context,
                defect=defect.id,
                undone=last.message_id if last is not None and why is None else None,
                refused=str(why) if why is not None else None,
                unanswered=quiet,
            )
        return Folder.PROCESSED

    def _defect(self, defect_id: int) -> Defect | None:
        try:
            return self.store.defect(defect_id)
        except StoreError:
            return None

    def _refuse(self, report: Report, verdict: Verdict, reason: str, now: datetime) -> Folder:
        """Log a refused reply and queue the one-line answer to an allowed sender (at most one
        per ``REFUSAL_INTERVAL``; never for automatic mail or anyone else)."""
        sender = verdict.sender.address
        context = {"message_id": report.message_id, "sender": sender or report.sender}
        log.warning("reply.refused", **context, reason=reason)
        quiet = automatic(report)
        if verdict.sender_allowed and quiet is None:
            answer = {"to": sender, "reason": reason, **_thread(report)}
            queued = self.store.queue_refusal_notice(
                report.message_id, sender, answer, at=now, per=REFUSAL_INTERVAL
            )
            log.info("reply.refusal_answer", **context, queued=queued)
        elif verdict.sender_allowed:
            log.info("reply.refusal_unanswered", **context, why=quiet)
        return Folder.REVIEW

    @staticmethod
    def _answer(
        report: Report, sender: str, command: Command | None, defect: Defect, note: str
    ) -> dict[str, Any]:
        """The payload answering a reply: an acknowledgement of a command, else (help, or no
        command) what was understood, the candidate's state and the commands."""
        helping = command is None or command.verb is Verb.HELP or not command.acts
        return {
            "reason": "help" if helping else "ack",
            "to": sender,
            **_thread(report),
            "verb": str(command.verb) if command is not None else "",
            "line": command.reason if command is not None and command.verb is Verb.UNKNOWN else "",
            "note": note,
            "understood": _understood(command, reference(defect.id)),
            "state": state_line(defect),
        }


def explain(
    report: Report, helpdesk: HelpdeskConfig | None, now: datetime, issue_key: KeyParser = any_key
) -> dict[str, Any]:
    """The reply fields of ``explain --json``: token, author, each Authentication-Results
    stamp and which one counted, new text and command."""
    text = new_text(report.body)
    command = read_command(text, report.subject, issue_key)
    if helpdesk is None:
        located: Located = locate(report)
        checks: dict[str, Any] = {
            "token": {"found_in": located.found_in, "valid": False, "why": "no [helpdesk] section"},
            "sender_allowed": False,
        }
    else:
        checks = Gate(helpdesk).check(report, now).as_json()
    return {**checks, "new_text": text, "command": command.as_json() if command else None}


def explain_lines(fields: dict[str, Any]) -> list[str]:
    """``explain``'s text lines for a reply, from the fields ``explain`` returns."""
    token = fields["token"]
    lines = [f"token     {token['found_in'] or '(none)'}: {token['why']}"]
    if "sender" in fields:
        sender = fields["sender"]
        allowed = "allowed" if fields["sender_allowed"] else "not allowed"
        lines.append(
            f"sender    {sender['address']} ({allowed})"
            if sender["address"]
            else f"sender    none: {sender['why']}"
        )
        for stamp in fields["authentication_results"]:
            mark = "counted" if stamp["counted"] else "ignored"
            lines.append(
                f"stamp [{stamp['position']}] {stamp['authserv_id'] or '?'}: {mark}, {stamp['why']}"
            )
        lines.append(f"stamps    {fields['authentication']['summary']}")
        lines.append(
            f"verdict   {'refused: ' + fields['refused'] if fields['refused'] else 'may act'}"
        )
    command = fields["command"]
    lines.append(
        f"command   {command['verb']} {command['args'] or ''}".rstrip()
        if command
        else "command   (none)"
    )
    return lines
