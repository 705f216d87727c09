"""What every store module needs from the database, whatever it stores: error mapping, turns
between replicas, ``IN (...)`` chunks and the SQLite tuning.

Kept apart so the modules of one concern each (queue, queries, batch writer, ...) share one
translation of driver errors and one notion of "take turns", instead of each growing its own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from triagebot.config import (
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
)
from triagebot.errors import StoreError, StoreUnavailable
from triagebot.store.schema import defects

__all__ = [
    "IN_CHUNK",
    "RECORD_LOCK",
    "SCHEMA_LOCK",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SessionLimits",
    "by_ids",
    "chunks",
    "conflict_code",
    "lock_defects",
    "mapped",
    "take_turns",
    "tune_sqlite",
]

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
IN_CHUNK = 512  # values per ``IN (...)``: far below every backend's parameter limit
_CONFLICTS = frozenset({"23505", "40001", "40P01"})
#: A lost race that only the transaction saw (serialization failure, deadlock) or a lock
#: wait cut short by ``lock_timeout``: the same transaction, run again, may well succeed.
RETRY_AGAIN = frozenset({"40001", "40P01", "55P03"})
# PostgreSQL advisory lock ids (transaction-scoped): replicas take turns creating tables and
# recording batches, as SQLite's BEGIN IMMEDIATE makes every writer do.
SCHEMA_LOCK = 0x7472_6961_6765
RECORD_LOCK = SCHEMA_LOCK + 1

#: Driver errors that say the database is out of reach or busy, not that the data is wrong:
#: the same work may succeed later, so callers retry it instead of setting mail aside.
_TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError)


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Database errors as ``StoreError`` (``StoreUnavailable`` when they may pass): the one
    place driver exceptions are translated, for every read and write."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        transient = exc.connection_invalidated or isinstance(exc, _TRANSIENT)
        error = StoreUnavailable if transient else StoreError
        raise error(f"store {what} failed: {exc.orig}") from exc


def take_turns(conn: Connection, lock: int) -> None:
    """PostgreSQL: wait for the transaction-scoped advisory ``lock`` (SQLite: already one
    writer at a time)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


def sqlstate(exc: StoreError) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (None: another backend or no database error)."""
    code = getattr(getattr(exc.__cause__, "orig", None), "sqlstate", None)
    return code if isinstance(code, str) else None


def lock_defects(conn: Connection, condition: sa.ColumnElement[bool]) -> None:
    """Lock the defects matching ``condition``, in id order (PostgreSQL; SQLite has one writer
    anyway). The one lock order of the store: a write that touches defects and their outbox
    rows locks the defects first, in id order, as ``Batch`` does, so two writers (a batch and
    an effect's completion) never wait for each other in a circle."""
    conn.execute(
        sa.select(defects.c.id).where(condition).order_by(defects.c.id).with_for_update()
    ).all()


def conflict_code(exc: StoreError) -> str | None:
    """The SQLSTATE of a lost race between replicas, or None for any other failure."""
    code = sqlstate(exc)
    return code if code in _CONFLICTS else None


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """Slices small enough for an ``IN (...)`` on every backend's parameter limit, each padded
    to a power of two values by repeating its last one (an ``IN`` means the same).

    An ``IN`` renders one placeholder per value, so each length is a statement of its own, and
    SQLite keeps up to 128 prepared statements per connection (one of 500 values takes about
    50 KB). With lengths that change from batch to batch, a long-running service prepared new
    statements in every batch and its caches kept filling and churning; padded, a query has
    at most ten shapes, all prepared within the first batches.
    """
    for i in range(0, len(values), IN_CHUNK):
        chunk = list(values[i : i + IN_CHUNK])
        yield chunk + chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))


def by_ids(
    query: sa.Select[Any], column: sa.Column[int], ids: Collection[int] | None
) -> Iterator[sa.Select[Any]]:
    """``query`` for every row (``ids`` None), or once per chunk of ``ids``."""
    if ids is None:
        yield query
        return
    for chunk in chunks(sorted(ids)):
        yield query.where(column.in_(chunk))


def tune_sqlite(engine: Engine) -> None:
    """WAL + FULL sync + busy timeout, and explicit BEGINs so transactions mean what they say.

    ``synchronous=FULL``: in WAL mode NORMAL may lose the last commits on power loss while the
    rename of the acknowledged mail into ``cur/`` survives; FULL syncs the WAL at each commit,
    so a mail is acknowledged only after its outcome is on disk."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("triagebot_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How long (seconds) a PostgreSQL session waits for a lock, lets one statement run, and
    lets a transaction sit idle before the server ends the session.

    PostgreSQL's defaults are 0, wait forever: a replica frozen (SIGSTOP, a long pause, a
    frozen VM) while it holds the batch lock or an open transaction would hold every other
    replica up for as long as it is frozen. With these, the server cuts it off and the others
    carry on; the frozen one finds its session gone when it wakes and retries."""

    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    idle_in_transaction_timeout: float = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT

    def statements(self) -> list[str]:
        return [
            f"SET lock_timeout = {_ms(self.lock_timeout)}",
            f"SET statement_timeout = {_ms(self.statement_timeout)}",
            f"SET idle_in_transaction_session_timeout = {_ms(self.idle_in_transaction_timeout)}",
        ]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def tune_postgresql(engine: Engine, limits: SessionLimits) -> None:
    """Every session commits durably (``synchronous_commit = on``), whatever the server's
    default: a server set to ``off`` acknowledges commits it may still lose in a crash, and the
    mail they recorded is already acknowledged by then. Every session has ``limits``."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("SET synchronous_commit = on")
        for statement in limits.statements():
            cursor.execute(statement)
        cursor.close()
        dbapi_conn.commit()
