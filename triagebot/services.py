"""Builds the configured adapters (sources, tracker, listener) from the config sections.

The adapters take plain settings of their own; this is the one place that maps the file's
shape onto them, so ``run`` and ``check-config`` build exactly the same things.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from triagebot.clock import Clock, system_clock
from triagebot.config import (
    Config,
    ListenerConfig,
    MailboxConfig,
    Secret,
    StoreConfig,
)
from triagebot.errors import ConfigError, SourceUnavailable
from triagebot.mail.imap import Auth, ImapSettings, ImapSource, Security
from triagebot.mail.maildir import MaildirSettings, MaildirSource
from triagebot.mail.smtp_listener import ListenerSettings
from triagebot.mail.source import Source
from triagebot.store import SessionLimits, Store
from triagebot.trackers import configured
from triagebot.trackers.base import Tracker, TrackerContext

TOKEN_COMMAND_TIMEOUT = 30.0


def build_sources(config: Config) -> list[Source]:
    """The mailbox, plus the listener's spool when it is not the mailbox itself."""
    sources: list[Source] = [build_mailbox(config.mailbox)]
    spool = listener_spool(config)
    if spool is not None and not (
        config.mailbox.kind == "maildir" and spool == config.mailbox.path
    ):
        # only the listener writes there, through tmp/: every file in new/ is complete
        spooled = MaildirSettings(path=spool, min_age=0, batch_bytes=config.mailbox.batch_bytes)
        sources.append(MaildirSource(spooled))
    return sources


def build_mailbox(mailbox: MailboxConfig) -> Source:
    if mailbox.kind == "maildir":
        return MaildirSource(
            MaildirSettings(
                path=mailbox.path,
                quarantine_folder=mailbox.quarantine_folder,
                review_folder=mailbox.review_folder,
                min_age=mailbox.min_age,
                batch_bytes=mailbox.batch_bytes,
            )
        )
    return ImapSource(imap_settings(mailbox))


def imap_settings(mailbox: MailboxConfig) -> ImapSettings:
    return ImapSettings(
        host=mailbox.host,
        username=mailbox.username,
        password=mailbox.password.reveal() if mailbox.password else "",
        port=mailbox.effective_port,
        security=Security(mailbox.security),
        auth=Auth(mailbox.auth),
        token_provider=token_provider(mailbox) if mailbox.auth == "xoauth2" else None,
        folder=mailbox.folder,
        processed_folder=mailbox.processed_folder,
        quarantine_folder=mailbox.quarantine_folder,
        review_folder=mailbox.review_folder,
        poll_interval=mailbox.poll_interval,
        idle_timeout=mailbox.idle_timeout,
        ca_file=str(mailbox.ca_file) if mailbox.ca_file else None,
        batch_bytes=mailbox.batch_bytes,
    )


def token_provider(
    mailbox: MailboxConfig, timeout: float = TOKEN_COMMAND_TIMEOUT
) -> Callable[[], str]:
    """XOAUTH2 tokens expire: every login asks the command, or re-reads the token file.

    A command that fails, hangs past ``timeout`` or cannot start is a ``SourceUnavailable``:
    the source retries later instead of the daemon dying.
    """
    if mailbox.token_command:
        argv = shlex.split(mailbox.token_command)

        def from_command() -> str:
            try:
                done = subprocess.run(  # noqa: S603 - the operator's own configured command
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise SourceUnavailable(
                    f"[mailbox].token_command gave no token within {timeout:g} s"
                ) from None
            except OSError as exc:
                raise SourceUnavailable(
                    f"[mailbox].token_command could not run: {exc.strerror or exc}"
                ) from None
            token = done.stdout.strip()
            if done.returncode != 0 or not token:
                # stderr may help, stdout may hold a token: only the exit status is told
                raise SourceUnavailable(
                    f"[mailbox].token_command exited {done.returncode} without a token"
                )
            return token

        return from_command
    token = mailbox.token
    assert token is not None  # config validation guarantees one of the two
    return _reader(token)


def _reader(secret: Secret) -> Callable[[], str]:
    if secret.source.startswith("file:"):
        path = Path(secret.source.removeprefix("file:"))
        return lambda: path.read_text(encoding="utf-8").strip()
    return secret.reveal


def listener_spool(config: Config) -> Path | None:
    """Where the SMTP listener spools: the Maildir inbox, or ``var/spool`` beside IMAP."""
    if config.listener is None:
        return None
    if config.mailbox.kind == "maildir":
        return config.mailbox.path
    return config.base_dir / "var" / "spool"


def listener_settings(listener: ListenerConfig) -> ListenerSettings:
    users = {listener.username: listener.password.reveal()} if listener.password else {}
    return ListenerSettings(
        host=listener.host,
        port=listener.port,
        max_size=listener.max_size,
        allow=listener.allowed_clients,
        users=users,
        tls_cert=listener.tls_cert,
        tls_key=listener.tls_key,
        authserv_id=listener.stamp_id,
    )


def store_url(store: StoreConfig) -> str:
    """The database URL with ``[store] password`` set into it (the file's URL has none)."""
    if store.password is None:
        return store.url
    url = make_url(store.url).set(password=store.password.reveal())
    return url.render_as_string(hide_password=False)


#: Database kind → how to install the driver triagebot is tested with.
DRIVER_HINTS = {
    "postgresql": "pip install 'triagebot[postgres]' and write postgresql+psycopg://...",
}


def open_store(
    config: Config, update_delay: timedelta = timedelta(0), clock: Clock = system_clock
) -> Store:
    """The configured store (not yet migrated); ``clock`` stamps what it records. A URL
    whose database driver is not installed is a configuration error that says how to
    install it, not an import traceback."""
    store = config.store
    limits = SessionLimits(
        store.lock_timeout, store.statement_timeout, store.idle_in_transaction_timeout
    )
    try:
        return Store(store_url(store), clock=clock, update_delay=update_delay, limits=limits)
    except ImportError as exc:
        backend = make_url(config.store.url).get_backend_name()
        hint = DRIVER_HINTS.get(backend, "install it into triagebot's Python environment")
        raise ConfigError(
            "[store].url",
            f"{config.store.url.split(':', 1)[0]} needs the Python module {exc.name!r}, "
            f"which is not installed: {hint}",
        ) from None
    except ArgumentError as exc:  # not a URL, or a database kind SQLAlchemy does not know
        raise ConfigError("[store].url", str(exc)) from None


def build_tracker(config: Config, store: Store) -> Tracker:
    """The configured tracker, its ``[tracker.<kind>]`` read (``ConfigError`` naming a key)."""
    context = TrackerContext(store=store, clock=store.clock)
    return configured(config.tracker, config.base_dir).build(context)
