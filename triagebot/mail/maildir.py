"""Maildir source (the embedded default) and Maildir delivery (used by the SMTP listener).

Mail waits in ``new/``; acknowledging renames it into ``cur/`` with the seen flag, or into the
Maildir++ sub-folders ``.Quarantine`` / ``.Review``. A rename is atomic, so a crash between
``fetch`` and ``move`` leaves the mail in ``new/`` and the next run delivers it again.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from triagebot.errors import SourceError
from triagebot.mail.source import Folder, Incoming

__all__ = ["DEFAULT_POLL_INTERVAL", "MaildirSettings", "MaildirSource", "deliver", "make_maildir"]

log = structlog.get_logger(__name__)

DEFAULT_POLL_INTERVAL = 0.2
_SEEN = ":2,S"
_SUBDIRS = ("tmp", "new", "cur")
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class MaildirSettings:
    """Where the Maildir is and how often ``wait`` looks into ``new/``."""

    path: Path
    quarantine_folder: str = "Quarantine"
    review_folder: str = "Review"
    poll_interval: float = DEFAULT_POLL_INTERVAL


def make_maildir(path: Path, *, subfolder: bool = False) -> None:
    """Create ``tmp``/``new``/``cur`` (idempotent); ``subfolder`` marks a Maildir++ folder."""
    for sub in _SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (path / "maildirfolder").touch()


def deliver(maildir: Path, raw: bytes, *, fsync: bool = True) -> str:
    """Write one mail into ``maildir/new`` via ``tmp/`` and return its file name.

    With ``fsync`` the file and then ``new/`` are synced, so once this returns the mail
    survives a power cut (the SMTP listener answers 250 only after that). Names start with the
    time, so sorting them gives delivery order.
    """
    now = time.time()
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


def _read(path: str) -> bytes:
    """A whole file in four system calls (``open(...).read()`` makes six): each call lets
    other threads take the interpreter lock, and the daemon reads the next batch while the
    last one is processed. The buffer is sized by ``fstat``: a large guess would cost fresh
    pages on every read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)  # the extra byte shows a file that grew meanwhile
        if len(data) <= size:
            return data
        chunks = [data]
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class MaildirSource:
    """Reads ``new/`` in name order; refs are file names."""

    name = "maildir"

    def __init__(self, settings: MaildirSettings) -> None:
        self._settings = settings
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

    def open(self) -> None:
        settings = self._settings
        try:
            make_maildir(settings.path)
            for folder in (settings.quarantine_folder, settings.review_folder):
                make_maildir(settings.path / f".{folder}", subfolder=True)
        except OSError as exc:
            raise SourceError(f"cannot set up Maildir {settings.path}: {exc}") from exc
        self._handed_out.clear()
        log.info("maildir.open", path=str(settings.path))

    def close(self) -> None:
        self._handed_out.clear()

    def _waiting(self) -> list[str]:
        """Names in ``new/`` not handed out yet, in delivery order."""
        try:
            names = [e.name for e in os.scandir(self._new) if not e.name.startswith(".")]
        except OSError as exc:
            raise SourceError(f"cannot list {self._new}: {exc}") from exc
        handed = self._handed_out
        if handed:
            # Forget names that left new/ (moved by us or by someone else): keeps the set small.
            handed.intersection_update(names)
            names = [n for n in names if n not in handed]
        names.sort()
        return names

    def fetch(self, limit: int) -> list[Incoming]:
        batch: list[Incoming] = []
        new = self._new
        for name in self._waiting()[:limit]:
            try:
                raw = _read(new + name)
            except FileNotFoundError:  # taken by another reader between listing and reading
                continue
            except OSError as exc:
                raise SourceError(f"cannot read {new}{name}: {exc}") from exc
            self._handed_out.add(name)
            batch.append(Incoming(name, raw))
        return batch

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
            if self._waiting():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self._settings.poll_interval, remaining))
