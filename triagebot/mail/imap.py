"""IMAP source: IDLE push (or NOOP polling), batched ``BODY.PEEK[]`` fetch, MOVE acknowledgement.

imapclient reads a whole FETCH response into memory, so a batch is cut by the sizes the
server reports (from its index) before any body is fetched: a batch holds at most
``batch_bytes`` of mail, or one larger mail alone. Sizes are asked only of the mails larger
than a batch's share of the budget (``SEARCH LARGER``, once per SEARCH of new mail): a batch
of smaller ones fits whatever their sizes, and reading every mail's ``RFC822.SIZE`` cost a
third of the fetch.

The connection is opened lazily and re-opened with capped exponential backoff when it dies;
every imapclient/socket error is translated in ``map_imap_errors`` only. The high-water mark
(highest UID handed out) survives a reconnect as long as UIDVALIDITY is unchanged, so a
dropped connection neither re-delivers nor skips mail; ``open()`` starts afresh.

A ref is ``"<uidvalidity>:<uid>"``: a UID means nothing under another UIDVALIDITY (the folder
was re-created or restored), so ``move`` acknowledges only refs of the current one and skips
the others. Their mails are fetched again under the new UIDVALIDITY, and the store's
Message-ID check makes the second pass harmless. A folder re-created in the instant between
``move``'s NOOP check and its MOVE still goes unnoticed: the server gives no other sign.

Without MOVE, acknowledging is COPY, ``+FLAGS \\Deleted``, UID EXPUNGE, and may be cut off
anywhere. Each attempt therefore copies only the UIDs still in the folder and not yet flagged
``\\Deleted`` (those were copied by an earlier attempt, or by a run that crashed before its
EXPUNGE), and expunges all of them. What remains: a connection lost after the server carried
out the COPY but before the flag was set leaves one duplicate in the target folder (nothing in
plain IMAP tells whether a COPY whose answer was lost took place); no mail is lost either way.
"""

from __future__ import annotations

import imaplib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import structlog
from imapclient import DELETED, IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import join_message_ids

from triagebot.errors import SourceError, SourceUnavailable
from triagebot.mail.source import DEFAULT_BATCH_BYTES, Folder, Incoming

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_POLL_INTERVAL",
    "Auth",
    "ImapSettings",
    "ImapSource",
    "Security",
    "map_imap_errors",
]

log = structlog.get_logger(__name__)

DEFAULT_POLL_INTERVAL = 60.0
DEFAULT_IDLE_TIMEOUT = 25 * 60.0  # RFC 2177: servers may drop an IDLE after 29 minutes
DEFAULT_TIMEOUT = 30.0
_BODY = b"BODY[]"
_SIZE = b"RFC822.SIZE"
_NEW_MAIL = frozenset({b"EXISTS", b"RECENT"})
_TROUBLE = frozenset({b"NO", b"BYE"})
T = TypeVar("T")


class Security(StrEnum):
    TLS = "tls"  # implicit TLS, usually port 993
    STARTTLS = "starttls"
    NONE = "none"


class Auth(StrEnum):
    PASSWORD = "password"  # noqa: S105 - the auth method name, not a secret
    XOAUTH2 = "xoauth2"  # Microsoft 365 and Gmail: a bearer token instead of a password


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """Connection and folder settings; secrets are left out of ``repr``.

    ``token_provider`` is called at every login with ``auth=xoauth2``, so a refreshed token is
    picked up on reconnect. ``use_move`` / ``use_idle`` = False force the COPY+EXPUNGE and
    polling paths on servers that offer MOVE / IDLE but handle them badly. A connection is
    tried ``reconnect_attempts`` times, sleeping ``backoff_initial`` doubled up to
    ``backoff_max`` in between. A batch holds at most ``batch_bytes`` of mail (a larger
    mail comes alone).
    """

    host: str
    username: str
    password: str = field(default="", repr=False)
    port: int = 993
    security: Security = Security.TLS
    auth: Auth = Auth.PASSWORD
    token_provider: Callable[[], str] | None = field(default=None, repr=False)
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    review_folder: str = "Review"
    poll_interval: float = DEFAULT_POLL_INTERVAL
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    use_move: bool = True
    use_idle: bool = True
    reconnect_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    batch_bytes: int = DEFAULT_BATCH_BYTES

    def __post_init__(self) -> None:
        if self.auth is Auth.XOAUTH2 and self.token_provider is None:
            raise ValueError("auth=xoauth2 needs a token_provider")


@contextmanager
def map_imap_errors(what: str) -> Iterator[None]:
    """Translate imapclient, imaplib, ssl and socket errors into triagebot's source errors.

    Certificate and login failures will not pass by retrying: ``SourceError``. A dropped or
    refused connection, a timeout or an aborted session may: ``SourceUnavailable``.
    """
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise SourceError(
            f"{what}: TLS certificate verification failed: {exc.verify_message}"
        ) from exc
    except LoginError as exc:
        raise SourceError(f"{what}: login refused: {exc}") from exc
    except (imaplib.IMAP4.abort, OSError, EOFError) as exc:  # abort covers IMAP4.readonly
        raise SourceUnavailable(f"{what}: connection lost: {exc!r}") from exc
    except IMAPClientError as exc:
        raise SourceError(f"{what}: server said no: {exc}") from exc


class ImapSource:
    """One IMAP mailbox folder; refs are ``"<uidvalidity>:<uid>"``.

    ``sleep`` waits out the reconnect backoff; the daemon may pass one that returns early on
    shutdown (e.g. ``threading.Event().wait``).
    """

    name = "imap"

    def __init__(
        self, settings: ImapSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._targets = {
            Folder.PROCESSED: settings.processed_folder,
            Folder.QUARANTINE: settings.quarantine_folder,
            Folder.REVIEW: settings.review_folder,
        }
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._high_water = 0
        self._pending: list[int] = []  # UIDs seen by the last SEARCH, not handed out yet
        self._large: set[int] = set()  # those of them larger than ``_share`` bytes
        self._share = -1  # not searched yet for this ``_pending``
        self._can_move = False
        self._can_idle = False

    # -- connection -----------------------------------------------------------------------

    def open(self) -> None:
        """(Re)connect and forget what was handed out: the next fetch starts at the oldest mail."""
        self.close()
        self._high_water = 0
        self._pending.clear()
        self._connection()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (IMAPClientError, OSError) as exc:
                log.debug("imap.logout_failed", error=repr(exc))
                _shutdown(client)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)

    def _connection(self) -> IMAPClient:
        """The open client, connecting with capped exponential backoff when there is none."""
        s = self._settings
        delay = s.backoff_initial
        attempt = 1
        while self._client is None:
            try:
                self._client = self._connect()
            except SourceUnavailable as exc:
                if attempt >= s.reconnect_attempts:
                    raise
                log.warning(
                    "imap.reconnect", host=s.host, attempt=attempt, delay=delay, error=str(exc)
                )
                self._sleep(delay)
                delay = min(delay * 2, s.backoff_max)
                attempt += 1
        return self._client

    def _connect(self) -> IMAPClient:
        s = self._settings
        where = f"imap://{s.host}:{s.port}"
        with map_imap_errors(f"connect {where}"):
            context = (
                None
                if s.security is Security.NONE
                else ssl.create_default_context(cafile=s.ca_file)
            )
            client = IMAPClient(
                s.host,
                s.port,
                ssl=s.security is Security.TLS,
                ssl_context=context,
                timeout=s.timeout,
            )
            try:
                if s.security is Security.STARTTLS:
                    client.starttls(context)
                if s.token_provider is not None and s.auth is Auth.XOAUTH2:
                    client.oauth2_login(s.username, s.token_provider())
                else:
                    client.login(s.username, s.password)
                caps = set(client.capabilities())
                self._can_move = s.use_move and b"MOVE" in caps
                self._can_idle = s.use_idle and b"IDLE" in caps
                if not self._can_move and b"UIDPLUS" not in caps:
                    raise SourceError(
                        f"{where} offers neither MOVE nor UIDPLUS: cannot acknowledge"
                    )
                if b"QRESYNC" in caps:
                    # One VANISHED line for a MOVE's UIDs instead of an EXPUNGE per mail.
                    client.enable("QRESYNC")
                self._ensure_folders(client)
                selected = client.select_folder(s.folder)
            except BaseException:
                _shutdown(client)
                raise
        uidvalidity = int(selected[b"UIDVALIDITY"])
        if self._uidvalidity not in (None, uidvalidity):
            log.warning(
                "imap.uidvalidity_changed",
                folder=s.folder,
                old=self._uidvalidity,
                new=uidvalidity,
                high_water=self._high_water,
            )
            self._high_water = 0
        self._uidvalidity = uidvalidity
        self._pending.clear()
        log.info(
            "imap.open",
            host=s.host,
            port=s.port,
            user=s.username,
            folder=s.folder,
            move=self._can_move,
            idle=self._can_idle,
        )
        return client

    def _ensure_folders(self, client: IMAPClient) -> None:
        existing = {name for _flags, _delim, name in client.list_folders()}
        for folder in self._targets.values():
            if folder not in existing:
                client.create_folder(folder)
                log.info("imap.folder_created", folder=folder)

    def _call(self, what: str, op: Callable[[IMAPClient], T], *, retry: bool = True) -> T:
        """Run ``op`` on the connection; if the connection died, reconnect and run it once more."""
        client = self._connection()
        try:
            with map_imap_errors(what):
                return op(client)
        except SourceUnavailable as exc:
            self._drop()
            if not retry:
                raise
            log.warning("imap.connection_lost", op=what, error=str(exc))
        return self._call(what, op, retry=False)

    # -- Source ---------------------------------------------------------------------------

    def fetch(self, limit: int) -> list[Incoming]:
        return self._call("fetch", lambda client: self._fetch(client, limit))

    def _fetch(self, client: IMAPClient, limit: int) -> list[Incoming]:
        if not self._refill(client):
            return []
        if self._share < 0:
            self._find_large(client, limit)
        uids = self._within_budget(client, self._pending[:limit])
        data: dict[int, dict[bytes, Any]] = client.fetch(uids, ["BODY.PEEK[]"])
        prefix = f"{self._uidvalidity}:"
        gone = _vanished(
            client, [u for u in uids if not isinstance(data.get(u, {}).get(_BODY), bytes)]
        )
        batch = []
        for uid in uids:
            item = data.get(uid)
            if item is None or uid in gone:  # expunged by someone else since the SEARCH
                continue
            raw = item.get(_BODY)
            if not isinstance(raw, bytes):
                # Hand it out anyway: the pipeline quarantines it instead of it blocking the queue.
                log.warning("imap.fetch_no_body", uid=uid, folder=self._settings.folder)
                raw = b""
            batch.append(Incoming(prefix + str(uid), raw))
        del self._pending[: len(uids)]
        self._high_water = uids[-1]
        return batch

    def _within_budget(self, client: IMAPClient, uids: list[int]) -> list[int]:
        """The first of ``uids`` whose sizes add up to ``batch_bytes`` at most (the first one
        whatever its size). A mail not in ``_large`` counts as ``_share`` bytes, its most; a
        large one as the size the server gives, and as nothing when it was expunged meanwhile."""
        large = [uid for uid in uids if uid in self._large]
        sizes: dict[int, dict[bytes, Any]] = client.fetch(large, ["RFC822.SIZE"]) if large else {}
        budget = self._settings.batch_bytes
        for count, uid in enumerate(uids):
            size = int(sizes.get(uid, {}).get(_SIZE, 0)) if uid in self._large else self._share
            if count and size > budget:
                return uids[:count]
            budget -= size
        return uids

    def _refill(self, client: IMAPClient) -> bool:
        """Make sure ``_pending`` holds the UIDs above the high-water mark; True if any."""
        if not self._pending:
            self._check_folder(client)  # its NOOP also lets new mail into SEARCH's view
            high = self._high_water
            # "N:*" always matches the highest UID, even one below N: hence the filter.
            self._pending = sorted(u for u in client.search(["UID", f"{high + 1}:*"]) if u > high)
            self._share = -1
        return bool(self._pending)

    def _find_large(self, client: IMAPClient, limit: int) -> None:
        """``_large``: the pending UIDs larger than a ``limit``-mail batch's share of the
        budget. Searched after them, so every pending UID is in its view (or expunged)."""
        self._share = self._settings.batch_bytes // max(limit, 1)
        first = self._pending[0]
        larger = client.search(["UID", f"{first}:*", "LARGER", str(self._share)])
        self._large = {uid for uid in larger if uid >= first}

    def _check_folder(self, client: IMAPClient) -> None:
        """NOOP; an untagged NO or BYE means the session lost its folder: start a new one.

        Dovecot keeps a session on a folder that was deleted and created again, and acts on
        the new folder's mail under the old UIDs; its only hint is that untagged NO. The new
        session's SELECT then reports the new UIDVALIDITY.
        """
        warnings = [r for r in client.noop()[1] if r[0] in _TROUBLE]
        if warnings:
            raise SourceUnavailable(f"server warned about {self._settings.folder}: {warnings}")

    def move(self, refs: Sequence[str], folder: Folder) -> None:
        if not refs:
            return
        parsed = [_parse_ref(ref) for ref in refs]
        target = self._targets[folder]
        self._call(f"move to {target}", lambda client: self._move(client, parsed, target))

    def _move(self, client: IMAPClient, refs: list[tuple[int, int]], target: str) -> None:
        try:
            self._move_checked(client, refs, target)
        finally:
            _forget_untagged(client)

    def _move_checked(self, client: IMAPClient, refs: list[tuple[int, int]], target: str) -> None:
        self._check_folder(client)
        # Filtered here, not in ``move``: a reconnect inside ``_call`` may bring a new UIDVALIDITY.
        current = self._uidvalidity
        uids = [uid for uidvalidity, uid in refs if uidvalidity == current]
        if len(uids) < len(refs):
            log.warning(
                "imap.stale_ref",
                folder=self._settings.folder,
                target=target,
                uidvalidity=current,
                refs=[f"{v}:{u}" for v, u in refs if v != current],
            )
        if not uids:
            return
        if self._can_move:
            client.move(uids, target)
            return
        # Only what is still here and not yet copied: this attempt may follow a cut-off one.
        to_copy = client.search(["UID", join_message_ids(uids), "UNDELETED"])
        if to_copy:
            client.copy(to_copy, target)
            client.add_flags(to_copy, [DELETED], silent=True)
        if len(to_copy) < len(uids):
            log.info("imap.copy_skipped", target=target, skipped=len(uids) - len(to_copy))
        client.uid_expunge(uids)

    def delivering(self) -> bool:
        """Never: the server shows a message only once it is complete."""
        return False

    def backlog(self) -> int:
        return len(self._pending)

    def quarantined(self) -> list[Incoming]:
        return self._call("list quarantine", self._quarantined)

    def _quarantined(self, client: IMAPClient) -> list[Incoming]:
        folder = self._targets[Folder.QUARANTINE]
        try:
            selected = client.select_folder(folder, readonly=True)
            data: dict[int, dict[bytes, Any]] = client.fetch(client.search(), ["BODY.PEEK[]"])
        finally:
            self._reselect(client)
        prefix = f"{int(selected[b'UIDVALIDITY'])}:"
        return [
            Incoming(prefix + str(uid), raw)
            for uid, item in sorted(data.items())
            if isinstance(raw := item.get(_BODY), bytes)
        ]

    def release(self, refs: Sequence[str]) -> list[str]:
        if not refs:
            return []
        parsed = [_parse_ref(ref) for ref in refs]
        return self._call("release quarantine", lambda client: self._release(client, parsed))

    def _release(self, client: IMAPClient, refs: list[tuple[int, int]]) -> list[str]:
        folder = self._targets[Folder.QUARANTINE]
        try:
            selected = client.select_folder(folder)
            current = int(selected[b"UIDVALIDITY"])
            there = set(client.search(["UID", join_message_ids([u for _, u in refs])]))
            uids = [uid for validity, uid in refs if validity == current and uid in there]
            if uids:
                if self._can_move:
                    client.move(uids, self._settings.folder)
                else:
                    client.copy(uids, self._settings.folder)
                    client.add_flags(uids, [DELETED], silent=True)
                    client.uid_expunge(uids)
        finally:
            self._reselect(client)
            _forget_untagged(client)
        return [f"{current}:{uid}" for uid in uids]

    def _reselect(self, client: IMAPClient) -> None:
        """Back on the inbox, where the session's UIDs and high-water mark belong."""
        client.select_folder(self._settings.folder)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return self._call("wait", lambda client: self._wait(client, deadline))

    def _wait(self, client: IMAPClient, deadline: float) -> bool:
        if self._refill(client):
            return True
        if self._can_idle:
            return self._idle(client, deadline)
        while (remaining := deadline - time.monotonic()) > 0:
            self._sleep(min(self._settings.poll_interval, remaining))
            if self._refill(client):
                return True
        return False

    def _idle(self, client: IMAPClient, deadline: float) -> bool:
        """IDLE until new mail or ``deadline``, re-issued every ``idle_timeout`` (RFC 2177)."""
        idle_timeout = self._settings.idle_timeout
        try:
            client.idle()
            started = now = time.monotonic()
            while now < deadline:
                step = min(deadline, started + idle_timeout) - now
                responses = client.idle_check(timeout=step)
                if _has_new_mail(responses):
                    client.idle_done()
                    return True
                checked, now = now, time.monotonic()
                # idle_check returns [] at once when the server hung up; DONE then raises.
                hung_up = not responses and now - checked < step * 0.9
                if hung_up or now - started >= idle_timeout:
                    if _has_new_mail(client.idle_done()[1]):
                        return True
                    client.idle()
                    started = now
                    log.info("imap.idle_renewed", folder=self._settings.folder, probe=hung_up)
            return _has_new_mail(client.idle_done()[1])
        except BaseException:
            self._drop()  # the session state (in IDLE or not) is unknown now
            raise


def _parse_ref(ref: str) -> tuple[int, int]:
    """``"<uidvalidity>:<uid>"`` as two ints; anything else was not handed out by this source."""
    uidvalidity, sep, uid = ref.partition(":")
    if not sep:
        raise ValueError(f"not an IMAP ref (uidvalidity:uid): {ref!r}")
    return int(uidvalidity), int(uid)


def _has_new_mail(responses: list[Any]) -> bool:
    return any(len(r) > 1 and r[1] in _NEW_MAIL for r in responses)


def _vanished(client: IMAPClient, uids: list[int]) -> set[int]:
    """Which of ``uids`` (answered without a body) another session expunged meanwhile.

    Another replica's session moved them after this one's SEARCH listed them: Dovecot then
    answers their FETCH with no body (``NO [EXPUNGEISSUED]``). They are skipped, not handed out
    as empty mails to quarantine; one that is still there has no body for another reason and
    is handed out, so the pipeline sets it aside instead of it blocking the queue."""
    if not uids:
        return set()
    present = set(client.search(["UID", join_message_ids(uids)]))
    gone = set(uids) - present
    if gone:
        log.info("imap.fetch_vanished", uids=len(gone))
    return gone


def _shutdown(client: IMAPClient) -> None:
    with suppress(OSError):
        client.shutdown()


def _forget_untagged(client: IMAPClient) -> None:
    """Drop the untagged responses nobody reads. imaplib keeps every one on the connection
    (without QRESYNC an ``EXPUNGE`` per moved mail: about 50 MB per million mails over a
    long-running session); imapclient reads each command's own responses as they arrive, so
    after a completed MOVE none is still wanted."""
    client._imap.untagged_responses.clear()
