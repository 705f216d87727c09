"""Leadership of the intake: one replica at a time reads the shared mailbox, and another
takes over within the failover time when it stops, dies or freezes.

PostgreSQL: the leader holds a session-level advisory lock (``INTAKE_LOCK``) on a connection of
its own, whose ``idle_session_timeout`` is the failover time. The leader touches that session
each time it makes progress (``Leadership.hold`` from its intake loop, at most every third of
the failover time), so:

- a leader that stops releases the lock (``release``); one that dies (SIGKILL, a lost host)
  loses its session and the lock with it at once;
- one that freezes (SIGSTOP, a long pause, a frozen VM) or whose loop hangs stops touching
  the session, which the server ends after the failover time;
- the standbys try the lock every tenth of the failover time, so one leads again within
  about 1.1 times the failover time of a freeze, and within a tenth of it of a crash.

A lock alone cannot stop a leader that wakes up after the server ended its session: each new
leader raises the ``intake`` row's token (a fencing token) and ``check`` refuses a batch
recorded under an older one (``LeadershipLost``), so the late one records and acknowledges
nothing. An advisory lock was chosen over a lease row alone because a crashed leader's lock
goes with its session at once, while a lease row would wait out its whole term. SQLite has a
single process: the lead is taken at once, through the same calls.

Every replica also keeps a ``replica:<holder>`` row's ``renewed_at`` up to date (the leader at
each renewal, a standby at every third of the failover time, not at each attempt: every
update is a commit the leader's batches wait behind on a durable server), so ``triagebot
status`` shows the replicas, which one leads, since when.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from triagebot.clock import Clock
from triagebot.errors import LeadershipLost, StoreError
from triagebot.store.db import RECORD_LOCK, mapped
from triagebot.store.schema import leases

__all__ = ["INTAKE", "INTAKE_LOCK", "REPLICA", "Leadership", "check", "replica_name"]

log = structlog.get_logger(__name__)

INTAKE = "intake"
INTAKE_LOCK = RECORD_LOCK + 1  # session-scoped, unlike the others
REPLICA = "replica:"  # the prefix of each replica's own row


def replica_name() -> str:
    """This replica among those sharing the store: its host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """One replica's claim to lead ``name``; thread-safe (every source's loop asks)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        holder: str,
        failover: timedelta,
        *,
        name: str = INTAKE,
    ) -> None:
        """``holder``: this replica, unique among the running ones (host and process)."""
        self._engine = engine
        self._clock = clock
        self.holder = holder
        self.name = name
        self.failover = failover
        self._shared = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self.token: int | None = None
        self._due = 0.0  # monotonic time of the next renewal (leader) or attempt (standby)
        self._seen_due = 0.0  # monotonic time a standby next updates its ``replica:`` row

    @property
    def poll(self) -> float:
        """Seconds between a standby's attempts to take the lead."""
        return self.failover.total_seconds() / 10

    @property
    def renewal(self) -> float:
        """Seconds between the leader's renewals (``hold`` touches the database no sooner)."""
        return self.failover.total_seconds() / 3

    def hold(self) -> int | None:
        """Take the lead, or keep it: the fencing token while this replica leads, None while
        another does. Cheap when nothing is due (most calls touch no database)."""
        with self._lock:
            if time.monotonic() < self._due:
                return self.token
            try:
                with mapped("leadership"):
                    if self.token is None:
                        self._take()
                    else:
                        self._renew()
            except StoreError as exc:
                self._drop("lost" if self.token is not None else "unavailable", str(exc))
            return self.token

    def release(self) -> None:
        """Give the lead up (an orderly stop): a standby takes over at its next attempt."""
        with self._lock:
            if self.token is not None:
                log.info("intake.released", holder=self.holder, fence=self.token)
            self._drop(None, "")

    def _take(self) -> None:
        conn = self._engine.connect()
        try:
            if (
                self._shared
                and not conn.execute(sa.select(sa.func.pg_try_advisory_lock(INTAKE_LOCK))).scalar()
            ):
                conn.rollback()
                if time.monotonic() >= self._seen_due:  # the row, not every attempt: a commit
                    self._see(conn)
                conn.close()
                self._due = time.monotonic() + self.poll
                return
            if self._shared:  # from now on the server ends this session when we stop moving
                timeout = round(self.failover.total_seconds() * 1000)
                conn.exec_driver_sql(f"SET idle_session_timeout = {timeout}")
            self.token = _raise_token(conn, self.name, self.holder, self._clock())
            self._see(conn)
        except BaseException:
            conn.invalidate()  # a session holding the lock must not go back to the pool
            conn.close()
            raise
        self._conn = conn
        self._due = time.monotonic() + self.renewal
        log.info("intake.leading", holder=self.holder, fence=self.token)

    def _renew(self) -> None:
        assert self._conn is not None
        now = self._clock()
        mine = sa.and_(leases.c.name == self.name, leases.c.token == self.token)
        if not self._conn.execute(sa.update(leases).where(mine).values(renewed_at=now)).rowcount:
            self._conn.rollback()
            raise LeadershipLost(f"the {self.name} lead moved on from token {self.token}")
        self._see(self._conn)
        self._due = time.monotonic() + self.renewal

    def _see(self, conn: Connection) -> None:
        """This replica's ``replica:`` row: when it was last seen."""
        now, name = self._clock(), REPLICA + self.holder
        seen = sa.update(leases).where(leases.c.name == name).values(renewed_at=now)
        if not conn.execute(seen).rowcount:
            row = {"holder": self.holder, "token": 0, "acquired_at": now, "renewed_at": now}
            conn.execute(sa.insert(leases).values(name=name, **row))
        conn.commit()
        self._seen_due = time.monotonic() + self.failover.total_seconds() / 3

    def _drop(self, why: str | None, error: str) -> None:
        if why == "lost":
            log.warning("intake.lost", holder=self.holder, fence=self.token, error=error)
        elif why == "unavailable":
            log.warning("intake.unavailable", holder=self.holder, error=error)
        if self._conn is not None:
            if self._shared:
                self._conn.invalidate()  # ends the session: the lock goes with it
            self._conn.close()
            self._conn = None
        self.token = None
        self._due = time.monotonic() + (self.poll if why else 0)


def _raise_token(conn: Connection, name: str, holder: str, now: datetime) -> int:
    """The next fencing token of ``name``, now held by ``holder``."""
    values = {"holder": holder, "acquired_at": now, "renewed_at": now}
    token = conn.execute(
        sa.update(leases)
        .where(leases.c.name == name)
        .values(token=leases.c.token + 1, **values)
        .returning(leases.c.token)
    ).scalar()
    if token is None:
        token = 1
        conn.execute(sa.insert(leases).values(name=name, token=token, **values))
    conn.commit()
    return int(token)


def check(conn: Connection, name: str, token: int) -> None:
    """Refuse (``LeadershipLost``) work done under a token that is not ``name``'s current one."""
    current = conn.execute(sa.select(leases.c.token).where(leases.c.name == name)).scalar()
    if current != token:
        raise LeadershipLost(f"the {name} lead is at token {current}, not {token}: stood down")
