"""Memory freed by a batch goes back to the system (the service stays flat over a long run)."""

from __future__ import annotations

import asyncio
import gc
import platform
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.clocks import ManualClock
from tests.helpers import samples, seed_maildir
from triagebot.config import config_from_dict
from triagebot.daemon import Daemon

T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)

CHURN = textwrap.dedent(
    """
    import threading
    from triagebot.collector import return_free_memory

    def anon_mb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon"):
                    return int(line.split()[1]) // 1024

    def batch(kept):
        # many small blocks from a worker thread's arena, one in 200 outliving the batch
        blocks = [bytes(600) + bytes([i % 256]) for i in range(200_000)]
        kept.extend(blocks[::200])

    kept = []
    worker = threading.Thread(target=batch, args=(kept,))
    worker.start()
    worker.join()
    before = anon_mb()
    return_free_memory()
    print(before, anon_mb(), len(kept))
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_batch_memory_is_returned_to_the_system() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHURN], capture_output=True, text=True, check=True, timeout=60
    )
    before, after, kept = map(int, result.stdout.split())
    assert kept == 1_000
    assert before >= 100, result.stdout  # the churn held ~130 MB of small blocks
    assert after < before / 4, result.stdout  # without the trim glibc keeps nearly all of it


def test_the_service_collects_the_cycles_of_every_batch(tmp_path: Path) -> None:
    """A full collection follows every recorded batch. The store's queries leave reference
    cycles (SQLAlchemy's compiled statements, selects and their columns); with the service's
    collector thresholds a full collection came only every few hundred batches, the garbage
    piled up to some 20 MB in between, and each new peak kept more of the interpreter's
    arenas for good (the service grew by a quarter over a million mails)."""
    maildir = tmp_path / "mail"
    seed_maildir(maildir, samples())
    config = config_from_dict(
        {
            "mailbox": {"path": str(maildir), "batch_size": 3},
            "store": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "rules": {"path": str(Path(__file__).parents[1] / "rules")},
            "service": {"workers": 0},
        }
    )
    full: list[int] = []  # objects found by each full collection

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    gc.callbacks.append(seen)
    try:
        with capture_logs() as events:
            asyncio.run(Daemon.from_config(config, ManualClock(T0)).run(once=True))
    finally:
        gc.callbacks.remove(seen)
    batches = [e for e in events if e["event"] == "batch.recorded"]
    assert len(batches) >= 4
    # one as the service starts (``batch_friendly_gc``), then one after each batch
    assert len(full) >= 1 + len(batches), full
    assert any(full[1:]), full  # the batches did leave cycles to collect
