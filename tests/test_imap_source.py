"""The IMAP source against a real Dovecot: batches, flags, folders, IDLE, restarts, TLS, XOAUTH2."""

from __future__ import annotations

import imaplib
import inspect
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import imapclient.exceptions
import pytest
import trustme
from imapclient import IMAPClient
from structlog.testing import capture_logs

from tests.servers import HOST, free_port
from tests.servers.dovecot import DovecotServer, Mailbox
from triagebot.errors import SourceError, SourceUnavailable
from triagebot.mail.imap import Auth, ImapSettings, ImapSource, Security, map_imap_errors
from triagebot.mail.source import Folder

SEEN = b"\\Seen"


def mail(i: int) -> bytes:
    return (
        f"From: app@example.com\r\nTo: helpdesk@example.com\r\nSubject: report {i}\r\n"
        f"Message-ID: <r{i}@example.com>\r\n\r\nSystem.NullReferenceException #{i}\r\n"
    ).encode()


def settings(box: Mailbox, **overrides: Any) -> ImapSettings:
    values: dict[str, Any] = {
        "host": HOST,
        "port": box.server.port,
        "security": Security.NONE,
        "username": box.username,
        "password": box.password,
        "backoff_initial": 0.05,
    }
    return ImapSettings(**(values | overrides))


@pytest.fixture
def source_for() -> Iterator[Callable[..., ImapSource]]:
    """Build opened sources and close them after the test."""
    opened: list[ImapSource] = []

    def build(box: Mailbox, **overrides: Any) -> ImapSource:
        source = ImapSource(settings(box, **overrides))
        source.open()
        opened.append(source)
        return source

    yield build
    for source in opened:
        source.close()


def later(delay: float, action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


class TestFetch:
    def test_fetches_in_batches_oldest_first_without_marking_seen(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Batches come in UID order, each mail once, and the inbox keeps them unread."""
        mailbox.append(mail(i) for i in range(7))
        source = source_for(mailbox)
        batches = [source.fetch(3) for _ in range(4)]
        assert [len(b) for b in batches] == [3, 3, 1, 0]
        assert [m.raw for b in batches for m in b] == [mail(i) for i in range(7)]
        contents = mailbox.contents()
        assert len(contents) == 7
        assert all(SEEN not in flags for _raw, flags in contents.values())

    def test_mail_arriving_later_is_fetched_next(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """The high-water mark hands out only newer mail, even before the old is moved."""
        mailbox.append([mail(0)])
        source = source_for(mailbox)
        assert [m.raw for m in source.fetch(10)] == [mail(0)]
        mailbox.append([mail(1)])
        assert [m.raw for m in source.fetch(10)] == [mail(1)]

    def test_open_starts_again_from_the_oldest_mail(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Mail fetched but never acknowledged is handed out again after a re-open."""
        mailbox.append([mail(0), mail(1)])
        source = source_for(mailbox)
        assert len(source.fetch(10)) == 2
        source.open()
        assert [m.raw for m in source.fetch(10)] == [mail(0), mail(1)]

    def test_creates_missing_target_folders(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        assert mailbox.folders() == {"INBOX"}
        source_for(mailbox, processed_folder="Done", quarantine_folder="Bad")
        assert mailbox.folders() == {"INBOX", "Done", "Bad", "Review"}

    def test_uidvalidity_change_resets_high_water_mark(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """A re-created folder restarts UIDs at 1: those mails are not skipped as old."""
        mailbox.append([mail(0), mail(1), mail(2)], folder="Reports")
        source = source_for(mailbox, folder="Reports")
        assert len(source.fetch(10)) == 3
        with mailbox.client() as client:
            client.delete_folder("Reports")
            client.create_folder("Reports")
            client.append("Reports", mail(9))
        with capture_logs() as logs:
            fetched = source.fetch(10)
        assert [m.raw for m in fetched] == [mail(9)]
        assert fetched[0].ref.endswith(":1")
        assert "imap.uidvalidity_changed" in {entry["event"] for entry in logs}

    def test_refs_carry_the_uidvalidity(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        mailbox.append([mail(0), mail(1)])
        source = source_for(mailbox)
        with mailbox.client() as client:
            uidvalidity = client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
        assert [m.ref for m in source.fetch(10)] == [f"{uidvalidity}:1", f"{uidvalidity}:2"]


@pytest.mark.parametrize(
    ("server_fixture", "overrides"),
    [("dovecot", {}), ("dovecot", {"use_move": False}), ("dovecot_legacy", {})],
    ids=["move", "copy-expunge-forced", "copy-expunge-no-move-capability"],
)
def test_move_to_each_folder(
    request: pytest.FixtureRequest,
    server_fixture: str,
    overrides: dict[str, Any],
    source_for: Callable[..., ImapSource],
) -> None:
    """Each outcome lands in its folder, unread, and leaves the inbox; other mail stays."""
    server: DovecotServer = request.getfixturevalue(server_fixture)
    box = server.add_user()
    box.append(mail(i) for i in range(5))
    source = source_for(box, **overrides)
    refs = [m.ref for m in source.fetch(10)]
    source.move(refs[0:2], Folder.PROCESSED)
    source.move(refs[2:3], Folder.QUARANTINE)
    source.move(refs[3:4], Folder.REVIEW)
    source.move([], Folder.PROCESSED)
    inbox = box.contents()
    assert [raw for raw, _flags in inbox.values()] == [mail(4)]
    for folder, expected in [
        ("Processed", [mail(0), mail(1)]),
        ("Quarantine", [mail(2)]),
        ("Review", [mail(3)]),
    ]:
        contents = box.contents(folder)
        assert [raw for raw, _flags in contents.values()] == expected
        assert all(SEEN not in flags for _raw, flags in contents.values())


@pytest.mark.parametrize("overrides", [{}, {"use_move": False}], ids=["move", "copy-expunge"])
def test_a_long_session_does_not_pile_up_untagged_responses(
    mailbox: Mailbox, overrides: dict[str, Any], source_for: Callable[..., ImapSource]
) -> None:
    """imaplib keeps each untagged EXPUNGE/COPYUID/RECENT on the connection: 300 mails moved
    one by one left 900 behind (about 50 MB per million mails); now none outlives its MOVE."""
    mailbox.append(mail(i) for i in range(300))
    source = source_for(mailbox, **overrides)
    while batch := source.fetch(50):
        for incoming in batch:
            source.move([incoming.ref], Folder.PROCESSED)
    assert source._client is not None
    kept = source._client._imap.untagged_responses
    assert sum(len(v) for v in kept.values()) < 10, {k: len(v) for k, v in kept.items()}
    assert len(mailbox.contents("Processed")) == 300


def recreate(box: Mailbox, folder: str, messages: list[bytes]) -> None:
    """Delete ``folder`` and create it again holding ``messages``: a new UIDVALIDITY."""
    with box.client() as client:
        client.delete_folder(folder)
        client.create_folder(folder)
        client.multiappend(folder, messages)


def raws(box: Mailbox, folder: str = "INBOX") -> list[bytes]:
    return [raw for raw, _flags in box.contents(folder).values()]


class TestStaleRefs:
    @pytest.mark.parametrize("overrides", [{}, {"use_move": False}], ids=["move", "copy-expunge"])
    def test_move_after_uidvalidity_change_leaves_the_new_mail(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource], overrides: dict[str, Any]
    ) -> None:
        """Refs of the old folder do not move the new mails that now carry the same UIDs."""
        mailbox.append([mail(0), mail(1)], folder="Reports")
        source = source_for(mailbox, folder="Reports", **overrides)
        refs = [m.ref for m in source.fetch(10)]
        recreate(mailbox, "Reports", [mail(7), mail(8), mail(9)])
        with capture_logs() as logs:
            source.move(refs, Folder.PROCESSED)
        assert raws(mailbox, "Reports") == [mail(7), mail(8), mail(9)]
        assert raws(mailbox, "Processed") == []
        stale = [e for e in logs if e["event"] == "imap.stale_ref"]
        assert [e["refs"] for e in stale] == [refs]
        # The new mails are handed out (again, for UIDs 1-2) and can be acknowledged.
        again = source.fetch(10)
        assert [m.raw for m in again] == [mail(7), mail(8), mail(9)]
        source.move([m.ref for m in again], Folder.PROCESSED)
        assert raws(mailbox, "Reports") == []
        assert raws(mailbox, "Processed") == [mail(7), mail(8), mail(9)]

    def test_only_the_stale_refs_of_a_batch_are_skipped(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        mailbox.append([mail(0)], folder="Reports")
        source = source_for(mailbox, folder="Reports")
        old = [m.ref for m in source.fetch(10)]
        recreate(mailbox, "Reports", [mail(5), mail(6)])
        new = [m.ref for m in source.fetch(10)]
        assert len(new) == 2
        assert new[0] != old[0]
        source.move(old + new[1:], Folder.PROCESSED)
        assert raws(mailbox, "Reports") == [mail(5)]
        assert raws(mailbox, "Processed") == [mail(6)]

    def test_malformed_ref_is_refused(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        mailbox.append([mail(0)])
        source = source_for(mailbox)
        source.fetch(10)
        with pytest.raises(ValueError, match="uidvalidity:uid"):
            source.move(["1"], Folder.PROCESSED)
        assert raws(mailbox) == [mail(0)]


class TestWait:
    def test_idle_wakes_up_on_append(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Dovecot reports an APPEND to an IDLE client about 0.5 s later."""
        source = source_for(mailbox)
        thread = later(0.2, lambda: mailbox.append([mail(0)]))
        started = time.monotonic()
        assert source.wait(10) is True
        elapsed = time.monotonic() - started
        thread.join()
        assert elapsed < 2.0
        assert [m.raw for m in source.fetch(10)] == [mail(0)]

    def test_idle_times_out_without_mail(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        source = source_for(mailbox)
        started = time.monotonic()
        assert source.wait(0.4) is False
        assert 0.35 < time.monotonic() - started < 2.0
        assert source.fetch(10) == []

    def test_idle_is_reissued_before_idle_timeout(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """A wait longer than ``idle_timeout`` renews IDLE and still sees new mail."""
        source = source_for(mailbox, idle_timeout=0.2)
        thread = later(0.7, lambda: mailbox.append([mail(0)]))
        with capture_logs() as logs:
            assert source.wait(10) is True
        thread.join()
        assert sum(entry["event"] == "imap.idle_renewed" for entry in logs) >= 2

    def test_waiting_mail_returns_at_once(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        mailbox.append([mail(0)])
        source = source_for(mailbox)
        started = time.monotonic()
        assert source.wait(10) is True
        assert time.monotonic() - started < 0.3

    def test_polls_when_server_has_no_idle(
        self, dovecot_legacy: DovecotServer, source_for: Callable[..., ImapSource]
    ) -> None:
        box = dovecot_legacy.add_user()
        source = source_for(box, poll_interval=0.1)
        assert source.wait(0.3) is False
        thread = later(0.2, lambda: box.append([mail(0)]))
        started = time.monotonic()
        assert source.wait(10) is True
        thread.join()
        assert time.monotonic() - started < 1.0
        assert [m.raw for m in source.fetch(10)] == [mail(0)]


class TestByteBudget:
    def test_batches_are_cut_by_bytes_and_a_large_mail_comes_alone(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Sizes come from the server before any body: no FETCH holds more than the budget,
        except one mail larger than it, alone."""
        big = mail(2) + b"x" * 5000 + b"\r\n"
        mails = [mail(0), mail(1), big, mail(3), mail(4), mail(5)]
        mailbox.append(mails)
        budget = len(mail(0)) * 2 + 10
        source = source_for(mailbox, batch_bytes=budget)
        batches = []
        while batch := source.fetch(10):
            batches.append([m.raw for m in batch])
        assert batches == [[mail(0), mail(1)], [big], [mail(3), mail(4)], [mail(5)]]
        assert all(sum(map(len, b)) <= budget for b in batches if len(b) > 1)

    def test_small_mails_fill_a_batch_and_a_large_one_still_keeps_the_budget(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Sizes are asked only of mails larger than a batch's share of the budget: the
        smaller ones fill batches up to the count, a larger one keeps every batch within the
        budget, and a later fetch of another count still does."""
        share = len(mail(0)) * 2
        big = mail(3) + b"x" * (share * 2) + b"\r\n"
        mails = [mail(0), mail(1), mail(2), big, *(mail(i) for i in range(4, 12))]
        mailbox.append(mails)
        budget = share * 4
        source = source_for(mailbox, batch_bytes=budget)
        batches = [[m.raw for m in source.fetch(4)]]
        while batch := source.fetch(2 if len(batches) == 3 else 4):
            batches.append([m.raw for m in batch])
        assert [raw for b in batches for raw in b] == mails
        assert batches[0] == mails[:3]  # the large one does not fit after three small ones
        assert batches[1][0] == big
        assert all(sum(map(len, b)) <= budget for b in batches)
        assert max(map(len, batches)) == 4


class TestReconnect:
    def test_dovecot_restart_mid_run_loses_nothing(
        self, dovecot: DovecotServer, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Fetch, restart the server, acknowledge and go on: every mail processed exactly once."""
        mailbox.append(mail(i) for i in range(10))
        source = source_for(mailbox)
        first = source.fetch(4)
        dovecot.restart(downtime=0.2)
        source.move([m.ref for m in first], Folder.PROCESSED)
        rest = source.fetch(100)
        source.move([m.ref for m in rest], Folder.PROCESSED)
        assert [m.raw for m in first + rest] == [mail(i) for i in range(10)]
        assert mailbox.contents() == {}
        assert [raw for raw, _ in mailbox.contents("Processed").values()] == [
            mail(i) for i in range(10)
        ]

    def test_restart_during_idle_reconnects_and_sees_new_mail(
        self, dovecot: DovecotServer, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        source = source_for(mailbox)
        result: list[bool] = []
        waiter = threading.Thread(target=lambda: result.append(source.wait(15)))
        waiter.start()
        time.sleep(0.3)
        dovecot.restart()
        mailbox.append([mail(0)])
        waiter.join(10)
        assert result == [True]
        assert [m.raw for m in source.fetch(10)] == [mail(0)]

    @pytest.mark.parametrize("cut_before", ["copy", "add_flags", "uid_expunge"])
    def test_connection_lost_in_copy_expunge_leaves_no_duplicates(
        self,
        dovecot: DovecotServer,
        mailbox: Mailbox,
        source_for: Callable[..., ImapSource],
        monkeypatch: pytest.MonkeyPatch,
        cut_before: str,
    ) -> None:
        """The server dies before one step of the first attempt; the retry finishes the job.

        Cut before ``add_flags`` the COPY has been done but nothing on the server says so:
        the mails are copied into Processed again, but the inbox never loses one (the gap the
        module docstring owns up to); before COPY or EXPUNGE each mail lands there once.
        """
        mailbox.append(mail(i) for i in range(6))
        source = source_for(mailbox, use_move=False)
        refs = [m.ref for m in source.fetch(4)]
        step = getattr(IMAPClient, cut_before)
        cuts: list[str] = []

        def cut_once(client: IMAPClient, *args: Any, **kwargs: Any) -> Any:
            if not cuts:
                cuts.append(cut_before)
                dovecot.restart()
            return step(client, *args, **kwargs)

        monkeypatch.setattr(IMAPClient, cut_before, cut_once)
        with capture_logs() as logs:
            source.move(refs, Folder.PROCESSED)
        assert cuts == [cut_before]
        assert "imap.connection_lost" in {e["event"] for e in logs}
        assert raws(mailbox) == [mail(4), mail(5)]
        processed = raws(mailbox, "Processed")
        expected = [mail(i) for i in range(4)]
        assert processed == (expected * 2 if cut_before == "add_flags" else expected)

    def test_mail_copied_by_a_crashed_run_is_not_copied_again(
        self, mailbox: Mailbox, source_for: Callable[..., ImapSource]
    ) -> None:
        """Copied, flagged ``\\Deleted``, never expunged: handed out again, then only expunged."""
        mailbox.append([mail(0), mail(1)])
        with mailbox.client() as client:
            client.select_folder("INBOX")
            client.create_folder("Processed")
            client.copy([1], "Processed")
            client.add_flags([1], [imapclient.DELETED], silent=True)
        source = source_for(mailbox, use_move=False)
        refs = [m.ref for m in source.fetch(10)]
        assert len(refs) == 2
        with capture_logs() as logs:
            source.move(refs, Folder.PROCESSED)
        assert raws(mailbox) == []
        assert raws(mailbox, "Processed") == [mail(0), mail(1)]
        assert [e["skipped"] for e in logs if e["event"] == "imap.copy_skipped"] == [1]

    def test_unreachable_server_backs_off_then_fails(self, mailbox: Mailbox) -> None:
        """Delays double up to the cap; the final error says the mailbox is unavailable."""
        delays: list[float] = []
        source = ImapSource(
            settings(
                mailbox,
                port=free_port(),
                reconnect_attempts=5,
                backoff_initial=0.01,
                backoff_max=0.04,
            ),
            sleep=delays.append,
        )
        with pytest.raises(SourceUnavailable, match="connect"):
            source.open()
        assert delays == [0.01, 0.02, 0.04, 0.04]

    def test_wrong_password_fails_without_retrying(self, mailbox: Mailbox) -> None:
        delays: list[float] = []
        source = ImapSource(settings(mailbox, password="wrong"), sleep=delays.append)
        with pytest.raises(SourceError, match="login refused") as info:
            source.open()
        assert not isinstance(info.value, SourceUnavailable)
        assert delays == []


class TestSecurity:
    @pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
    def test_tls_with_verification(
        self,
        dovecot_tls: DovecotServer,
        tls_ca: trustme.CA,
        tmp_path: Any,
        security: Security,
        source_for: Callable[..., ImapSource],
    ) -> None:
        box = dovecot_tls.add_user()
        box.append([mail(0)])
        ca_file = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(ca_file))
        port = dovecot_tls.tls_port if security is Security.TLS else dovecot_tls.port
        source = source_for(box, security=security, port=port, ca_file=str(ca_file))
        assert [m.raw for m in source.fetch(10)] == [mail(0)]

    @pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
    def test_wrong_ca_fails_clearly(
        self, dovecot_tls: DovecotServer, tmp_path: Any, security: Security
    ) -> None:
        box = dovecot_tls.add_user()
        ca_file = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(ca_file))
        port = dovecot_tls.tls_port if security is Security.TLS else dovecot_tls.port
        source = ImapSource(settings(box, security=security, port=port, ca_file=str(ca_file)))
        with pytest.raises(SourceError, match="certificate verification failed") as info:
            source.open()
        assert not isinstance(info.value, SourceUnavailable)

    def test_xoauth2_login(self, mailbox: Mailbox, source_for: Callable[..., ImapSource]) -> None:
        """The test server's passdb accepts the user's password as the bearer token."""
        mailbox.append([mail(0)])
        tokens: list[str] = []

        def token() -> str:
            tokens.append(mailbox.password)
            return mailbox.password

        source = source_for(mailbox, password="", auth=Auth.XOAUTH2, token_provider=token)
        assert [m.raw for m in source.fetch(10)] == [mail(0)]
        assert len(tokens) == 1

    def test_xoauth2_bad_token_is_refused(self, mailbox: Mailbox) -> None:
        source = ImapSource(settings(mailbox, auth=Auth.XOAUTH2, token_provider=lambda: "expired"))
        with pytest.raises(SourceError, match="login refused"):
            source.open()

    def test_xoauth2_needs_a_token_provider(self, mailbox: Mailbox) -> None:
        with pytest.raises(ValueError, match="token_provider"):
            settings(mailbox, auth=Auth.XOAUTH2)

    def test_repr_hides_secrets(self, mailbox: Mailbox) -> None:
        text = repr(settings(mailbox))
        assert mailbox.username in text
        assert mailbox.password not in text


def _error_classes() -> list[type[BaseException]]:
    found = {
        obj
        for module in (imapclient.exceptions, imaplib.IMAP4)
        for _name, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Exception)
    }
    return sorted(found, key=lambda cls: cls.__qualname__)


@pytest.mark.parametrize(
    "error",
    [*_error_classes(), ConnectionResetError, TimeoutError, EOFError, ssl.SSLError],
    ids=lambda cls: cls.__qualname__,
)
def test_every_library_error_is_mapped(error: type[BaseException]) -> None:
    """Nothing from imapclient, imaplib or the socket layer escapes untranslated."""
    with pytest.raises(SourceError), map_imap_errors("test"):
        raise error("boom")


class _MovedUnderneath(ImapSource):
    """An IMAP source whose mails another session (another replica's) moves to ``Processed``
    in the one window that matters: after this session chose the batch by its sizes, before
    it fetches the bodies."""

    def __init__(self, box: Mailbox, uids: list[int]) -> None:
        super().__init__(settings(box))
        self.box, self.uids = box, uids

    def _within_budget(self, client: IMAPClient, uids: list[int]) -> list[int]:
        chosen = super()._within_budget(client, uids)
        with self.box.client() as other:
            other.select_folder("INBOX")
            other.move(self.uids, "Processed")
        self.uids = []
        return chosen


class TestAnotherSession:
    def test_a_mail_another_session_just_moved_is_skipped_not_handed_out_empty(
        self, mailbox: Mailbox
    ) -> None:
        """Dovecot answers the FETCH of a mail another session moved meanwhile without a
        body: it is skipped (no empty input to quarantine, no warning), the rest of the batch
        is handed out, and nothing is handed out twice."""
        mailbox.append(mail(i) for i in range(4))
        source = _MovedUnderneath(mailbox, [2, 3])
        source.open()
        try:
            with capture_logs() as logs:
                batch = source.fetch(10)
            assert [m.raw for m in batch] == [mail(0), mail(3)]
            assert [e["event"] for e in logs if e["log_level"] == "warning"] == []
            assert source.fetch(10) == []
        finally:
            source.close()
        assert raws(mailbox, "Processed") == [mail(1), mail(2)]
