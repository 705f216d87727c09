"""The Maildir source: delivery order, acknowledgement, sub-folders, crash re-delivery, polling,
deliveries still being written, and batches cut by bytes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.clocks import ManualClock
from triagebot.errors import SourceError
from triagebot.mail.maildir import MaildirSettings, MaildirSource, deliver
from triagebot.mail.source import Folder

#: The age check has its own tests below; the others read what ``deliver`` wrote at once.
AT_ONCE = 0.0


def mail(i: int) -> bytes:
    return f"Subject: report {i}\r\nMessage-ID: <m{i}@example.com>\r\n\r\nbody {i}\r\n".encode()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def source(root: Path) -> MaildirSource:
    source = MaildirSource(MaildirSettings(root, poll_interval=0.02, min_age=AT_ONCE))
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


def test_a_backlog_is_listed_once_per_drain(
    root: Path, source: MaildirSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 waiting mails in batches of 10: new/ is listed once for the ten batches (a listing
    of 100,000 names for every batch of 500 cost 6 s of a 56 s run), and mail that arrives
    meanwhile is found by the next listing."""
    names = [deliver(root, mail(i), fsync=False) for i in range(100)]
    listings: list[str] = []
    scandir = os.scandir

    def counting(path: str) -> Iterator[os.DirEntry[str]]:
        listings.append(str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counting)
    fetched = [m.ref for _ in range(10) for m in source.fetch(10)]
    assert fetched == names
    assert sum(p.rstrip("/").endswith("new") for p in listings) == 1
    late = deliver(root, mail(100), fsync=False)
    assert [m.ref for m in source.fetch(10)] == [late]


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
    restarted = MaildirSource(MaildirSettings(root, min_age=AT_ONCE))
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
    source = MaildirSource(MaildirSettings(root, min_age=AT_ONCE))
    source.open()
    for body in bodies:
        deliver(root, body, fsync=False)
    fetched = []
    while batch := source.fetch(limit):
        assert len(batch) <= limit
        fetched.extend(batch)
    assert [m.raw for m in fetched] == bodies


def write_in_place(root: Path, name: str, raw: bytes, modified: datetime) -> Path:
    """What ``cp`` into ``new/`` does: the file appears there, dated by its last write."""
    path = root / "new" / name
    with path.open("ab") as file:
        file.write(raw)
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


class TestDeliveryInProgress:
    """A file in new/ is read only once it is ``min_age`` old and whole."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))

    @pytest.fixture
    def young(self, root: Path, clock: ManualClock) -> MaildirSource:
        source = MaildirSource(MaildirSettings(root, poll_interval=0.01, min_age=2.0), clock=clock)
        source.open()
        return source

    def test_half_written_file_is_read_whole_once_its_writer_is_done(
        self, root: Path, clock: ManualClock, young: MaildirSource
    ) -> None:
        """A file still growing is left alone; once it stopped changing for min_age, it is
        read with every byte."""
        write_in_place(root, "report.eml", mail(0)[:20], clock.now)
        assert young.fetch(10) == []
        assert young.delivering() is True
        clock.advance(timedelta(seconds=1.5))
        write_in_place(root, "report.eml", mail(0)[20:], clock.now)  # the writer goes on
        clock.advance(timedelta(seconds=1.0))  # 2.5 s after it started, 1 s after its last write
        assert young.fetch(10) == []
        clock.advance(timedelta(seconds=1.0))
        assert [(m.ref, m.raw) for m in young.fetch(10)] == [("report.eml", mail(0))]
        assert young.delivering() is False

    def test_old_mail_behind_a_young_file_is_not_held_up(
        self, root: Path, clock: ManualClock, young: MaildirSource
    ) -> None:
        write_in_place(root, "a-young.eml", mail(0), clock.now)
        write_in_place(root, "b-old.eml", mail(1), clock.now - timedelta(seconds=2))
        assert [m.ref for m in young.fetch(10)] == ["b-old.eml"]
        clock.advance(timedelta(seconds=2))
        assert [m.ref for m in young.fetch(10)] == ["a-young.eml"]

    def test_file_dated_in_the_future_is_read_once_unchanged_for_min_age(
        self, root: Path, clock: ManualClock, young: MaildirSource
    ) -> None:
        """A writer's clock ahead of ours never holds a mail back for longer than min_age."""
        write_in_place(root, "skewed.eml", mail(0), clock.now + timedelta(days=1))
        assert young.fetch(10) == []
        clock.advance(timedelta(seconds=2))
        assert [m.raw for m in young.fetch(10)] == [mail(0)]

    def test_wait_wakes_when_a_skipped_file_comes_of_age(
        self, root: Path, clock: ManualClock, young: MaildirSource
    ) -> None:
        """No new file arrives to announce it: the clock passing its due time does."""
        write_in_place(root, "report.eml", mail(0), clock.now)
        assert young.fetch(10) == []
        assert young.wait(0.05) is False  # seen and not due: no busy loop
        clock.advance(timedelta(seconds=2))
        started = time.monotonic()
        assert young.wait(5) is True
        assert time.monotonic() - started < 1.0
        assert [m.raw for m in young.fetch(10)] == [mail(0)]

    def test_file_gone_while_young_is_forgotten(
        self, root: Path, clock: ManualClock, young: MaildirSource
    ) -> None:
        path = write_in_place(root, "report.eml", mail(0), clock.now)
        assert young.fetch(10) == []
        path.unlink()  # the writer gave up, or another reader took it
        assert young.delivering() is False
        assert young.wait(0.02) is False


class TestByteBudget:
    """A batch holds at most ``batch_bytes`` of mail; a larger mail comes alone."""

    def test_batches_are_cut_by_bytes_and_a_large_mail_comes_alone(self, root: Path) -> None:
        sizes = [100, 100, 100, 1000, 100, 100]
        source = MaildirSource(MaildirSettings(root, min_age=AT_ONCE, batch_bytes=250))
        source.open()
        for i, size in enumerate(sizes):
            deliver(root, bytes([65 + i]) * size, fsync=False)
        batches = []
        while batch := source.fetch(10):
            batches.append([len(m.raw) for m in batch])
        assert batches == [[100, 100], [100], [1000], [100, 100]]

    def test_count_still_limits_small_mails(self, root: Path) -> None:
        source = MaildirSource(MaildirSettings(root, min_age=AT_ONCE, batch_bytes=10**6))
        source.open()
        for i in range(5):
            deliver(root, mail(i), fsync=False)
        assert [len(source.fetch(2)) for _ in range(4)] == [2, 2, 1, 0]
