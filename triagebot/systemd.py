"""The service's side of systemd's notify protocol (``Type=notify``): READY, STOPPING and a
watchdog fed only while the service's loops make progress.

The protocol is one datagram per message to the AF_UNIX socket in ``$NOTIFY_SOCKET`` (a path,
or an abstract name written with a leading ``@``), so no library is needed. Outside systemd
(no ``$NOTIFY_SOCKET``) every call does nothing.

``LoopWatch`` tells a stuck service from an idle one: each loop reports ``progress`` when it
starts a step and ``idle`` when it waits for mail or for its next round; a loop that started
a step longer ago than the watchdog interval is stuck (a database that hangs, a call without
a timeout), and the watchdog then stops being fed so systemd restarts the service. Intervals
are measured on the monotonic clock: they decide nothing but "too long".
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import structlog

__all__ = ["LoopWatch", "notify", "watchdog_interval"]

log = structlog.get_logger(__name__)


def notify(*states: str) -> bool:
    """Send ``states`` (``READY=1``, ``STOPPING=1``, ``WATCHDOG=1``, ``STATUS=...``) in one
    datagram; False when not run by systemd or the socket refuses (logged, never raised:
    the service runs on)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket: no file behind it
    elif not address.startswith("/"):
        log.warning("systemd.notify_unsupported", socket=address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        log.warning("systemd.notify_failed", socket=address.lstrip("\0"), error=str(exc))
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1`` (``$WATCHDOG_USEC``, meant for this
    process when ``$WATCHDOG_PID`` is unset or names it); None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class LoopWatch:
    """When each loop started the step it is in (loops that wait are not listed)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._busy: dict[str, float] = {}

    def progress(self, loop: str) -> None:
        """``loop`` starts a step (and so finished the one before)."""
        self._busy[loop] = self._monotonic()

    def idle(self, loop: str) -> None:
        """``loop`` waits for work: however long that takes, it is not stuck."""
        self._busy.pop(loop, None)

    def stuck(self, limit: float) -> dict[str, float]:
        """Loops in one step for more than ``limit`` seconds, and for how long."""
        now = self._monotonic()
        return {loop: now - since for loop, since in self._busy.items() if now - since > limit}
