"""TOML configuration → typed, validated dataclasses.

One generic reader walks each section's dataclass fields, so every section gets the same
guarantees for free: unknown keys are errors, every error names its key path
(``[tracker].url: not a URL``), relative paths (written or default) are relative to the
config file, and secrets come only from ``<name>_env`` / ``<name>_file`` keys and are masked
in every repr.
A section that is absent from the file either takes its embedded default (mailbox, store,
tracker, ...) or is ``None``, which disables the feature it configures.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from triagebot.errors import ConfigError

DEFAULT_MAILDIR = Path("var/mail")
DEFAULT_STORE_URL = "sqlite:///var/triagebot.db"
DEFAULT_RETENTION_DAYS = 400
MIN_RETENTION_DAYS = 30
#: PostgreSQL session limits (seconds): a replica frozen while it holds a lock or an open
#: transaction holds the others up for at most this long (PostgreSQL's own default: forever).
DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_FAILOVER = 30.0
DEFAULT_STATEMENT_TIMEOUT = 60.0
DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT = 60.0
DEFAULT_RULES_DIR = Path("rules")
DEFAULT_TRACKER = "local"
DEFAULT_AUTHSERV_ID = "triagebot-listener"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"
# An ``allowed_senders`` entry: ``jane.doe@acme.example``, ``acme.example`` or ``@acme.example``
# ("^": used with fullmatch).
_SENDER_ENTRY = re.compile(r"^(?:[^@\s]++@|@)?[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++")
# An installation's or environment's name: "customer-a-prod" ("^": used with fullmatch).
_NAME = re.compile(r"^[^\W_][\w.-]{0,63}")
NAME_RULE = (
    "is not a name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
    "digit (such as customer-a-prod)"
)
# A host name: letters, digits, hyphens and dots ("^": used with fullmatch).
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
# local@domain, e.g. "triagebot@example.com"; no display names, no comments, no spaces.
# These are used with fullmatch; "^" keeps a search (from every character) linear too.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# "smtp.acme.example:587" or "[2001:db8::1]:587": a port written into a host key.
_HOST_WITH_PORT = re.compile(r"^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]+)):([0-9]{1,5})")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret read from the environment or a file; its value never appears in a repr or log."""

    value: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Secret(<{self.source}>)"

    __str__ = __repr__

    def reveal(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """``[mailbox]``: where reports arrive (a local Maildir by default, or IMAP)."""

    kind: Literal["maildir", "imap"] = "maildir"
    path: Path = DEFAULT_MAILDIR
    host: str = ""
    port: int = 0  # 0: 993 for tls, 143 otherwise
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = ""
    password: Secret | None = None
    auth: Literal["password", "xoauth2"] = "password"
    token: Secret | None = None  # XOAUTH2 access token (token_env / token_file)
    token_command: str = ""  # XOAUTH2: a command printing a fresh access token
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    review_folder: str = "Review"
    poll_interval: float = 60.0
    idle_timeout: float = 25 * 60.0
    batch_size: int = 500
    batch_bytes: int = 64 * 1024 * 1024  # a larger mail still comes, alone in its batch
    min_age: float = 2.0  # Maildir: seconds a file in new/ must be unchanged before it is read
    ca_file: Path | None = None

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.batch_size < 1:
            yield "batch_size", "must be at least 1"
        if self.batch_bytes < 1:
            yield "batch_bytes", "must be at least 1"
        if self.poll_interval <= 0:
            yield "poll_interval", "must be more than 0 seconds"
        if self.kind != "imap":
            return
        if not self.host:
            yield "host", "required when kind = 'imap'"
        if not self.username:
            yield "username", "required when kind = 'imap'"
        if self.auth == "password" and self.password is None:
            yield "password_env", "required when auth = 'password' (or password_file)"
        if self.auth == "xoauth2" and self.token is None and not self.token_command:
            yield "token_command", "required when auth = 'xoauth2' (or token_env / token_file)"
        if self.security == "none" and self.host not in ("127.0.0.1", "localhost", "::1"):
            yield "security", "'none' sends the password in clear; only allowed for localhost"

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """``[listener]``: an SMTP server applications send reports to; spools into the Maildir."""

    host: str = "127.0.0.1"
    port: int = 2525
    max_size: int = 10 * 1024 * 1024
    username: str = ""
    password: Secret | None = None
    allowed_clients: tuple[str, ...] = ()  # IP networks; empty allows all
    tls_cert: Path | None = None  # STARTTLS; AUTH is only offered after it
    tls_key: Path | None = None
    # Names the listener in the Authentication-Results it stamps (empty: ``stamp_id``).
    authserv_id: str = ""

    def problems(self) -> Iterator[tuple[str, str]]:
        if not 0 < self.port < 65536:
            yield "port", f"{self.port} is not a TCP port"
        if self.authserv_id and not _HOST_NAME.fullmatch(self.authserv_id):
            yield "authserv_id", "must be a host name, such as triagebot.acme.example"
        if bool(self.username) != (self.password is not None):
            yield "username", "AUTH needs both username and password_env / password_file"
        if self.username and self.tls_cert is None:
            yield "tls_cert", "AUTH is only offered over STARTTLS: give tls_cert and tls_key"
        if (self.tls_cert is None) != (self.tls_key is None):
            yield "tls_key", "tls_cert and tls_key go together"

    @property
    def stamp_id(self) -> str:
        """``authserv_id``, else this host's name when it is a dotted one (a single label
        would name many machines), else ``DEFAULT_AUTHSERV_ID``."""
        if self.authserv_id:
            return self.authserv_id.lower()
        host = socket.gethostname().lower()
        if "." in host and _HOST_NAME.fullmatch(host) and not host.startswith("localhost"):
            return host
        return DEFAULT_AUTHSERV_ID


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: where Prometheus metrics (``/metrics``) and ``/healthz`` are served."""

    listen: str = DEFAULT_METRICS_LISTEN

    def problems(self) -> Iterator[tuple[str, str]]:
        try:
            listen_address(self.listen)
        except ValueError as exc:
            yield "listen", str(exc)

    @property
    def address(self) -> tuple[str, int]:
        return listen_address(self.listen)


def listen_address(listen: str) -> tuple[str, int]:
    """``listen`` as (host, port): ``127.0.0.1:9464``, ``[::1]:9464`` or ``:9464`` (every
    interface); ``ValueError`` says what is wrong."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{listen!r} is not HOST:PORT (such as {DEFAULT_METRICS_LISTEN})")
    host = host.removeprefix("[").removesuffix("]")
    if host and not (_HOST_NAME.fullmatch(host) or _is_ip(host)):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """``[tracker]``: which tracker defects are filed in, and how often it hears of them.

    ``kind`` names an entry of the tracker registry (``triagebot.trackers``). Each kind's own
    keys are in its ``[tracker.<kind>]`` table, kept here as written (``tables``) and read by
    that kind's settings class with ``read_section``, so adding a tracker never touches this
    file; tables of other kinds may stay (``triagebot defects move --to KIND`` uses them).
    """

    kind: str = DEFAULT_TRACKER
    update_interval: float = 900.0  # seconds between occurrence updates of one defect
    sync_interval: float = 600.0  # seconds between status syncs (resolved issues); 0: off
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def problems(self) -> Iterator[tuple[str, str]]:
        if not self.kind.isidentifier():
            yield "kind", f"{self.kind!r} is not a tracker kind name"

    def table(self, kind: str | None = None) -> Mapping[str, Any]:
        """``[tracker.<kind>]`` as written (empty when absent); the configured kind's by default."""
        return self.tables.get(kind or self.kind, {})


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """``[smtp]``: outgoing mail (candidate mails, acknowledgements, digests).

    ``allow_from_mismatch`` is the *reason* why ``from_address`` may differ from the login
    (e.g. "Send As permission granted on the shared mailbox"); empty means it may not.
    Without ``username`` triagebot does not log in: a relay connector that accepts this host
    by its address (IP-restricted, no AUTH) must take the mail.
    """

    host: str = ""
    port: int = 0  # 0: 465 for tls, 587 for starttls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: Secret | None = None
    from_address: str = ""
    from_name: str = "triagebot"
    timeout: float = 30.0
    allow_from_mismatch: str = ""
    ca_file: Path | None = None

    @property
    def effective_port(self) -> int:
        return self.port or {"tls": 465, "starttls": 587, "none": 25}[self.security]

    @property
    def relay_by_address(self) -> bool:
        """No login where one is usually needed (anything but a local clear-text MTA): only a
        connector that trusts this host's address relays."""
        local_mta = self.security == "none" and self.host in LOCAL_HOSTS
        return not self.username and self.password is None and not local_mta

    def mail_problems(self) -> Iterator[tuple[str, str]]:
        """Why these settings cannot send mail, seen without connecting.

        Not ``problems()``: a section with these still loads, so its addresses stay known as
        triagebot's own (never a report, never mailed) while mail is off.
        """
        local = self.host in LOCAL_HOSTS
        yield from self._host_problems()
        if self.security == "none" and self.host and not local:
            yield "security", "'none' sends mail and password in clear; only allowed for localhost"
        if not 0 < self.effective_port < 65536:
            yield "port", f"{self.port} is not a TCP port"
        if self.timeout <= 0:
            yield "timeout", "must be more than 0 seconds"
        if self.password is not None and not self.username:
            yield "username", "required with a password: the mailbox triagebot logs in as"
        if self.username and self.password is None:
            yield "password_env", "required (or password_file): the password of username"
        if any(c in self.from_name for c in "\r\n\x00"):
            yield "from_name", "must be a single line"
        if not self.from_address:
            yield "from_address", "required: the address triagebot's mails come from"
        elif not is_address(self.from_address):
            yield "from_address", f"{self.from_address!r} is not an e-mail address"
        elif self.username and not self.allow_from_mismatch:
            if not is_address(self.username):
                yield (
                    "username",
                    f"{self.username!r} is a logon name, not an e-mail address: ask the "
                    "customer's IT for the SMTP address of this mailbox (Exchange and "
                    "Microsoft 365 accept it as the login) and use it as username and "
                    "from_address",
                )
            elif self.username.lower() != self.from_address.lower():
                yield (
                    "from_address",
                    f"{self.from_address!r} is not the authenticated mailbox "
                    f"{self.username!r}: Exchange and Microsoft 365 refuse to relay such mail; "
                    "use the same address, or grant Send As and set allow_from_mismatch to why",
                )
        if self.ca_file is not None and not (
            self.ca_file.is_file() and os.access(self.ca_file, os.R_OK)
        ):
            yield "ca_file", f"{self.ca_file} is not a readable file"

    def _host_problems(self) -> Iterator[tuple[str, str]]:
        if not self.host:
            yield "host", "required: the SMTP server to send through"
            return
        with_port = _HOST_WITH_PORT.fullmatch(self.host)
        if with_port and not _is_ip(self.host):
            name = with_port[1] or with_port[2]
            yield (
                "host",
                (
                    f"{self.host!r} carries a port: write host = {name!r} and "
                    f"port = {int(with_port[3])}"
                ),
            )
        elif not (_HOST_NAME.fullmatch(self.host) or _is_ip(self.host)):
            yield "host", f"{self.host!r} is not a host name or IP address"


@dataclass(frozen=True, slots=True)
class HelpdeskConfig:
    """``[helpdesk]``: who confirms candidate defects by replying, and how replies are trusted."""

    recipients: tuple[str, ...] = ()  # where candidate mails go
    allowed_senders: tuple[str, ...] = ()  # addresses or domains whose replies may act
    reply_address: str = ""  # the mailbox triagebot reads; Reply-To of its mails
    plus_addressing: bool = True  # Reply-To: local+c-<token>@domain
    token_secret: Secret | None = None  # HMAC key for reply tokens (token_secret_env/_file)
    token_ttl_days: float = 30.0
    trusted_authserv_ids: tuple[str, ...] = ()  # Authentication-Results stamped by these count
    # Token replies too need a trusted, aligned dkim/dmarc pass (sites whose staff mail is
    # always signed); by default a token reply acts unless a trusted stamp shows a failure.
    require_dkim: bool = False
    reminder_after_hours: float = 72.0  # one reminder for a candidate nobody answered
    ack_interval_minutes: float = 10.0  # at most one acknowledgement per thread per interval
    # ``undo`` reverses the sender's last command on a candidate up to this long after it.
    undo_window_minutes: float = 60.0
    # Candidate mails in any rolling hour; the candidates above it go in one summary mail.
    max_candidate_mails_per_hour: int = 20

    def problems(self) -> Iterator[tuple[str, str]]:
        if not self.recipients:
            yield "recipients", "at least one helpdesk address is needed"
        yield from _address_problems("recipients", self.recipients)
        if not self.allowed_senders:
            yield "allowed_senders", "list the addresses or domains whose replies may act"
        for entry in self.allowed_senders:
            if not _SENDER_ENTRY.fullmatch(entry.strip()):
                yield "allowed_senders", f"{entry!r} is neither an address nor a domain"
        if self.max_candidate_mails_per_hour < 1:
            yield "max_candidate_mails_per_hour", "must be at least 1"
        if self.undo_window_minutes < 0:
            yield "undo_window_minutes", "must be 0 (undo is refused) or more minutes"
        if not self.reply_address or "@" not in self.reply_address:
            yield "reply_address", "the address of the mailbox triagebot reads"
        if self.token_secret is None:
            yield "token_secret_env", "a secret for reply tokens is required (or token_secret_file)"
        elif len(self.token_secret.reveal()) < 16:
            yield "token_secret_env", "the token secret must be at least 16 characters"


#: Field separators a digest's CSV may use (``[[digest]].csv_delimiter``).
CSV_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """One ``[[digest]]``: a scheduled summary mail for an audience."""

    name: str = ""
    audience: Literal["developers", "helpdesk"] = "developers"
    recipients: tuple[str, ...] = ()
    schedule: str = "0 8 * * mon-fri"  # cron: minute hour day month day-of-week
    timezone: str = "UTC"
    send_empty: bool = False
    threshold: int = 10  # occurrences in the period that mark a defect in the digest
    #: Where replies to the digest go: a person or team, never triagebot's own mailbox
    #: (default: the first recipient).
    reply_to: str = ""
    #: The CSV attachment's field separator: ";" for spreadsheet programs set to German.
    csv_delimiter: str = ","

    def problems(self) -> Iterator[tuple[str, str]]:
        if not self.name:
            yield "name", "every digest needs a name"
        if not self.recipients:
            yield "recipients", "at least one recipient is needed"
        yield from _address_problems("recipients", self.recipients)
        if self.reply_to:
            yield from _address_problems("reply_to", (self.reply_to,))
        if self.csv_delimiter not in CSV_DELIMITERS:
            shown = ", ".join(repr(d) for d in CSV_DELIMITERS)
            yield "csv_delimiter", f"{self.csv_delimiter!r} is not one of {shown}"
        if self.threshold < 1:
            yield "threshold", "must be at least 1 occurrence"
        try:
            zone = self.zone
        except ValueError as exc:
            yield "timezone", str(exc)
            return
        # Imported here: only configs with digests pay for it (replay has none).
        from cronsim import CronSim, CronSimError  # noqa: PLC0415

        try:
            CronSim(self.schedule, datetime(2000, 1, 1, tzinfo=zone))
        except CronSimError as exc:
            yield "schedule", f"not a cron line (minute hour day month weekday): {exc}"

    @property
    def replies_to(self) -> str:
        """The digest's ``Reply-To``."""
        return self.reply_to or self.recipients[0]

    @property
    def zone(self) -> ZoneInfo:
        """The digest's time zone (``ValueError`` naming an unknown one)."""
        try:
            return ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """``[service]``: how the running service treats each mail."""

    analysis_timeout: float = 5.0  # seconds one mail's analysis may take before it is set aside
    #: Analysis processes (default: one per CPU); 0: in the service's own process, no time limit.
    workers: int | None = None
    #: The installation's name in the subject of every mail it sends (default: the applied
    #: environment's name, else the host name).
    name: str = ""
    #: Replicas sharing a PostgreSQL store: seconds after which a standby reads the mailbox
    #: when the replica reading it froze (one that stops or dies hands over at once).
    failover: float = DEFAULT_FAILOVER

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.name and not _NAME.fullmatch(self.name):
            yield "name", f"{self.name!r} {NAME_RULE}"
        if not 1 <= self.failover <= 3600:
            yield "failover", "must be from 1 to 3600 seconds"
        if self.analysis_timeout <= 0:
            yield "analysis_timeout", "must be more than 0 seconds"
        if self.workers is not None and not 0 <= self.workers <= 256:
            yield "workers", "must be 0 (in process, no time limit) to 256 worker processes"

    @property
    def processes(self) -> int:
        """Analysis processes to run: ``workers``, or one per CPU when it is not set."""
        if self.workers is None:
            return os.cpu_count() or 1
        return self.workers


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """``[store]``: SQLAlchemy URL of the state database (SQLite file by default).

    The URL carries no password: ``password_env`` / ``password_file`` supply it, and it is set
    into the URL only when the engine is made (``services.store_url``).
    """

    url: str = DEFAULT_STORE_URL
    password: Secret | None = None
    #: Days occurrences and processed-mail records are kept one by one; older occurrences
    #: are folded into per-day counts (defects' totals stay), older mail records deleted.
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: PostgreSQL: seconds a statement waits for a lock, runs at all, and a transaction may
    #: sit idle before the server ends its session (SQLite ignores them).
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    idle_in_transaction_timeout: float = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.retention_days < MIN_RETENTION_DAYS:
            yield "retention_days", (
                f"must be at least {MIN_RETENTION_DAYS} days (rules and digests count "
                "recent occurrences one by one)"
            )
        try:
            inline = urlsplit(self.url).password
        except ValueError:
            inline = None  # SQLAlchemy judges the URL itself when the store opens
        if inline:
            yield "url", "a password in the URL is a secret written inline: use password_env"
        for key in ("lock_timeout", "statement_timeout", "idle_in_transaction_timeout"):
            if not 0.001 <= getattr(self, key) <= 86_400:
                yield key, "must be from 0.001 to 86400 seconds (0 would wait forever)"


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """``[rules]``: the folder of ``*.toml`` triage rules; without one, the shipped defaults
    (``triagebot.shipped``), so an installation from the wheel has rules wherever it runs."""

    path: Path | None = None


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """``[logging]``: level and format (``auto``: JSON lines unless stderr is a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True, slots=True)
class SignatureConfig:
    """``[signature]``: which frames are the application's own (globs on name or file path)."""

    version: str = "v6"
    app_frames: tuple[str, ...] = ()
    library_frames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    """``[reports]``: how error reports are recognised and where their metadata is."""

    senders: tuple[str, ...] = ()  # addresses or domains whose mail is always a report
    #: Report header → metadata field; empty: the parser's own (``X-Application`` ...).
    metadata_headers: dict[str, str] = field(default_factory=dict)
    #: Work per mail is bounded: characters of text searched per part, frames kept per trace
    #: (the same defaults as ``mail.parse.ParseSettings``; what is cut shows in ``explain``).
    max_part_chars: int = 65_536
    max_frames: int = 1_000

    def problems(self) -> Iterator[tuple[str, str]]:
        if not 1_024 <= self.max_part_chars <= 16_777_216:
            yield "max_part_chars", "must be 1024 to 16777216 characters"
        if not 10 <= self.max_frames <= 100_000:
            yield "max_frames", "must be 10 to 100000 frames"


@dataclass(frozen=True, slots=True)
class Environment:
    """The environment applied to this run: its name, what chose it, and which keys its
    tables set."""

    name: str
    source: str  # what chose it: the TRIAGEBOT_ENV variable, or a key in the file
    #: (section, key) → the table that set it: ("smtp", "port") → "[environments.a.smtp]";
    #: sections are "smtp", "helpdesk" and "digest.<digest name>".
    keys: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def tables(self) -> tuple[str, ...]:
        """The environment's tables that set keys, in file order."""
        return tuple(dict.fromkeys(self.keys.values()))


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``None`` sections are disabled features."""

    path: Path | None = None
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    listener: ListenerConfig | None = None
    metrics: MetricsConfig | None = None
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    smtp: SmtpConfig | None = None
    #: Things that work but should change (deprecated keys), logged once at start.
    warnings: tuple[str, ...] = ()
    helpdesk: HelpdeskConfig | None = None
    digests: tuple[DigestConfig, ...] = ()
    #: Optional sections present but wrong, as (section, error naming the key): each one's
    #: feature is off (one warning at start), the rest runs, ``check-config`` fails.
    broken: tuple[tuple[str, str], ...] = ()
    #: The environment applied (None: the file's settings as written), and every one defined.
    environment: Environment | None = None
    environments: tuple[str, ...] = ()

    @property
    def installation(self) -> str:
        """The name in every subject: ``[service] name``, else the applied environment's,
        else this host's, else "triagebot"."""
        if self.service.name:
            return self.service.name
        if self.environment is not None:
            return self.environment.name
        return socket.gethostname().partition(".")[0] or "triagebot"

    def key(self, section: str, key: str) -> str:
        """Where ``key`` of ``section`` (``smtp``, ``helpdesk``, ``digest.NAME``) was written:
        ``[environments.acme-prod.smtp].port`` when the applied environment set it, else the
        base table's ``[smtp].port``."""
        where = self.environment.keys.get((section, key)) if self.environment else None
        return f"{where or _base_table(section)}.{key}"

    @property
    def smtp_error(self) -> str:
        """Why a present ``[smtp]`` section was not usable (mail features off)."""
        return next((error for section, error in self.broken if section == "smtp"), "")

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


#: Section → (dataclass, required). An absent optional section disables its feature; a
#: present but wrong one too (``Config.broken``), while a wrong required one is an error.
_SECTIONS: dict[str, tuple[type[Any], bool]] = {
    "mailbox": (MailboxConfig, True),
    "service": (ServiceConfig, True),
    "listener": (ListenerConfig, False),
    "metrics": (MetricsConfig, False),
    "store": (StoreConfig, True),
    "rules": (RulesConfig, True),
    "logging": (LoggingConfig, True),
    "signature": (SignatureConfig, True),
    "reports": (ReportsConfig, True),
    "helpdesk": (HelpdeskConfig, False),
}
#: Sections read by their own rules below: a broken [smtp] disables mail instead of stopping
#: the service, [[digest]] is a list of tables, and [tracker] holds a table per kind.
_SPECIAL = ("tracker", "smtp", "digest", "environments")
_TRACKER_KEYS = frozenset(f.name for f in fields(TrackerConfig)) - {"tables"}
#: Picks the environment, over ``environment =`` in the file (one file, several units).
ENVIRONMENT_VARIABLE = "TRIAGEBOT_ENV"
#: The top-level key that picks the environment (before any table in the file).
ENVIRONMENT_KEY = "environment"
#: What ``[environments.NAME]`` may override: its ``smtp``, ``helpdesk`` and ``digest.<name>``.
_ENVIRONMENT_PARTS = ("smtp", "helpdesk", "digest")
#: An environment's override tables by section (``smtp``, ``helpdesk``, ``digest.NAME``),
#: each as (the table's name in errors, its keys).
_Overrides = dict[str, tuple[str, dict[str, Any]]]


def load_config(path: Path | str, *, secrets: bool = True) -> Config:
    """Read and validate a TOML file; raises ``ConfigError`` naming the file, or the first bad
    key. ``secrets=False`` (commands that only read the store or mail files) leaves a secret
    whose variable or file is missing empty instead of failing."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(_text(path.read_bytes()))
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeError as exc:
        raise ConfigError(str(path), f"{exc}: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    return config_from_dict(data, path, secrets=secrets)


def _text(raw: bytes) -> str:
    """The file as text: UTF-8, with or without the byte-order mark Notepad writes. UTF-16
    (PowerShell's ``>``, Notepad's "Unicode") is named as such, not as a TOML syntax error."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:64]:
        raise UnicodeError("written in UTF-16")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UnicodeError(f"not UTF-8 text (byte {exc.start})") from None


def config_from_dict(
    data: dict[str, Any], path: Path | None = None, *, secrets: bool = True
) -> Config:
    """Build a ``Config`` from parsed TOML (``path`` anchors relative paths; ``secrets`` as
    in ``load_config``)."""
    base = path.parent if path else Path.cwd()
    unknown = sorted(set(data) - set(_SECTIONS) - set(_SPECIAL) - {ENVIRONMENT_KEY})
    if unknown:
        known = ", ".join((*_SECTIONS, *_SPECIAL))
        raise ConfigError(f"[{unknown[0]}]", f"unknown section (known: {known})")
    environment, defined, overrides = _environment(data)
    sections: dict[str, Any] = {}
    broken: list[tuple[str, str]] = []
    for name, (cls, required) in _SECTIONS.items():
        table = data.get(name)
        override = overrides.get(name)
        if table is None and override is None:
            if required:
                sections[name] = read_section(cls, {}, f"[{name}]", base)
            continue
        try:
            if not isinstance(table, dict | None):
                raise ConfigError(f"[{name}]", "must be a table")
            merged, origins = _overlay(cls, table or {}, override)
            # every command reading the store needs its password
            needed = secrets or name == "store"
            sections[name] = read_section(
                cls, merged, f"[{name}]", base, secrets=needed, origins=origins
            )
        except ConfigError as exc:
            if required:
                raise
            broken.append((name, str(exc)))
    sections["tracker"], warnings = _tracker(data.get("tracker", {}), base)
    store: StoreConfig = sections["store"]
    sections["store"] = replace(store, url=_anchor_sqlite(store.url, base))
    if "smtp" in data or "smtp" in overrides:
        try:
            sections["smtp"] = _smtp(data.get("smtp", {}), overrides.get("smtp"), base, secrets)
        except ConfigError as exc:
            broken.append(("smtp", str(exc)))
    own = _own_addresses(sections.get("smtp"), sections.get("helpdesk"))
    sections["digests"] = _digests(data.get("digest", []), overrides, base, own, broken)
    return Config(
        path=path,
        warnings=tuple(warnings),
        broken=tuple(broken),
        environment=environment,
        environments=defined,
        **sections,
    )


def _environment(data: Mapping[str, Any]) -> tuple[Environment | None, tuple[str, ...], _Overrides]:
    """The environment to apply, every one defined, and the applied one's override tables.

    Tables: ``[environments.NAME]`` with sub-tables ``smtp``, ``helpdesk`` and
    ``digest.<digest name>``, and the older ``[smtp.environments.NAME]`` (its keys override
    ``[smtp]``). Both may name one environment, but only one of them may hold its SMTP keys.
    Every environment's tables are checked for their shape; only the applied one's keys are
    read (``check-config`` with ``TRIAGEBOT_ENV=NAME`` checks another's).
    """
    general = _tables_of(data.get("environments", {}), "[environments]")
    smtp = data.get("smtp")
    older = _tables_of(
        smtp.get("environments", {}) if isinstance(smtp, dict) else {}, "[smtp.environments]"
    )
    for name, table in general.items():
        _check_environment(name, table, also_smtp=name in older)
    for name in older:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"[smtp.environments.{name}]", f"{name!r} {NAME_RULE}")
    defined = tuple(dict.fromkeys((*general, *older)))
    name, key, source = _chosen(data)
    if not name:
        return None, defined, {}
    if name not in defined:
        where = f"[environments.{name}]" + (f" or [smtp.environments.{name}]" if older else "")
        known = ", ".join(defined) or "none"
        raise ConfigError(key, f"the file has no {where} (defined: {known})")
    table = general.get(name, {})
    overrides: _Overrides = {}
    if name in older:
        overrides["smtp"] = (f"[smtp.environments.{name}]", older[name])
    for part in ("smtp", "helpdesk"):
        if part in table:
            overrides[part] = (f"[environments.{name}.{part}]", table[part])
    for digest, keys in table.get("digest", {}).items():
        overrides[f"digest.{digest}"] = (f"[environments.{name}.digest.{digest}]", keys)
    origins = {(section, k): where for section, (where, keys) in overrides.items() for k in keys}
    return Environment(name, source, origins), defined, overrides


def _tables_of(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``value`` as a table of environment tables (``where``: its name in errors)."""
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise ConfigError(where, f"must hold one table per environment: {where[:-1]}.NAME]")
    return value


def _check_environment(name: str, table: Mapping[str, Any], *, also_smtp: bool) -> None:
    """The shape of ``[environments.NAME]``: a valid name and only the sub-tables it may
    override; its keys are read with the section they override."""
    where = f"[environments.{name}]"
    if not _NAME.fullmatch(name):
        raise ConfigError(where, f"{name!r} {NAME_RULE}")
    for part, value in table.items():
        if part not in _ENVIRONMENT_PARTS:
            raise ConfigError(
                f"{where}.{part}",
                "unknown: an environment overrides keys of its smtp, helpdesk and "
                f"digest.<digest name> tables ([environments.{name}.smtp] ...)",
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{part}", f"must be a table: [environments.{name}.{part}]")
        if part == "digest" and not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(
                f"{where}.digest",
                f"must hold one table per digest: [environments.{name}.digest.<digest name>]",
            )
    if also_smtp and "smtp" in table:
        raise ConfigError(
            f"[environments.{name}.smtp]",
            f"[smtp.environments.{name}] overrides [smtp] for this environment too: keep one "
            f"(move its keys into [environments.{name}.smtp])",
        )


def _chosen(data: Mapping[str, Any]) -> tuple[str, str, str]:
    """The environment's name ("" for none), the key an error about it names, and what chose
    it: ``TRIAGEBOT_ENV`` wins over ``environment =`` in the file, whose older spelling is
    ``[smtp] environment``."""
    smtp = data.get("smtp")
    written = {
        ENVIRONMENT_KEY: data.get(ENVIRONMENT_KEY, ""),
        "[smtp].environment": smtp.get("environment", "") if isinstance(smtp, dict) else "",
    }
    for key, value in written.items():
        if not isinstance(value, str):
            raise ConfigError(key, "must be a string: the name of an [environments.NAME] table")
    top, older = written.values()
    if top and older and top != older:
        raise ConfigError(
            "[smtp].environment", f"{older!r} differs from {ENVIRONMENT_KEY} = {top!r}: keep one"
        )
    key = ENVIRONMENT_KEY if top else "[smtp].environment"
    in_file = top or older
    variable = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if variable:
        over = f", over {key} = {in_file!r} in the file" if in_file and in_file != variable else ""
        return variable, ENVIRONMENT_VARIABLE, f"the {ENVIRONMENT_VARIABLE} variable{over}"
    return in_file, key, f"{key} = {in_file!r} in the file"


def _overlay(
    cls: type[Any], table: Mapping[str, Any], override: tuple[str, dict[str, Any]] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``table`` with an environment's keys over it, and where each of those came from. A
    secret the environment gives (``_env`` or ``_file``) replaces the base's in either form,
    so an environment may read from a file what the base reads from a variable."""
    merged = dict(table)
    if override is None:
        return merged, {}
    where, keys = override
    secret_names = _secret_names(cls)
    for key in keys:
        stem = key.removesuffix("_env").removesuffix("_file")
        if stem != key and stem in secret_names:
            merged.pop(f"{stem}_env", None)
            merged.pop(f"{stem}_file", None)
    merged.update(keys)
    return merged, dict.fromkeys(keys, where)


def _base_table(section: str) -> str:
    """A section's own table as errors name it: ``[smtp]``, ``[[digest]] daily``."""
    kind, _, name = section.partition(".")
    return f"[[digest]] {name}" if kind == "digest" else f"[{section}]"


def _tracker(table: Any, base: Path) -> tuple[TrackerConfig, list[str]]:
    """``[tracker]`` and its ``[tracker.<kind>]`` tables.

    Keys of the configured kind written straight into ``[tracker]`` (as the first releases
    had Jira's) are moved into its table, with a warning that says where they belong.
    """
    if not isinstance(table, dict):
        raise ConfigError("[tracker]", "must be a table")
    kind = table.get("kind", DEFAULT_TRACKER)
    if not isinstance(kind, str):
        raise ConfigError("[tracker].kind", "must be a string")
    own = {k: v for k, v in table.items() if k in _TRACKER_KEYS}
    tables = {k: dict(v) for k, v in table.items() if isinstance(v, dict)}
    flat = sorted(set(table) - set(own) - set(tables))
    warnings = []
    if flat:
        mine = tables.setdefault(kind, {})
        for key in flat:
            if key in mine:
                raise ConfigError(f"[tracker].{key}", f"also given in [tracker.{kind}]: keep one")
            mine[key] = table[key]
        warnings.append(
            f"[tracker] keys {', '.join(flat)} belong in [tracker.{kind}]; "
            "they were read from there (move them: this form will stop working)"
        )
    section: TrackerConfig = read_section(TrackerConfig, own, "[tracker]", base)
    return replace(section, tables=tables), warnings


def _smtp(
    table: Any, override: tuple[str, dict[str, Any]] | None, base: Path, secrets: bool
) -> SmtpConfig:
    """``[smtp]`` with the applied environment's SMTP keys over it (``_environment``)."""
    if not isinstance(table, dict):
        raise ConfigError("[smtp]", "must be a table")
    own = {k: v for k, v in table.items() if k not in ("environments", "environment")}
    merged, origins = _overlay(SmtpConfig, own, override)
    section: SmtpConfig = read_section(
        SmtpConfig, merged, "[smtp]", base, secrets=secrets, origins=origins
    )
    return section


def _own_addresses(smtp: SmtpConfig | None, helpdesk: HelpdeskConfig | None) -> dict[str, str]:
    """triagebot's own mailboxes (``mailbox_of``) → the key that names each."""
    keys = {
        "[smtp].from_address": smtp.from_address if smtp else "",
        "[smtp].username": smtp.username if smtp else "",
        "[helpdesk].reply_address": helpdesk.reply_address if helpdesk else "",
    }
    return {mailbox_of(a): key for key, a in reversed(keys.items()) if is_address(a.strip())}


def _digests(
    tables: Any,
    overrides: _Overrides,
    base: Path,
    own: Mapping[str, str],
    broken: list[tuple[str, str]],
) -> tuple[DigestConfig, ...]:
    """The ``[[digest]]`` tables that are right, each with the applied environment's
    ``digest.<name>`` keys over it; each wrong one goes to ``broken`` (that digest is off,
    the others run), and so does an override naming no digest. A digest to triagebot's own
    address is wrong: triagebot would read it back as incoming mail."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        broken.append(("digest", str(ConfigError("[[digest]]", "must be an array of tables"))))
        return ()
    digests: list[DigestConfig] = []
    for table in tables:
        name = table.get("name") or "(no name)"
        where = f"[[digest]] {name}"
        override = overrides.get(f"digest.{name}")
        try:
            if override is not None and "name" in override[1]:
                raise ConfigError(
                    f"{override[0]}.name",
                    "a digest keeps its name: the table's own name says which digest it changes",
                )
            merged, origins = _overlay(DigestConfig, table, override)
            digest = read_section(DigestConfig, merged, where, base, origins=origins)
            if any(d.name == digest.name for d in digests):
                raise ConfigError(f"{where}.name", f"{name!r} is used twice")
            addressed = [("recipients", a) for a in digest.recipients]
            for key, address in [*addressed, ("reply_to", digest.reply_to)]:
                if address and mailbox_of(address) in own:
                    raise ConfigError(
                        f"{origins.get(key, where)}.{key}",
                        f"{address!r} is triagebot's own address ({own[mailbox_of(address)]}): "
                        "it would read mail meant for people back as incoming mail",
                    )
        except ConfigError as exc:
            broken.append(("digest", str(exc)))
            continue
        digests.append(digest)
    names = [t.get("name") for t in tables]
    for section, (where, _) in overrides.items():
        kind, _, name = section.partition(".")
        if kind == "digest" and name not in names:
            known = ", ".join(str(n) for n in names if n) or "none"
            error = ConfigError(where, f"no [[digest]] named {name!r} (defined: {known})")
            broken.append(("digest", str(error)))
    return tuple(digests)


def read_section(
    cls: type[Any],
    table: Mapping[str, Any],
    where: str,
    base: Path,
    *,
    secrets: bool = True,
    origins: Mapping[str, str] | None = None,
) -> Any:
    """``table`` as an instance of the dataclass ``cls``; every problem is a ``ConfigError``
    naming ``<where>.key`` (``where``: ``[tracker.jira]``, ``[[digest]] daily``), or the table
    ``origins`` says the key came from (an environment's). Adapters read their own sections
    with it. ``secrets=False``: an unset secret is left empty."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    secret_names = _secret_names(cls)

    def key_of(key: str) -> str:
        """``<where>.key``; a secret's problem names the form given (``_env`` or ``_file``)."""
        stem = key.removesuffix("_env").removesuffix("_file")
        if stem != key and stem in secret_names:
            key = next((k for k in (f"{stem}_env", f"{stem}_file") if k in table), key)
        return f"{(origins or {}).get(key, where)}.{key}"

    for key in table:
        stem = key.removesuffix("_env").removesuffix("_file")
        if key in secret_names:
            raise ConfigError(
                key_of(key), f"secrets are not written inline: use {key}_env or {key}_file"
            )
        if key not in names and not (stem in secret_names and key != stem):
            raise ConfigError(key_of(key), "unknown key")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in secret_names:
            try:
                secret = _secret(table, key_of, f.name, base)
            except ConfigError:
                if secrets:
                    raise
                secret = Secret("", "not read")
            if secret is not None:
                values[f.name] = secret
        elif f.name in table:
            values[f.name] = _coerce(table[f.name], hints[f.name], key_of(f.name), base)
        elif isinstance(f.default, Path):  # a default path, like a written one, is anchored
            values[f.name] = _anchor(f.default, base)
    section = cls(**values)
    for key, problem in getattr(section, "problems", lambda: iter(()))():
        raise ConfigError(key_of(key), problem)
    return section


def _secret_names(cls: type[Any]) -> set[str]:
    """The fields of ``cls`` that are secrets (written as ``<name>_env`` / ``<name>_file``)."""
    hints = typing.get_type_hints(cls)
    return {f.name for f in fields(cls) if _is_secret(hints[f.name])}


def _secret(
    table: Mapping[str, Any], key_of: Callable[[str], str], name: str, base: Path
) -> Secret | None:
    """The secret ``name`` from ``<name>_env`` or ``<name>_file`` (``key_of``: a key's path
    in errors)."""
    env_key, file_key = f"{name}_env", f"{name}_file"
    if env_key in table and file_key in table:
        raise ConfigError(key_of(env_key), f"give either {env_key} or {file_key}, not both")
    if env_key in table:
        var = table[env_key]
        if not isinstance(var, str) or not var:
            raise ConfigError(key_of(env_key), "must name an environment variable")
        value = os.environ.get(var)
        if not value:
            raise ConfigError(key_of(env_key), f"environment variable {var} is not set")
        return Secret(value, f"env:{var}")
    if file_key in table:
        raw = table[file_key]
        if not isinstance(raw, str) or not raw:
            raise ConfigError(key_of(file_key), "must be a file path")
        secret_path = _anchor(Path(raw), base)
        try:
            value = secret_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                key_of(file_key), f"cannot read {secret_path}: {exc.strerror}"
            ) from None
        if not value:
            raise ConfigError(key_of(file_key), f"{secret_path} is empty")
        return Secret(value, f"file:{secret_path}")
    return None


def _coerce(value: Any, hint: Any, key: str, base: Path) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, base)
    if origin is Literal:
        if value not in args:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, "must be a list of strings")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(key, "must be a table of strings")
        return {str(k).lower(): v for k, v in value.items()}
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(key, "must be a path")
        return _anchor(Path(value), base)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, "must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "must be a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, "must be a number")
        if value < 0:
            raise ConfigError(key, "must not be negative")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, "must be a string")
        return value
    raise ConfigError(key, f"unsupported type {hint}")  # pragma: no cover - programming error


def _is_secret(hint: Any) -> bool:
    return Secret in typing.get_args(hint)


def _anchor(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path)


def _anchor_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite file URL relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(_anchor(Path(url.removeprefix(prefix)), base))
    return url


def is_address(value: str) -> bool:
    """A bare ``local@domain`` address (no display name)."""
    return _ADDRESS.fullmatch(value) is not None


def mailbox_of(address: str) -> str:
    """The mailbox an address delivers to: lower case, without a ``+tag``."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.partition('+')[0]}@{domain}"


def _address_problems(key: str, addresses: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for address in addresses:
        if not is_address(address):
            yield key, f"{address!r} is not an e-mail address (write local@domain, no name)"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
