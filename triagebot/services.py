"""Builds the configured adapters (sources, tracker, listener) from the config sections.

The adapters take plain settings of their own; this is the one place that maps the file's
shape onto them, so ``run`` and ``check-config`` build exactly the same things.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from triagebot.config import Config, ListenerConfig, MailboxConfig, Secret, TrackerConfig
from triagebot.errors import ConfigError
from triagebot.mail.imap import Auth, ImapSettings, ImapSource, Security
from triagebot.mail.maildir import MaildirSettings, MaildirSource
from triagebot.mail.smtp_listener import ListenerSettings
from triagebot.mail.source import Source
from triagebot.store import Store
from triagebot.trackers.base import Tracker
from triagebot.trackers.jira import JiraSettings, JiraTracker
from triagebot.trackers.local import LocalTracker

TOKEN_COMMAND_TIMEOUT = 30.0


def build_sources(config: Config) -> list[Source]:
    """The mailbox, plus the listener's spool when it is not the mailbox itself."""
    sources: list[Source] = [build_mailbox(config.mailbox)]
    spool = listener_spool(config)
    if spool is not None and not (
        config.mailbox.kind == "maildir" and spool == config.mailbox.path
    ):
        sources.append(MaildirSource(MaildirSettings(path=spool)))
    return sources


def build_mailbox(mailbox: MailboxConfig) -> Source:
    if mailbox.kind == "maildir":
        return MaildirSource(
            MaildirSettings(
                path=mailbox.path,
                quarantine_folder=mailbox.quarantine_folder,
                review_folder=mailbox.review_folder,
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
        token_provider=_token_provider(mailbox) if mailbox.auth == "xoauth2" else None,
        folder=mailbox.folder,
        processed_folder=mailbox.processed_folder,
        quarantine_folder=mailbox.quarantine_folder,
        review_folder=mailbox.review_folder,
        poll_interval=mailbox.poll_interval,
        idle_timeout=mailbox.idle_timeout,
        ca_file=str(mailbox.ca_file) if mailbox.ca_file else None,
        batch_size=mailbox.batch_size,
    )


def _token_provider(mailbox: MailboxConfig) -> Callable[[], str]:
    """XOAUTH2 tokens expire: every login asks the command, or re-reads the token file."""
    if mailbox.token_command:
        argv = shlex.split(mailbox.token_command)

        def from_command() -> str:
            done = subprocess.run(  # noqa: S603 - the operator's own configured command
                argv, capture_output=True, text=True, timeout=TOKEN_COMMAND_TIMEOUT, check=False
            )
            if done.returncode != 0 or not done.stdout.strip():
                raise ConfigError(
                    "[mailbox].token_command", f"exited {done.returncode} without a token"
                )
            return done.stdout.strip()

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
    )


def build_tracker(tracker: TrackerConfig, store: Store) -> Tracker:
    if tracker.kind == "local":
        return LocalTracker(store)
    assert tracker.token is not None  # config validation guarantees it
    return JiraTracker(
        JiraSettings(
            url=tracker.url,
            project=tracker.project,
            username=tracker.username,
            secret=tracker.token.reveal(),
            auth=tracker.auth,
            issue_type=tracker.issue_type,
            deployment=tracker.deployment,
            reopen_transition=tracker.reopen_transition,
            label_prefix=tracker.label_prefix,
            occurrences_field=tracker.occurrences_field or None,
            request_timeout=tracker.timeout,
            deadline=tracker.deadline,
            ca_file=str(tracker.ca_file) if tracker.ca_file else None,
        )
    )
