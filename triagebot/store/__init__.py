"""State: processed messages, signatures, defects, occurrences, the outbox of tracker effects,
replies and notifications, and digest runs.

Written with SQLAlchemy Core and portable SQL, so PostgreSQL is a URL change; SQLite files run
in WAL mode with ``synchronous=NORMAL`` and a busy timeout. ``Store.record`` stores a whole
batch of outcomes and the effects they need in ONE transaction: a message already recorded is
skipped, so re-processing after a crash never counts twice, and the source acknowledges the
batch only after the commit. Effects (create/update/reopen/link/notify) wait in ``outbox``
until the worker (``triagebot.outbox``) performs them; one *pending* ``update`` per defect at
most, so N mails coalesce into one tracker call. Replicas sharing a PostgreSQL store stay
exactly-once: they take turns recording batches (an advisory lock, as SQLite's single writer
does), a batch that still loses a race is retried, and ``due_effects`` leases each effect to
one worker under a fencing token, which the worker's heartbeat renews and without which
nothing completes it. Values from outside are cut to their column widths (``Bounded``),
occurrences count at processing time, and a signature from an upgraded algorithm joins the
defect its report's older-version signature points to. Driver errors surface as
``StoreError`` (``StoreUnavailable`` when they may pass).

Nothing outside this package writes SQL against these tables. One module per concern:

- ``schema``: every table in one ``metadata``, the column types and widths;
- ``db``: error mapping, turns between replicas, ``IN`` chunks, SQLite tuning;
- ``records``: the values handed out (``Defect``, ``Effect``, ...);
- ``batch``: the set-based batch writer behind ``Store.record``;
- ``queue``: the outbox (lease, complete, fail, list, enqueue);
- ``confirmation``: replies, human decisions and notifications;
- ``sync``: the tracker status sync;
- ``queries``: read-only queries (defects, counts, ``status``, digest content);
- ``runs``: digest-run claims;
- ``leader``: which replica reads the shared mailbox, under which fencing token;
- ``bounces``: bounces of the mail triagebot sent, matched to it and listed by ``status``;
- ``facade``: ``Store``, which opens the transactions and exposes all of the above.

The life cycle's rules (states, transitions, which effects a change causes) are pure and live
in ``triagebot.lifecycle``; its values are re-exported here.
"""

from __future__ import annotations

from triagebot.lifecycle import (
    TRACKED_STATES,
    DefectState,
    EffectKind,
    HumanDecision,
    UndoRefusal,
)
from triagebot.store.batch import SAMPLE_TRACE_CHARS
from triagebot.store.db import IN_CHUNK, SQLITE_BUSY_TIMEOUT_MS, SessionLimits, chunks
from triagebot.store.facade import RECORD_ATTEMPTS, Store
from triagebot.store.jobs import JOB_LEASE, JobLease
from triagebot.store.leader import Leadership, replica_name
from triagebot.store.queries import (
    STATUS_FAILED_SHOWN,
    Origins,
    PeriodActivity,
    Trends,
    defect_summaries,
    signatures_of,
)
from triagebot.store.queue import EFFECT_HEARTBEAT, EFFECT_LEASE
from triagebot.store.records import (
    Defect,
    DefectSummary,
    Effect,
    EffectResult,
    Reminder,
    ReplyRecord,
)
from triagebot.store.runs import CLAIM_LEASE
from triagebot.store.schema import (
    MESSAGE_ID_WIDTH,
    Bounded,
    UTCDateTime,
    defects,
    digest_runs,
    leases,
    messages,
    meta,
    metadata,
    notifications,
    occurrences,
    outbox,
    replies,
    signatures,
)

__all__ = [
    "CLAIM_LEASE",
    "EFFECT_HEARTBEAT",
    "EFFECT_LEASE",
    "IN_CHUNK",
    "JOB_LEASE",
    "MESSAGE_ID_WIDTH",
    "RECORD_ATTEMPTS",
    "SAMPLE_TRACE_CHARS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "STATUS_FAILED_SHOWN",
    "TRACKED_STATES",
    "Bounded",
    "Defect",
    "DefectState",
    "DefectSummary",
    "Effect",
    "EffectKind",
    "EffectResult",
    "HumanDecision",
    "JobLease",
    "Leadership",
    "Origins",
    "PeriodActivity",
    "Reminder",
    "ReplyRecord",
    "SessionLimits",
    "Store",
    "Trends",
    "UTCDateTime",
    "UndoRefusal",
    "chunks",
    "defect_summaries",
    "defects",
    "digest_runs",
    "leases",
    "messages",
    "meta",
    "metadata",
    "notifications",
    "occurrences",
    "outbox",
    "replica_name",
    "replies",
    "signatures",
    "signatures_of",
]
