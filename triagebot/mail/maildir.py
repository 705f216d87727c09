"""Maildir source (the embedded default) and Maildir delivery (listener, ``triagebot deliver``).

Mail waits in ``new/``; acknowledging renames it into ``cur/`` with the seen flag, or into the
Maildir++ sub-folders ``.Quarantine`` / ``.Review``. A rename is atomic, so a crash between
``fetch`` and ``move`` leaves the mail in ``new/`` and the next run delivers it again.

Writers should create a file in ``tmp/`` and rename it into ``new/`` (``deliver``, ``triagebot
deliver``), but ``cp`` or an editor writes into ``new/`` in place, so a file there may still be
growing. A file is read only once its modification time is ``min_age`` old (by the injected
clock) and it holds as many bytes as ``fstat`` said when it was opened; a younger one is left
for later, and only the files about to be read are looked at, never every waiting one. A file
dated in the future is read once it has stayed unchanged for ``min_age``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from triagebot.clock import Clock, system_clock
from triagebot.errors import SourceError
from triagebot.mail.source import DEFAULT_BATCH_BYTES, Folder, Incoming

__all__ = [
    "DEFAULT_MIN_AGE",
    "DEFAULT_POLL_INTERVAL",
    "MaildirSettings",
    "MaildirSource",
    "deliver",
    "make_maildir",
]

log = structlog.get_logger(__name__)

DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_MIN_AGE = 2.0  # seconds a file in new/ must be unchanged before it is read
_SEEN = ":2,S"
_SUBDIRS = ("tmp", "new", "cur")
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class MaildirSettings:
    """Where the Maildir is, how often ``wait`` looks into ``new/``, how old a file must be
    before it is read (0: at once, when only ``tmp/``-then-rename writers deliver) and how
    many bytes a batch may hold (a larger mail still comes, alone)."""

    path: Path
    quarantine_folder: str = "Quarantine"
    review_folder: str = "Review"
    poll_interval: float = DEFAULT_POLL_INTERVAL
    min_age: float = DEFAULT_MIN_AGE
    batch_bytes: int = DEFAULT_BATCH_BYTES


def make_maildir(path: Path, *, subfolder: bool = False) -> None:
    """Create ``tmp``/``new``/``cur`` (idempotent); ``subfolder`` marks a Maildir++ folder."""
    for sub in _SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (path / "maildirfolder").touch()


def deliver(maildir: Path, raw: bytes, *, fsync: bool = True, clock: Clock = system_clock) -> str:
    """Write one mail into ``maildir/new`` via ``tmp/`` and return its file name.

    With ``fsync`` the file and then ``new/`` are synced, so once this returns the mail
    survives a power cut (the SMTP listener answers 250 only after that). Names start with the
    time (``clock``), so sorting them gives delivery order.
    """
    now = clock().timestamp()
    seconds = int(now)
    name = f"{seconds}.M{int((now - seconds) * 1e6):06d}P{os.getpid()}Q{next(_counter):06d}.{_HOST}"
    tmp = maildir / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    new = maildir / "new"
    os.rename(tmp, new / name)
    if fsync:
        dir_fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return name


@dataclass(frozen=True, slots=True)
class _Young:
    """A file left in ``new/`` as possibly still being written: what it looked like, and
    when to look again."""

    size: int
    mtime: float
    due: datetime


def _read_whole(fd: int, size: int) -> bytes | None:
    """The file's ``size`` bytes, or None if it grew or shrank meanwhile (a writer is at
    work). Usually one read of ``size + 1`` bytes: each system call lets other threads take
    the interpreter lock, and the daemon reads the next batch while the last one is processed."""
    data = os.read(fd, size + 1)  # the extra byte shows a file that grew
    while 0 < len(data) < size:  # a short read (some network file systems)
        chunk = os.read(fd, size + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return data if len(data) == size else None


class MaildirSource:
    """Reads ``new/`` in name order; refs are file names."""

    name = "maildir"

    def __init__(self, settings: MaildirSettings, *, clock: Clock = system_clock) -> None:
        self._settings = settings
        self._clock = clock
        self._min_age = timedelta(seconds=settings.min_age)
        root = settings.path
        # Plain string prefixes: the hot paths join names to them without Path objects.
        self._new = os.path.join(root, "new", "")
        self._targets = {
            Folder.PROCESSED: (os.path.join(root, "cur", ""), _SEEN),
            Folder.QUARANTINE: (
                os.path.join(root, f".{settings.quarantine_folder}", "new", ""),
                "",
            ),
            Folder.REVIEW: (os.path.join(root, f".{settings.review_folder}", "new", ""), ""),
        }
        self._handed_out: set[str] = set()
        self._young: dict[str, _Young] = {}
        # The last listing of new/, handed out batch by batch: a backlog of 100,000 files is
        # listed and sorted once per drain, not once per batch.
        self._listed: deque[str] = deque()

    def open(self) -> None:
        settings = self._settings
        try:
            make_maildir(settings.path)
            for folder in (settings.quarantine_folder, settings.review_folder):
                make_maildir(settings.path / f".{folder}", subfolder=True)
        except OSError as exc:
            raise SourceError(f"cannot set up Maildir {settings.path}: {exc}") from exc
        self._handed_out.clear()
        self._young.clear()
        self._listed.clear()
        log.info("maildir.open", path=str(settings.path))

    def close(self) -> None:
        self._handed_out.clear()
        self._young.clear()

    def _waiting(self) -> list[str]:
        """Names in ``new/`` not handed out yet, in delivery order."""
        try:
            names = [e.name for e in os.scandir(self._new) if not e.name.startswith(".")]
        except OSError as exc:
            raise SourceError(f"cannot list {self._new}: {exc}") from exc
        handed, young = self._handed_out, self._young
        if handed or young:
            # Forget names that left new/ (moved by us or by someone else): keeps them small.
            present = set(names)
            handed.intersection_update(present)
            for gone in young.keys() - present:
                del young[gone]
            names = [n for n in names if n not in handed]
        names.sort()
        return names

    def fetch(self, limit: int) -> list[Incoming]:
        batch: list[Incoming] = []
        budget = self._settings.batch_bytes
        now = self._clock()
        young = self._young
        if not self._listed:
            self._listed.extend(self._waiting())
        listed = self._listed
        while listed and len(batch) < limit:
            name = listed[0]
            seen = young.get(name)
            if seen is not None and seen.due > now:
                listed.popleft()  # still young: not even a stat; the next listing offers it
                continue
            raw = self._take(name, seen, now, budget if batch else None)
            if isinstance(raw, int):
                break  # the next mail does not fit the budget: it leads the next batch
            listed.popleft()
            if raw is None:
                continue
            self._handed_out.add(name)
            young.pop(name, None)
            batch.append(Incoming(name, raw))
            budget -= len(raw)
        return batch

    def _take(
        self, name: str, seen: _Young | None, now: datetime, budget: int | None
    ) -> bytes | int | None:
        """The mail's bytes if it is complete and fits ``budget`` (None: any size); its size
        if it does not fit; None if it is gone or still being written (remembered as young)."""
        path = self._new + name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # taken by another reader between listing and reading
            return None
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc}") from exc
        try:
            stat = os.fstat(fd)
            size, mtime = stat.st_size, stat.st_mtime
            modified = datetime.fromtimestamp(mtime, now.tzinfo)
            unchanged = seen is not None and (seen.size, seen.mtime) == (size, mtime)
            if modified > now - self._min_age and not unchanged:
                # a future date counts from now: a skewed clock never holds a file for long
                due = min(modified, now) + self._min_age
                self._young[name] = _Young(size, mtime, due)
                log.debug("maildir.young", ref=name, size=size, due=due.isoformat())
                return None
            if budget is not None and size > budget:
                return size
            raw = _read_whole(fd, size)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc}") from exc
        finally:
            os.close(fd)
        if raw is None:
            self._young[name] = _Young(-1, mtime, now + self._min_age)
            log.info("maildir.changed_while_read", ref=name, size=size)
        return raw

    def delivering(self) -> bool:
        """True while a file in ``new/`` waits for its writer to finish (or to be old enough)."""
        if self._young:
            self._waiting()  # forgets the young files that left new/
        return bool(self._young)

    def backlog(self) -> int:
        return len(self._listed)

    def quarantined(self) -> list[Incoming]:
        """Quarantined files in delivery order: ``new/`` (as moved there) and ``cur/`` (a
        mail client may have opened them); the ref is the file name."""
        folder = self._settings.path / f".{self._settings.quarantine_folder}"
        found: list[Incoming] = []
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError):
                for entry in sorted(os.scandir(folder / sub), key=lambda e: e.name):
                    with contextlib.suppress(FileNotFoundError):
                        found.append(Incoming(entry.name, Path(entry.path).read_bytes()))
        return found

    def release(self, refs: Sequence[str]) -> list[str]:
        """Rename each back into ``new/`` under its delivery name (a rename: atomic, and
        nothing is copied); a file already gone is skipped."""
        folder = self._settings.path / f".{self._settings.quarantine_folder}"
        released = []
        for ref in refs:
            name = ref.split(":2,", 1)[0]
            if os.sep in ref or not name or name.startswith("."):
                continue
            for sub in ("new", "cur"):
                try:
                    os.rename(folder / sub / ref, self._new + name)
                except FileNotFoundError:
                    continue
                released.append(ref)
                break
        return released

    def move(self, refs: Sequence[str], folder: Folder) -> None:
        target, suffix = self._targets[folder]
        new = self._new
        for ref in refs:
            try:
                os.rename(new + ref, target + ref + suffix)
            except FileNotFoundError:
                log.warning("maildir.move_missing", ref=ref, folder=str(folder))
            except OSError as exc:
                raise SourceError(f"cannot move {ref} to {folder}: {exc}") from exc
            self._handed_out.discard(ref)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self._ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self._settings.poll_interval, remaining))

    def _ready(self) -> bool:
        """A file is waiting that ``fetch`` would look at now: one it has not seen, or a young
        one whose time has come (no event announces that: the clock does)."""
        names = self._waiting()  # the young files are among them (the others left new/)
        if len(names) > len(self._young):
            return True
        now = self._clock()
        return any(seen.due <= now for seen in self._young.values())
