"""Schema migrations: a database made by release 0.1.0 is upgraded in place, a new one is
built by the revisions alone, and both end exactly at the current schema, on both backends."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.clocks import ManualClock
from tests.factories import make_outcome
from tests.helpers import Bot
from triagebot.errors import StoreError
from triagebot.lifecycle import EffectKind
from triagebot.store import Store, metadata
from triagebot.store.migrate import LEGACY_SCHEMA_VERSION, head

RELEASE_0_1_0 = Path(__file__).parent / "data" / "store_0_1_0"
#: What the 0.1.0 databases under ``data/store_0_1_0`` hold (made by that release's
#: ``run --once`` over the repository's 12 samples: shipped rules, then a file-everything rule).
ROWS = {"messages": 12, "defects": 5, "signatures": 5, "occurrences": 12, "outbox": 6}


def load_release(url: str) -> None:
    """Load the 0.1.0 database of the URL's backend (its own DDL and rows, as dumped)."""
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            assert path
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path) as conn:
                conn.executescript((RELEASE_0_1_0 / "sqlite.sql").read_text())
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql((RELEASE_0_1_0 / "postgresql.sql").read_text())
    finally:
        engine.dispose()


def drift(store: Store) -> list[object]:
    """Differences between the database and the current schema (nothing, when in step)."""
    with store.engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in found if not _local_tracker(d)]


def _local_tracker(diff: object) -> bool:
    """The local tracker's own tables are not the store's schema (``trackers.local``)."""
    return "local_" in repr(diff)[:200]


def marker(store: Store) -> tuple[str | None, str | None]:
    with store.read() as conn:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        version = conn.execute(
            sa.text("SELECT value FROM meta WHERE key = 'schema_version'")
        ).scalar()
    return revision, version


def test_a_new_database_is_built_by_the_revisions_alone(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.migrate()
        assert drift(store) == []
        assert marker(store) == (head(), head())
        store.migrate()  # again: nothing to do
        assert marker(store) == (head(), head())
    finally:
        store.close()


def test_a_release_0_1_0_database_is_upgraded_in_place(store_url: str, clock: ManualClock) -> None:
    """Its rows survive, it ends at the current schema, and the service works on it: a known
    mail is recognised, a new one recorded, the filed defects keep their keys."""
    load_release(store_url)
    store = Store(store_url, clock=clock)
    try:
        with store.read() as conn:
            before = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ROWS}
        assert before == ROWS
        store.migrate()
        assert drift(store) == []
        assert marker(store) == (head(), head())
        with store.read() as conn:
            after = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ROWS}
        assert after == ROWS
        defects = store.defects()
        assert len(defects) == 5
        assert sum(1 for d in defects if d.key) == 3  # filed by 0.1.0's local tracker
        assert store.record([make_outcome("<after-upgrade@x>")], now=clock()) == 1
        clock.advance(timedelta(days=1))
        assert all(e.kind in EffectKind for e in store.due_effects(clock(), 100))
    finally:
        store.close()


def test_a_0_1_0_binary_refuses_an_upgraded_database(store_url: str) -> None:
    """The marker 0.1.0 checks is no longer its version, so it stops instead of writing."""
    load_release(store_url)
    store = Store(store_url)
    try:
        store.migrate()
        assert marker(store)[1] != LEGACY_SCHEMA_VERSION
    finally:
        store.close()


def test_a_database_from_a_newer_release_is_refused_untouched(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.migrate()
        with store.write() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
        with pytest.raises(StoreError, match="revision f00d, which this triagebot"):
            store.migrate()
        assert marker(store) == ("f00d", head())
    finally:
        store.close()


def test_a_database_without_history_and_a_foreign_version_is_refused(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    if engine.dialect.name == "sqlite":
        Path(str(engine.url.database)).parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT)"))
        conn.execute(sa.text("INSERT INTO meta VALUES ('schema_version', '99')"))
    engine.dispose()
    store = Store(store_url)
    try:
        with pytest.raises(StoreError, match="schema version is '99' without a revision"):
            store.migrate()
    finally:
        store.close()


def test_migrate_command_lists_then_applies_without_the_service(
    store_url: str, tmp_path: Path
) -> None:
    """``migrate --dry-run`` lists 0.1.0's way to the current schema and changes nothing;
    ``migrate`` applies it; a second ``migrate`` has nothing to do."""
    load_release(store_url)
    bot = Bot(tmp_path)
    bot.configure({"store": {"url": store_url}})
    expected = [r for r in revisions() if r > "0001"]

    listed = bot.run("migrate", "--dry-run")
    probe = Store(store_url)
    try:
        with probe.read() as conn:
            untouched = not sa.inspect(conn).has_table("alembic_version")
    finally:
        probe.close()
    applied = bot.run("migrate")
    again = bot.run("migrate")

    assert listed.returncode == applied.returncode == again.returncode == 0, applied.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[:-1]] == expected
    assert listed.stdout.splitlines()[-1].endswith("nothing changed")
    assert untouched
    assert [line.split()[0] for line in applied.stdout.splitlines()[:-1]] == expected
    assert again.stdout.endswith(f"schema is up to date ({head()})\n")
    store = Store(store_url)
    try:
        assert drift(store) == []
        assert marker(store) == (head(), head())
    finally:
        store.close()


def revisions() -> list[str]:
    """Every revision of the shipped history, oldest first."""
    versions = Path(__file__).parents[1] / "triagebot" / "store" / "migrations" / "versions"
    return sorted(p.name.split("_", 1)[0] for p in versions.glob("0*.py"))
