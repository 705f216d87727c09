"""``triagebot deliver``: mail files into the Maildir through tmp/, ready for the service."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from tests.helpers import Bot, imap_mailbox, listing, samples
from triagebot.mail.maildir import deliver, make_maildir


def sample_files(tmp_path: Path, count: int) -> list[Path]:
    folder = tmp_path / "outgoing"
    folder.mkdir()
    paths = []
    for name, raw in samples()[:count]:
        (folder / name).write_bytes(raw)
        paths.append(folder / name)
    return paths


def delivered(maildir: Path) -> list[bytes]:
    return sorted((maildir / "new" / name).read_bytes() for name in os.listdir(maildir / "new"))


def test_delivers_into_the_configured_maildir_and_the_service_reads_it(tmp_path: Path) -> None:
    """Each file lands whole in new/ under a unique Maildir name, nothing stays in tmp/, and
    ``run --once`` (which waits for young files) records every one."""
    bot = Bot(tmp_path)
    bot.configure({"mailbox": {"kind": "maildir", "path": str(bot.maildir)}})
    files = sample_files(tmp_path, 3)
    result = bot.run("deliver", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert delivered(bot.maildir) == sorted(path.read_bytes() for path in files)
    assert os.listdir(bot.maildir / "tmp") == []
    assert len(result.named("mail.delivered")) == 3
    bot.once()
    assert listing(bot.maildir / "new") == []
    assert len(listing(bot.maildir / "cur")) == 3


def test_maildir_option_needs_no_config(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (file,) = sample_files(tmp_path, 1)
    result = Bot(tmp_path).run("deliver", "--maildir", str(target), str(file))
    assert result.returncode == 0, result.stderr
    assert delivered(target) == [file.read_bytes()]


def test_imap_mailbox_without_maildir_option_is_refused_naming_the_key(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.configure({"mailbox": imap_mailbox(1143, "alice", "TRIAGEBOT_TEST_PASSWORD")})
    bot.env["TRIAGEBOT_TEST_PASSWORD"] = "secret"
    (file,) = sample_files(tmp_path, 1)
    result = bot.run("deliver", str(file))
    assert result.returncode == 2
    assert "[mailbox].kind" in result.stderr and "--maildir" in result.stderr


def test_missing_file_delivers_nothing(tmp_path: Path) -> None:
    """A wrong path is found before any file is delivered, so a retry does not duplicate."""
    bot = Bot(tmp_path)
    bot.configure({"mailbox": {"kind": "maildir", "path": str(bot.maildir)}})
    (file,) = sample_files(tmp_path, 1)
    result = bot.run("deliver", str(file), str(tmp_path / "missing.eml"))
    assert result.returncode == 2
    assert "missing.eml" in result.stderr
    assert listing(bot.maildir / "new") == []


def test_file_names_carry_the_injected_clocks_time(tmp_path: Path) -> None:
    """Names start with the delivery time, from the clock the caller gives (sorting = order)."""
    make_maildir(tmp_path)
    at = datetime(2038, 1, 19, 3, 14, 8, 250_000, tzinfo=UTC)
    name = deliver(tmp_path, b"Subject: x\r\n\r\nbody\r\n", fsync=False, clock=lambda: at)
    assert name.startswith("2147483648.M250000P")
    assert (tmp_path / "new" / name).read_bytes().startswith(b"Subject: x")
