"""One message the store refuses for good (here: a database trigger, on SQLite and on
PostgreSQL) goes to Quarantine with its reason; the rest of its batch is recorded and
acknowledged, so intake never stalls on it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import sqlalchemy as sa
from structlog.testing import capture_logs

from tests.helpers import RULES, listing, samples, seed_maildir
from triagebot.config import config_from_dict
from triagebot.daemon import Daemon
from triagebot.store import Store, messages

POISON = b"Message-ID: <poison-1@test.example>"
_MESSAGE_ID = re.compile(rb"^Message-ID: .*$", re.MULTILINE)

SQLITE_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
WHEN NEW.message_id LIKE 'poison-%'
BEGIN SELECT RAISE(ABORT, 'poison refused'); END
"""
POSTGRES_TRIGGER = [
    """
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.message_id LIKE 'poison-%' THEN RAISE EXCEPTION 'poison refused'; END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages"
    " FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
]


def refuse_poison(url: str) -> None:
    """Make every insert of a ``poison-...`` Message-ID fail, as a bad value would."""
    store = Store(url)
    store.migrate()
    with store.write() as conn:
        for statement in [SQLITE_TRIGGER] if store.is_sqlite else POSTGRES_TRIGGER:
            conn.execute(sa.text(statement))
    store.close()


async def test_poison_message_is_quarantined_and_the_batch_goes_on(
    tmp_path: Path, store_url: str
) -> None:
    """Run once: the poison mail lands in Quarantine (reason logged), the four others are
    recorded and processed in the same batch, and the inbox is empty."""
    mails = samples()[:4]
    poison = _MESSAGE_ID.sub(POISON, samples()[4][1], count=1)
    maildir = tmp_path / "Maildir"
    seed_maildir(maildir, [*mails, ("poison.eml", poison)])
    refuse_poison(store_url)
    config = config_from_dict(
        {
            "mailbox": {"kind": "maildir", "path": str(maildir)},
            "store": {"url": store_url},
            "rules": {"path": str(RULES)},
        }
    )

    with capture_logs() as events:
        await asyncio.wait_for(Daemon.from_config(config).run(once=True), 30)

    assert listing(maildir / "new") == []
    assert listing(maildir / ".Quarantine" / "new") == ["poison.eml"]
    assert listing(maildir / "cur") == sorted(name for name, _ in mails)
    [quarantined] = [e for e in events if e["event"] == "message.quarantined"]
    assert quarantined["message_id"] == "poison-1@test.example"
    assert "poison refused" in quarantined["reason"]
    store = Store(store_url)
    with store.read() as conn:
        kept = set(conn.execute(sa.select(messages.c.message_id)).scalars())
    store.close()
    assert len(kept) == len(mails)
    assert not any(key.startswith("poison-1@test.example#") for key in kept)
