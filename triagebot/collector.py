"""Garbage-collector settings for processes that analyse mail in batches."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["GC_THRESHOLDS", "batch_friendly_gc"]

GC_THRESHOLDS = (50_000, 20, 100)


@contextlib.contextmanager
def batch_friendly_gc() -> Iterator[None]:
    """Collector settings for batch processing, restored afterwards.

    A batch keeps about ten container objects per stack frame alive until it is committed;
    with the default first-generation threshold (700) the collector would scan them dozens of
    times per batch (about 8 % of the CPU; 15 % in an analysis process). ``freeze`` also
    leaves the start-up objects (config, rules, tables, caches) out of every full collection.
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
