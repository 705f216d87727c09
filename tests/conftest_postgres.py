"""Fixtures for the PostgreSQL store: one throw-away server per session, a fresh database per
test, and ``store_url`` to run a backend-neutral store test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clocks import ManualClock
from tests.servers.postgres import PostgresServer, find_bindir
from triagebot.store import Store

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Started once per session (about 2 s); skipped only when PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (Debian: postgresql)"
        )
    server = PostgresServer.create(bindir)
    yield server
    server.destroy()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new, empty database on the session's server: no test sees another's rows."""
    return postgres.database()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URL of each backend in turn (SQLite file, PostgreSQL database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'triagebot.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Iterator[Store]:
    """A migrated store on each backend in turn, at each hard date in turn; a test module may
    define its own instead."""
    s = Store(store_url, clock=clock)
    s.migrate()
    yield s
    s.close()
