"""Defect states and transitions, and what each decision causes: the rules of a defect's life.

Pure: plain values in, plain values out; no SQLAlchemy, no I/O, no clock. The store
(``triagebot.store``) loads rows, asks these functions what changes and which effects the outbox
must perform, and writes the answers, so the rules can be read (and tested) without a database.

- The ladder: rules move a defect ``ignored`` → ``candidate`` → ``filed``, never down.
- Human states (``rejected``, ``duplicate``) are off the ladder: no rule moves a defect out of
  them, except that an ``override_rejection`` rule lifts a rejection to filed or candidate.
- A human decision (a reply) applies only from the states it names.
- A resolved issue that recurs in a strictly newer version than the one it was resolved after
  is a regression: it is reopened (filed anew when its key was forgotten by a move to another
  tracker kind).
- Effects: a defect filed without an issue needs a ``create``; one with an issue needs an
  ``update`` (coalesced by the outbox); a new candidate needs a ``notify``; a signature joining
  a tracked defect needs a ``link``; a regression needs a ``reopen``.
- An ``undo`` puts back what a human decision changed (``Before``), while the defect is still
  where that decision left it; an undone confirmation's issue is closed (``close``) and kept,
  so a later confirmation reopens it instead of filing the signature twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from triagebot.rules import Action, Fields, parse_version

__all__ = [
    "ATTEMPT",
    "LIFTS_TO",
    "LISTED",
    "OTHERS",
    "RANK",
    "STATE_OF_ACTION",
    "TRACKED_STATES",
    "Before",
    "DefectState",
    "EffectKind",
    "HumanDecision",
    "Need",
    "Touched",
    "UndoRefusal",
    "batch_effects",
    "decision_applies",
    "decision_effects",
    "follow_up",
    "is_regression",
    "link_effect",
    "newer",
    "occur",
    "promote",
    "relinks",
    "tally",
    "undo_effects",
    "undo_refusal",
    "undo_values",
    "wanted_state",
]


class DefectState(StrEnum):
    CANDIDATE = "candidate"  # waits for the helpdesk to confirm
    FILED = "filed"  # in the tracker (or its create is pending)
    REJECTED = "rejected"  # the helpdesk said no; only an ``override_rejection`` rule lifts it
    IGNORED = "ignored"  # an ignore rule decided; recorded, never filed
    DUPLICATE = "duplicate"  # merged into another defect by a human


class EffectKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REOPEN = "reopen"
    LINK = "link"
    NOTIFY = "notify"
    CLOSE = "close"  # an undone confirmation: its issue is closed with a comment
    JOIN = "join"  # joined into another defect: its own issue closed as a duplicate of that one


#: The state each rule action wants for its defect.
STATE_OF_ACTION: Mapping[Action, DefectState] = {
    Action.FILE: DefectState.FILED,
    Action.IGNORE: DefectState.IGNORED,
    Action.CANDIDATE: DefectState.CANDIDATE,
}
#: Rules may move a defect up this ladder, never down; human states are off the ladder.
RANK: Mapping[DefectState, int] = {
    DefectState.IGNORED: 0,
    DefectState.CANDIDATE: 1,
    DefectState.FILED: 2,
}
#: States whose occurrences go to a tracker issue (a duplicate updates the issue it points to).
TRACKED_STATES = frozenset({DefectState.FILED, DefectState.DUPLICATE})
#: States an ``override_rejection`` rule may move a rejected defect to.
LIFTS_TO = frozenset({DefectState.FILED, DefectState.CANDIDATE})
#: The payload key of what a failed attempt left for the next attempt of the same effect
#: (an uncertain create's deadline, the total an update's comment carries); never handed on.
ATTEMPT = "attempt"


@dataclass(frozen=True, slots=True)
class Need:
    """One effect a defect needs: its kind, its payload, and ``extra`` telling apart effects of
    one kind that may wait side by side (one ``link`` per signature)."""

    kind: EffectKind
    payload: dict[str, Any]
    extra: str = ""


# --- rules' decisions ---------------------------------------------------------------------


def wanted_state(action: Action | None) -> DefectState:
    """The state a rule's action wants for its defect (no decision: a candidate)."""
    return STATE_OF_ACTION[action] if action is not None else DefectState.CANDIDATE


def promote(state: DefectState, wanted: DefectState, *, lift: bool = False) -> DefectState:
    """The state after a rule wants ``wanted`` for a defect in ``state``: up the ladder only;
    a human state stays, except that ``lift`` (the deciding rule has ``override_rejection``)
    lifts a rejection to one of ``LIFTS_TO``."""
    if state in RANK:
        return wanted if RANK.get(wanted, -1) > RANK[state] else state
    if lift and state is DefectState.REJECTED and wanted in LIFTS_TO:
        return wanted
    return state


def newer(a: str | None, b: str | None) -> bool:
    """Is version ``a`` strictly newer than ``b``? (unknown ``b``: any known ``a`` is newer)."""
    va = parse_version(a)
    if va is None:
        return False
    vb = parse_version(b)
    return vb is None or va > vb


def is_regression(version: str | None, *, resolved: bool, resolved_version: str | None) -> bool:
    """A recurrence in ``version`` of a resolved defect is a regression when the version is
    strictly newer than the one it was resolved after (an older or equal one is a straggler)."""
    return resolved and newer(version, resolved_version)


@dataclass(slots=True)
class Touched:
    """A defect as a batch found it, plus what the batch does to it."""

    id: int
    state: DefectState
    tracker_key: str | None
    resolved: bool
    resolved_version: str | None
    last_version: str | None
    last_seen: datetime
    new: int = 0
    state_changed: bool = False
    versions: Counter[str] = field(default_factory=Counter)
    environments: Counter[str] = field(default_factory=Counter)
    reopen_version: str | None = None


def occur(
    t: Touched, wanted: DefectState, metadata: Mapping[str, str], at: datetime, lift: bool
) -> bool:
    """Count one occurrence at ``at``; ``lift``: the deciding rule may lift a rejection.

    Returns whether it lifted a rejection (the store logs that)."""
    lifted = False
    state = promote(t.state, wanted, lift=lift)
    if state is not t.state:
        lifted = t.state is DefectState.REJECTED
        t.state, t.state_changed = state, True
    t.new += 1
    t.last_seen = max(t.last_seen, at)
    version = metadata.get("version")
    if version:
        t.versions[version] += 1
        if newer(version, t.last_version):
            t.last_version = version
        if is_regression(version, resolved=t.resolved, resolved_version=t.resolved_version):
            t.resolved, t.reopen_version = False, version
    environment = metadata.get("environment")
    if environment:
        t.environments[environment] += 1
    return lifted


def batch_effects(t: Touched, *, created: bool) -> list[Need]:
    """What a defect a batch touched needs, in the order the outbox should perform it
    (``created``: the batch created the defect)."""
    needs: list[Need] = []
    regression = t.reopen_version is not None
    if regression and t.tracker_key is not None:
        needs.append(Need(EffectKind.REOPEN, {"version": t.reopen_version}))
    if (
        t.state is DefectState.FILED
        and t.tracker_key is None
        and (created or t.state_changed or regression)
    ):
        needs.append(Need(EffectKind.CREATE, {}))
    elif t.state in TRACKED_STATES and t.tracker_key is not None:
        payload = {"versions": tally(t.versions), "environments": tally(t.environments)}
        needs.append(Need(EffectKind.UPDATE, payload))
    if t.state is DefectState.CANDIDATE and (created or t.state_changed):
        needs.append(Need(EffectKind.NOTIFY, {"reason": "candidate"}))
    return needs


#: Names an update's payload lists by count (versions, environments); the occurrences of the
#: others are summed under ``OTHERS``, so a defect seen in thousands of builds keeps a small
#: payload and a comment far below any tracker's limit.
LISTED = 20
OTHERS = ""
NAME_CHARS = 64  # a version or environment as the store's columns keep it


def tally(
    counts: Mapping[str, int] | Iterable[str], *more: Mapping[str, int] | Iterable[str]
) -> dict[str, int]:
    """``counts`` (plus ``more``) summed, the ``LISTED`` most frequent by name (names cut to
    ``NAME_CHARS``), the rest's occurrences under ``OTHERS``. Reads what 0.1.0 queued too:
    a list of names (one each)."""
    total: Counter[str] = Counter()
    for part in (counts, *more):
        for name, n in part.items() if isinstance(part, Mapping) else ((p, 1) for p in part):
            total[name[:NAME_CHARS]] += n
    others = total.pop(OTHERS, 0)
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:LISTED])
    others += sum(n for _, n in ranked[LISTED:])
    return {**kept, OTHERS: others} if others else kept


def link_effect(state: DefectState, signature: str) -> Need | None:
    """A signature newly joined a defect (an upgraded algorithm): a tracked defect's issue
    learns its label; any other defect has no issue to tell."""
    if state in TRACKED_STATES:
        return Need(EffectKind.LINK, {"signature": signature}, extra=signature)
    return None


def follow_up(
    done: EffectKind,
    payload: Mapping[str, Any],
    *,
    state: DefectState,
    tracker_key: str | None,
    occurrences: int,
    reported: int,
) -> Need | None:
    """After an effect completed: occurrences that arrived while it was in flight need a
    fresh ``update``. A completed ``update`` hands on its payload (what batches merged into it
    after the worker read it: a version named twice is harmless, one left out is lost), but
    not what its attempts noted for themselves (``ATTEMPT``)."""
    if state in TRACKED_STATES and tracker_key is not None and occurrences > reported:
        handed = {k: v for k, v in payload.items() if k != ATTEMPT}
        return Need(EffectKind.UPDATE, handed if done is EffectKind.UPDATE else {})
    return None


# --- human decisions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HumanDecision:
    """A state change a reply asks for, applied only from one of ``from_states``."""

    state: DefectState
    from_states: frozenset[DefectState]
    by: str | None = None  # "confirmed by alice@example.com by e-mail"
    fields: Fields | None = None  # merged over the fields the rules set
    tracker_key: str | None = None  # duplicate: the existing issue


def decision_applies(decision: HumanDecision, state: DefectState) -> bool:
    """Whether the defect is still where the decision may move it from (a late or repeated
    reply about a defect that moved on changes nothing)."""
    return state in decision.from_states


def relinks(decision: HumanDecision) -> bool:
    """A duplicate of an existing issue: that issue learns every signature's label and hears
    of the defect's occurrences."""
    return decision.state is DefectState.DUPLICATE and decision.tracker_key is not None


def decision_effects(
    decision: HumanDecision, tracker_key: str | None, signatures: Sequence[str] = ()
) -> list[Need]:
    """What an applied decision causes, for a defect whose issue is ``tracker_key`` (None:
    none yet) and, when it ``relinks``, whose signatures are ``signatures``."""
    needs: list[Need] = []
    if decision.state is DefectState.FILED and (decision.tracker_key or tracker_key) is None:
        needs.append(Need(EffectKind.CREATE, {}))
    elif decision.state is DefectState.FILED:
        # Its own issue, closed by an undo: reopened, and told of what it missed.
        needs.append(Need(EffectKind.REOPEN, {"by": decision.by or ""}))
        needs.append(Need(EffectKind.UPDATE, {}))
    if relinks(decision):
        needs.extend(Need(EffectKind.LINK, {"signature": sig}, extra=sig) for sig in signatures)
        needs.append(Need(EffectKind.UPDATE, {}))
    return needs


# --- undo ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Before:
    """A defect as a human decision found it (what an ``undo`` puts back), and the state the
    decision moved it to (``decided``: an undo applies only while the defect is still there)."""

    state: DefectState
    decided: DefectState
    fields: dict[str, Any]
    confirmed_by: str | None
    tracker_key: str | None
    occurrences_reported: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "decided": str(self.decided),
            "fields": self.fields,
            "confirmed_by": self.confirmed_by,
            "tracker_key": self.tracker_key,
            "occurrences_reported": self.occurrences_reported,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Before:
        return cls(
            state=DefectState(raw["state"]),
            decided=DefectState(raw["decided"]),
            fields=dict(raw["fields"]),
            confirmed_by=raw["confirmed_by"],
            tracker_key=raw["tracker_key"],
            occurrences_reported=int(raw["occurrences_reported"]),
        )


class UndoRefusal(StrEnum):
    """Why an ``undo`` changes nothing."""

    NOTHING = "nothing"  # the sender gave no command on this defect
    UNDONE = "undone"  # their last command was an undo
    NO_CHANGE = "no_change"  # their last command changed nothing
    EXPIRED = "expired"  # their last command is older than the window
    SUPERSEDED = "superseded"  # the defect changed since (another reply, a rule)


def undo_refusal(
    *,
    last_was_undo: bool | None,
    before: Before | None,
    age: timedelta,
    window: timedelta,
    changed_since: bool,
    state: DefectState,
) -> UndoRefusal | None:
    """Whether a sender's last command on a defect (None: there is none) may be undone now:
    the command is ``age`` old; ``changed_since``: another change was recorded after it."""
    if last_was_undo is None:
        return UndoRefusal.NOTHING
    if last_was_undo:
        return UndoRefusal.UNDONE
    if before is None:
        return UndoRefusal.NO_CHANGE
    if age >= window:
        return UndoRefusal.EXPIRED
    if changed_since or state is not before.decided:
        return UndoRefusal.SUPERSEDED
    return None


def undo_values(
    before: Before, tracker_key: str | None, occurrences_reported: int
) -> dict[str, Any]:
    """The defect's columns after an undo. An undone confirmation keeps its own issue (closed
    by the ``close`` effect) and what that issue heard; anything else gets back its former
    key and count (a duplicate forgets the other issue)."""
    keeps = before.decided is DefectState.FILED
    return {
        "state": before.state,
        "fields": before.fields,
        "confirmed_by": before.confirmed_by,
        "tracker_key": tracker_key if keeps else before.tracker_key,
        "occurrences_reported": occurrences_reported if keeps else before.occurrences_reported,
    }


def undo_effects(before: Before, by: str) -> list[Need]:
    """What an undo causes: an undone confirmation's issue is closed with a comment (a create
    still waiting finds the defect no longer filed and does nothing; one that was in flight
    leaves its key, which the ``close`` finds)."""
    if before.decided is DefectState.FILED:
        return [Need(EffectKind.CLOSE, {"by": by})]
    return []
