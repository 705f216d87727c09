"""The batch writer: a whole batch of outcomes, and the effects they cause, in one transaction.

Set-based: a fixed number of statements per batch, however many messages and known defects
it touches, because live throughput depends on it (``tests/test_batching.py`` counts them).
A message already recorded is skipped (``known``), so re-processing after a crash never
counts twice; a signature from an upgraded algorithm joins the defect its report's
older-version signature points to. What each occurrence changes and which effects a touched
defect needs are the life cycle's rules (``triagebot.lifecycle``); this module loads the rows,
applies those rules and writes the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from triagebot import lifecycle
from triagebot.lifecycle import DefectState, EffectKind, Need, Touched
from triagebot.store import bounces
from triagebot.store.db import chunks
from triagebot.store.queue import INSERT_EFFECT, effect_row, enqueue, pending_effects, pending_key
from triagebot.store.schema import (
    MESSAGE_ID_WIDTH,
    UTCDateTime,
    defects,
    messages,
    occurrences,
    outbox,
    signatures,
)

if TYPE_CHECKING:
    from triagebot.pipeline import Outcome

__all__ = ["SAMPLE_TRACE_CHARS", "Batch", "known"]

log = structlog.get_logger(__name__)

SAMPLE_TRACE_CHARS = 65_536  # the tracker adapter truncates further; the store keeps a sample

# Statements of the batch writer, built once (SQLAlchemy caches their compiled form).
_b = sa.bindparam
_INSERT_MESSAGE = sa.insert(messages)
_INSERT_OCCURRENCE = sa.insert(occurrences)
_INSERT_SIGNATURE = sa.insert(signatures)
_INSERT_DEFECT = sa.insert(defects).returning(defects.c.id, sort_by_parameter_order=True)
_UPDATE_DEFECT = (
    sa.update(defects)
    .where(defects.c.id == _b("b_id"))
    .values(
        occurrences=defects.c.occurrences + _b("b_new"),
        last_seen=_b("b_last_seen", type_=UTCDateTime),
        last_version=_b("b_last_version"),
        state=_b("b_state"),
        resolved=_b("b_resolved"),
    )
)
_UPDATE_PAYLOAD = (
    sa.update(outbox)
    .where(outbox.c.id == _b("b_id"))
    .values(payload=_b("b_payload", type_=sa.JSON))
)


def known(conn: Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are recorded (as given: an over-long one is stored cut)."""
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(
            conn.execute(
                sa.select(messages.c.message_id).where(messages.c.message_id.in_(chunk))
            ).scalars()
        )
    if not found:
        return found
    return {i for i in ids if i[:MESSAGE_ID_WIDTH] in found}


class Batch:
    """The work of one ``Store.record`` call inside its transaction, set-based: a fixed
    number of statements per batch, however many messages and known defects it touches (new
    defects: one multi-row insert on PostgreSQL; SQLite inserts them one by one to learn
    their ids)."""

    def __init__(self, conn: Connection, now: datetime, update_delay: timedelta) -> None:
        self.conn = conn
        self.now = now
        self.update_delay = update_delay

    def record(self, items: Iterable[tuple[Outcome, str | None]]) -> None:
        """Occurrences are recorded at processing time (``now``), not at the report's own
        ``Date:``: a sender's clock in the future must not pin ``last_seen``, and a backlog
        must count in the rule windows as the batch counter counted it."""
        items = list(items)
        keys = {(o.signature.value, o.signature.version) for o, _ in items if o.signature}
        older = {(p.value, p.version) for o, _ in items if o.signature for p in o.previous}
        mapping = self._mapping(keys | older)
        links = self._link(items, mapping)
        touched = self._load({mapping[k] for k in keys if k in mapping})
        created = self._create(items, mapping, touched)
        message_rows: list[dict[str, Any]] = []
        occurrence_rows: list[dict[str, Any]] = []
        for outcome, ref in items:
            report, sig, decision = outcome.report, outcome.signature, outcome.decision
            defect_id = None
            if sig is not None:
                wanted = lifecycle.wanted_state(decision.action if decision else None)
                lift = decision is not None and decision.override_rejection
                defect_id = mapping[sig.value, sig.version]
                t = touched[defect_id]
                if lifecycle.occur(t, wanted, report.metadata, self.now, lift):
                    log.info("store.rejection_lifted", defect=t.id, state=str(wanted))
                occurrence_rows.append(
                    _occurrence_row(defect_id, outcome.store_key, self.now, report.metadata)
                )
            message_rows.append(
                {
                    "message_id": outcome.store_key,
                    "kind": str(report.kind),
                    "action": decision.action.value if decision else None,
                    "rule": decision.rule if decision else None,
                    "signature": sig.value if sig else None,
                    "defect_id": defect_id,
                    "received_at": report.date,
                    "processed_at": self.now,
                    "source_ref": ref,
                    "reason": report.reason or None,
                }
            )
        self.conn.execute(_INSERT_MESSAGE, message_rows)
        bounced = [(o.store_key, o.report.bounce) for o, _ in items if o.report.bounce]
        if bounced:
            bounces.record(self.conn, bounced, self.now)
        if occurrence_rows:
            self.conn.execute(_INSERT_OCCURRENCE, occurrence_rows)
        self._update_defects(touched.values())
        self._effects(touched.values(), {t.id for t in created})
        for (value, _version), defect_id in links.items():
            need = lifecycle.link_effect(touched[defect_id].state, value)
            if need is not None:  # the tracker learns the new label
                enqueue(self.conn, need.kind, defect_id, need.payload, self.now, extra=need.extra)

    def _mapping(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for chunk in chunks(sorted({k[0] for k in keys})):
            rows = self.conn.execute(
                sa.select(
                    signatures.c.signature, signatures.c.version, signatures.c.defect_id
                ).where(signatures.c.signature.in_(chunk))
            )
            found.update(((r.signature, r.version), r.defect_id) for r in rows)
        return found

    def _link(
        self, items: list[tuple[Outcome, str | None]], mapping: dict[tuple[str, str], int]
    ) -> dict[tuple[str, str], int]:
        """Point each unknown signature at the defect an older-version signature of the same
        report belongs to, so an upgraded algorithm files no known bug again (added to
        ``mapping``; returned: the new links)."""
        links: dict[tuple[str, str], int] = {}
        for outcome, _ref in items:
            sig = outcome.signature
            if sig is None or (sig.value, sig.version) in mapping:
                continue
            for old in outcome.previous:
                defect_id = mapping.get((old.value, old.version))
                if defect_id is not None:
                    mapping[sig.value, sig.version] = links[sig.value, sig.version] = defect_id
                    log.info(
                        "store.signature_linked", defect=defect_id, old=old.value, new=sig.value
                    )
                    break
        if links:
            self.conn.execute(
                _INSERT_SIGNATURE,
                [
                    {"signature": value, "version": version, "defect_id": defect_id}
                    for (value, version), defect_id in links.items()
                ],
            )
        return links

    def _load(self, ids: set[int]) -> dict[int, Touched]:
        loaded: dict[int, Touched] = {}
        for chunk in chunks(sorted(ids)):
            rows = self.conn.execute(
                sa.select(
                    defects.c.id,
                    defects.c.state,
                    defects.c.tracker_key,
                    defects.c.resolved,
                    defects.c.resolved_version,
                    defects.c.last_version,
                    defects.c.last_seen,
                )
                .where(defects.c.id.in_(chunk))
                .order_by(defects.c.id)
                .with_for_update()  # PostgreSQL: a replica's batch on these defects waits
            )
            for r in rows:
                loaded[r.id] = Touched(
                    r.id,
                    DefectState(r.state),
                    r.tracker_key,
                    r.resolved,
                    r.resolved_version,
                    r.last_version,
                    r.last_seen,
                )
        return loaded

    def _create(
        self,
        items: list[tuple[Outcome, str | None]],
        mapping: dict[tuple[str, str], int],
        touched: dict[int, Touched],
    ) -> list[Touched]:
        """One defect per signature not seen before, from its first report in the batch; the
        ids come back in row order."""
        first: dict[tuple[str, str], Outcome] = {}
        for outcome, _ref in items:
            sig = outcome.signature
            if sig is not None and (sig.value, sig.version) not in mapping:
                first.setdefault((sig.value, sig.version), outcome)
        if not first:
            return []
        rows = [self._defect_row(outcome) for outcome in first.values()]
        ids = self.conn.execute(_INSERT_DEFECT, rows).scalars().all()
        self.conn.execute(
            _INSERT_SIGNATURE,
            [
                {"signature": value, "version": version, "defect_id": defect_id}
                for (value, version), defect_id in zip(first, ids, strict=True)
            ],
        )
        created: list[Touched] = []
        for key, row, defect_id in zip(first, rows, ids, strict=True):
            mapping[key] = defect_id
            state, at = row["state"], row["first_seen"]
            touched[defect_id] = t = Touched(defect_id, state, None, False, None, None, at)
            created.append(t)
            log.info("store.defect_created", defect=defect_id, signature=key[0], state=str(state))
        return created

    def _defect_row(self, outcome: Outcome) -> dict[str, Any]:
        sig, report, decision = outcome.signature, outcome.report, outcome.decision
        assert sig is not None
        first = report.trace.exceptions[0] if report.trace and report.trace.exceptions else None
        return {
            "state": lifecycle.wanted_state(decision.action if decision else None),
            "signature": sig.value,
            "title": sig.title,
            "language": sig.language,
            "message": first.message if first else "",
            "exception_types": list(sig.exception_types),
            "top_frames": list(sig.in_app_frames),
            "sample_trace": report.text[:SAMPLE_TRACE_CHARS],
            "metadata": dict(report.metadata),
            "first_seen": self.now,
            "last_seen": self.now,
            "occurrences": 0,
            "occurrences_reported": 0,
            "fields": decision.fields.as_dict() if decision else {},
            "rule": decision.rule if decision else None,
            "resolved": False,
        }

    def _update_defects(self, touched: Iterable[Touched]) -> None:
        rows = [
            {
                "b_id": t.id,
                "b_new": t.new,
                "b_last_seen": t.last_seen,
                "b_last_version": t.last_version,
                "b_state": str(t.state),
                "b_resolved": t.resolved,
            }
            for t in touched
        ]
        if rows:
            self.conn.execute(_UPDATE_DEFECT, rows)

    def _effects(self, touched: Iterable[Touched], new_ids: set[int]) -> None:
        """Queue what the touched defects need (``lifecycle.batch_effects``): one look-up of
        the pending effects they already have, then one multi-row insert and one multi-row
        payload update."""
        wanted: list[tuple[Touched, Need]] = [
            (t, need)
            for t in touched
            for need in lifecycle.batch_effects(t, created=t.id in new_ids)
        ]
        if not wanted:
            return
        pending = pending_effects(
            self.conn, [k for t, need in wanted if (k := pending_key(need.kind, t.id))]
        )
        inserts: list[dict[str, Any]] = []
        merges: list[dict[str, Any]] = []
        for t, need in wanted:
            kind, payload = need.kind, need.payload
            key = pending_key(kind, t.id)
            found = pending.get(key) if key is not None else None
            if found is None:
                delay = self.update_delay if kind is EffectKind.UPDATE else timedelta(0)
                inserts.append(effect_row(kind, t.id, payload, self.now, key=key, delay=delay))
            elif kind is EffectKind.UPDATE:  # coalesce into the update already waiting
                effect_id, old = found
                # what its failed attempts noted (``lifecycle.ATTEMPT``) stays
                merged = old | {k: lifecycle.tally(old.get(k, {}), payload[k]) for k in payload}
                if merged != old:
                    merges.append({"b_id": effect_id, "b_payload": merged})
        if inserts:
            self.conn.execute(INSERT_EFFECT, inserts)
        if merges:
            self.conn.execute(_UPDATE_PAYLOAD, merges)


def _occurrence_row(
    defect_id: int, message_id: str, at: datetime, meta_: dict[str, str]
) -> dict[str, Any]:
    return {
        "defect_id": defect_id,
        "message_id": message_id,
        "at": at,
        "application": meta_.get("application"),
        "version": meta_.get("version"),
        "environment": meta_.get("environment"),
        "machine": meta_.get("machine"),
    }
