"""The one place triagebot reads the wall clock.

Everything that needs the time takes a ``Clock`` (a callable returning an aware UTC
datetime), so tests run the service at any date they choose: a DST gap or fold, 29 February,
past 2038. Monotonic timeouts and Maildir file names read the system directly: they measure
intervals or make unique names, and never decide what is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
