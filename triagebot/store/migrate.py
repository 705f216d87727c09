"""Bring a state database to the schema this triagebot needs, in place, at start.

The schema's history is a chain of Alembic revisions (``migrations/versions``). A new database
runs them all; one made by release 0.1.0 (``meta.schema_version = "1"``, from before the
history was kept) is stamped at ``0001`` first. Each upgrade also writes the revision into
``meta.schema_version``, so a 0.1.0 binary pointed at an upgraded database refuses it instead
of writing rows it does not understand. A database at a revision this triagebot does not know
(a newer release wrote it) is refused with that explanation, never touched. ``pending``
lists what an upgrade would apply without changing anything (``triagebot migrate --dry-run``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from triagebot.errors import StoreError
from triagebot.store.schema import meta

__all__ = ["LEGACY_SCHEMA_VERSION", "Migration", "head", "pending", "upgrade"]

log = structlog.get_logger(__name__)

LEGACY_SCHEMA_VERSION = "1"  # release 0.1.0's marker, from before the revision history
_LEGACY_REVISION = "0001"


@cache
def _config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(files("triagebot.store") / "migrations"))
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this triagebot's schema is at."""
    found = _scripts().get_current_head()
    if found is None:  # pragma: no cover - the package ships its revisions
        raise StoreError("no schema revisions found in triagebot.store.migrations")
    return found


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema revision: its number and what it changes (the revision's docstring)."""

    revision: str
    description: str


def pending(conn: Connection) -> list[Migration]:
    """The revisions ``upgrade`` would apply to the database behind ``conn``, oldest first;
    reads only. A revision this triagebot does not know is refused, as by ``upgrade``."""
    current = _current(conn)
    _check_known(current)
    if current == head():
        return []
    lower = "base" if current == "none" else current
    found = _scripts().iterate_revisions(head(), lower)
    return [Migration(s.revision, " ".join((s.doc or "").split())) for s in reversed(list(found))]


def upgrade(conn: Connection) -> str:
    """Upgrade the database behind ``conn`` (inside its transaction) to ``head()``; returns
    the revision it was at (``"none"`` for a new database)."""
    current = _current(conn)
    if current == _LEGACY_REVISION and _revision(conn) is None:
        MigrationContext.configure(conn).stamp(_scripts(), _LEGACY_REVISION)
    target = head()
    if current == target:
        return current
    _check_known(current)
    config = _config()
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, "head")
    finally:
        del config.attributes["connection"]
    _write_marker(conn, target)
    log.info("store.upgraded", backend=conn.dialect.name, schema_from=current, schema_to=target)
    return current


def _check_known(current: str) -> None:
    if current == "none":
        return
    try:
        known = _scripts().get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise StoreError(
            f"the store's schema is at revision {current}, which this triagebot "
            f"(at {head()}) does not know: a newer release wrote it; run that release"
        )


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _current(conn: Connection) -> str:
    """The database's revision: ``"none"`` when new, ``0001`` for release 0.1.0's database
    without revision history (``upgrade`` stamps it so)."""
    found = _revision(conn)
    if found is not None:
        return found
    if not sa.inspect(conn).has_table(meta.name):
        return "none"
    marker = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if marker != LEGACY_SCHEMA_VERSION:
        raise StoreError(
            f"the store's schema version is {marker!r} without a revision history: "
            "it was not made by triagebot, or it was damaged"
        )
    return _LEGACY_REVISION


def _write_marker(conn: Connection, revision: str) -> None:
    updated = conn.execute(
        sa.update(meta).where(meta.c.key == "schema_version").values(value=revision)
    )
    if not updated.rowcount:
        conn.execute(sa.insert(meta).values(key="schema_version", value=revision))
