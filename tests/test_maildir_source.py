"""The Maildir source: delivery order, acknowledgement, sub-folders, crash re-delivery, polling."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagebot.errors import SourceError
from triagebot.mail.maildir import MaildirSettings, MaildirSource, deliver
from triagebot.mail.source import Folder


def mail(i: int) -> bytes:
    return f"Subject: report {i}\r\nMessage-ID: <m{i}@example.com>\r\n\r\nbody {i}\r\n".encode()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def source(root: Path) -> MaildirSource:
    source = MaildirSource(MaildirSettings(root, poll_interval=0.02))
    source.open()
    return source


def test_open_lays_out_maildir_and_subfolders(root: Path, source: MaildirSource) -> None:
    for folder in (root, root / ".Quarantine", root / ".Review"):
        assert {p.name for p in folder.iterdir()} >= {"tmp", "new", "cur"}
    assert (root / ".Quarantine" / "maildirfolder").exists()


def test_fetches_in_delivery_order_in_batches(root: Path, source: MaildirSource) -> None:
    names = [deliver(root, mail(i), fsync=False) for i in range(5)]
    assert names == sorted(names)
    batches = [source.fetch(2) for _ in range(4)]
    assert [len(b) for b in batches] == [2, 2, 1, 0]
    assert [(m.ref, m.raw) for b in batches for m in b] == [
        (name, mail(i)) for i, name in enumerate(names)
    ]


def test_move_acknowledges_into_each_folder(root: Path, source: MaildirSource) -> None:
    """Processed mail goes to cur/ marked seen; quarantined and review mail to sub-folders."""
    names = [deliver(root, mail(i), fsync=False) for i in range(4)]
    refs = [m.ref for m in source.fetch(10)]
    source.move(refs[:2], Folder.PROCESSED)
    source.move(refs[2:3], Folder.QUARANTINE)
    source.move(refs[3:], Folder.REVIEW)
    assert os.listdir(root / "new") == []
    assert sorted(os.listdir(root / "cur")) == [f"{n}:2,S" for n in names[:2]]
    assert os.listdir(root / ".Quarantine" / "new") == [names[2]]
    assert (root / ".Review" / "new" / names[3]).read_bytes() == mail(3)


def test_crash_between_fetch_and_move_redelivers(root: Path, source: MaildirSource) -> None:
    """A new process (fresh source) gets every mail the crashed one never acknowledged."""
    for i in range(3):
        deliver(root, mail(i), fsync=False)
    first = source.fetch(10)
    source.move([first[0].ref], Folder.PROCESSED)
    restarted = MaildirSource(MaildirSettings(root))
    restarted.open()
    assert [m.raw for m in restarted.fetch(10)] == [mail(1), mail(2)]


def test_moving_an_already_moved_mail_is_harmless(root: Path, source: MaildirSource) -> None:
    deliver(root, mail(0), fsync=False)
    (ref,) = [m.ref for m in source.fetch(10)]
    source.move([ref], Folder.PROCESSED)
    source.move([ref], Folder.PROCESSED)
    assert os.listdir(root / "cur") == [f"{ref}:2,S"]


def test_wait_wakes_up_on_delivery_and_times_out(root: Path, source: MaildirSource) -> None:
    started = time.monotonic()
    assert source.wait(0.1) is False
    assert time.monotonic() - started >= 0.1
    timer = threading.Timer(0.1, deliver, (root, mail(0)))
    timer.start()
    assert source.wait(5) is True
    timer.join()
    assert [m.raw for m in source.fetch(10)] == [mail(0)]
    assert source.wait(0.05) is False  # handed out already: nothing new


def test_unreadable_maildir_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SourceError, match="cannot set up Maildir"):
        MaildirSource(MaildirSettings(tmp_path / "file" / "mail")).open()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=12), st.integers(1, 5))
def test_every_delivered_mail_is_fetched_once(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[bytes], limit: int
) -> None:
    root = tmp_path_factory.mktemp("prop")
    source = MaildirSource(MaildirSettings(root))
    source.open()
    for body in bodies:
        deliver(root, body, fsync=False)
    fetched = []
    while batch := source.fetch(limit):
        assert len(batch) <= limit
        fetched.extend(batch)
    assert [m.raw for m in fetched] == bodies
