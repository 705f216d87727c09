"""The plain values the store hands out and takes in: defects, effects, replies.

Frozen dataclasses with no database behind them, so callers (the outbox worker, the reply
loop, the CLI) never hold a row or a connection. The life-cycle values (``DefectState``,
``EffectKind``, ``HumanDecision``) live in ``triagebot.lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triagebot.identity import reference
from triagebot.lifecycle import DefectState, EffectKind
from triagebot.rules import Fields

__all__ = ["Defect", "DefectSummary", "Effect", "EffectResult", "Reminder", "ReplyRecord"]


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """One reply command as applied: who, when, which message, in which thread."""

    message_id: str
    defect_id: int
    sender: str
    verb: str
    args: dict[str, Any]
    at: datetime
    thread: str  # acknowledgements are rate-limited per thread


@dataclass(frozen=True, slots=True)
class Effect:
    """One outbox row the worker must perform, under the lease ``token`` (its fencing token:
    only the current one may renew, complete or fail it)."""

    id: int
    kind: EffectKind
    defect_id: int
    payload: dict[str, Any]
    attempts: int
    token: int


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder claimed for sending: the candidate mail ``id`` it follows, under fencing
    ``token`` (only the current claim renews or completes it)."""

    id: int
    defect_id: int
    recipient: str
    token: int


@dataclass(frozen=True, slots=True)
class EffectResult:
    """What a performed effect taught us about the tracker side; None = unchanged."""

    tracker_key: str | None = None
    tracker_status: str | None = None
    resolved: bool | None = None
    occurrences_reported: int | None = None


@dataclass(frozen=True, slots=True)
class Defect:
    """A defect row as the outbox worker and the CLI need it."""

    id: int
    state: DefectState
    signatures: tuple[str, ...]  # the creating signature first
    tracker_key: str | None
    tracker_status: str | None
    resolved: bool
    title: str
    language: str
    message: str
    exception_types: tuple[str, ...]
    top_frames: tuple[str, ...]
    sample_trace: str
    metadata: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    occurrences_reported: int
    last_version: str | None
    fields: Fields
    rule: str | None
    confirmed_by: str | None


@dataclass(frozen=True, slots=True)
class DefectSummary:
    """One line of ``triagebot defects --json``."""

    id: int
    key: str | None
    state: str
    signatures: list[str]
    title: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ref": reference(self.id),  # as the helpdesk's mails name it
            "key": self.key,
            "state": self.state,
            "signatures": self.signatures,
            "title": self.title,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }
