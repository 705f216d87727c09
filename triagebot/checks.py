"""``triagebot check-config``: every feature enabled or disabled, with the reason, after really
connecting to each configured service (nothing is sent, filed or moved)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

import structlog

from triagebot.clock import Clock, system_clock
from triagebot.config import ENVIRONMENT_KEY, ENVIRONMENT_VARIABLE, Config, DigestConfig
from triagebot.errors import TriagebotError
from triagebot.identity import subject
from triagebot.mail.imap import ImapSource
from triagebot.rules import RuleSet
from triagebot.scheduler import next_fires, trigger_for
from triagebot.services import build_mailbox, imap_settings, open_store
from triagebot.shipped import rules_folder
from triagebot.smtp import MAIL_FEATURES, NO_LOGIN, Mailer, static_problems
from triagebot.store import Store
from triagebot.tracker_move import kind_warning
from triagebot.trackers import configured
from triagebot.trackers.base import TrackerContext

log = structlog.get_logger(__name__)

#: A signature no defect carries: searching for it proves login and search permission.
PROBE_SIGNATURE = "0" * 16
#: Seconds the tracker probe waits per request, and for one call with its retries.
PROBE_TIMEOUT = 4
PROBE_DEADLINE = 6.0


@dataclass(frozen=True, slots=True)
class Check:
    feature: str
    status: str  # "enabled", "disabled" or "error"
    detail: str


def run_checks(
    config: Config, send_test: str | None = None, clock: Clock = system_clock
) -> list[Check]:
    store = open_store(config)
    try:
        return [
            _guard("environment", lambda: _environment(config)),
            _guard("store", lambda: _store(store, config)),
            _guard("rules", lambda: _rules(config)),
            _guard("mailbox", lambda: _mailbox(config)),
            _guard("listener", lambda: _listener(config)),
            _guard("metrics", lambda: _metrics(config)),
            _guard("tracker", lambda: _tracker(store, config)),
            smtp := _guard("smtp", lambda: _smtp(config, send_test)),
            *(_guard("digest", partial(_digest, d, smtp, clock())) for d in config.digests),
            *(
                Check(section, "error", f"{error}; this feature is off, the rest runs")
                for section, error in config.broken
                if section != "smtp"  # the smtp check says it
            ),
        ]
    finally:
        store.close()


def _environment(config: Config) -> Check:
    """Which environment's tables were applied and what chose it, and the installation name
    every subject carries, so a deployment of many is checked for the right customer."""
    name = f"installation name {config.installation!r}"
    env = config.environment
    if env is None:
        defined = f" (defined: {', '.join(config.environments)})" if config.environments else ""
        detail = f"none applied: neither {ENVIRONMENT_VARIABLE} nor {ENVIRONMENT_KEY} = is set"
        return Check("environment", "disabled", f"{detail}{defined}; {name}")
    tables = ", ".join(env.tables) or "no keys"
    return Check("environment", "enabled", f"{env.name} from {env.source}: {tables}; {name}")


def _guard(feature: str, check: Callable[[], Check]) -> Check:
    try:
        result = check()
    except (TriagebotError, OSError, ValueError) as exc:
        result = Check(feature, "error", str(exc))
    # debug: check-config prints each result; at info a terminal would show it twice
    log.debug("check.result", feature=result.feature, status=result.status, detail=result.detail)
    return result


def _store(store: Store, config: Config) -> Check:
    store.migrate()
    return Check("store", "enabled", store.engine.url.render_as_string(hide_password=True))


def _rules(config: Config) -> Check:
    """A folder the config names must exist: the service would make every report a candidate."""
    folder = rules_folder(config.rules.path)
    if not folder.is_dir():
        return Check("rules", "error", f"[rules].path: folder {folder} does not exist")
    rules = RuleSet.load(folder)
    where = folder if config.rules.path else f"{folder} (shipped defaults)"
    return Check("rules", "enabled", f"{len(rules.rules)} rules from {where}")


def _mailbox(config: Config) -> Check:
    mailbox = config.mailbox
    if mailbox.kind == "maildir" and not mailbox.path.is_dir():  # looked at, never created
        return Check("mailbox", "error", f"[mailbox].path: Maildir {mailbox.path} does not exist")
    # One connection attempt: an unreachable server is reported now, not after the back-off.
    source = (
        ImapSource(replace(imap_settings(mailbox), reconnect_attempts=1))
        if mailbox.kind == "imap"
        else build_mailbox(mailbox)
    )
    source.open()
    source.close()
    where = (
        str(mailbox.path)
        if mailbox.kind == "maildir"
        else f"imap {mailbox.username}@{mailbox.host}:{mailbox.effective_port}/{mailbox.folder}"
    )
    return Check("mailbox", "enabled", f"{mailbox.kind}: {where} (opened)")


def _listener(config: Config) -> Check:
    listener = config.listener
    if listener is None:
        return Check("listener", "disabled", "no [listener] section")
    _bind(listener.host, listener.port)
    auth = "AUTH" if listener.username else "no AUTH"
    return Check("listener", "enabled", f"smtp {listener.host}:{listener.port} free ({auth})")


def _metrics(config: Config) -> Check:
    if config.metrics is None:  # like [listener]: a wrong section has its own error line
        return Check("metrics", "disabled", "no [metrics] section")
    host, port = config.metrics.address
    _bind(host or "::", port)
    return Check("metrics", "enabled", f"http://{config.metrics.listen}/metrics free")


def _bind(host: str, port: int) -> None:
    """Raises ``OSError`` unless the service could listen on ``host``:``port`` now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _tracker(store: Store, config: Config) -> Check:
    """One search, answered within ``PROBE_TIMEOUT`` + ``PROBE_DEADLINE`` seconds even when
    the tracker is down (the service itself waits far longer before giving up a call)."""
    target = configured(config.tracker, config.base_dir)
    probe = target.impatient(PROBE_TIMEOUT, PROBE_DEADLINE)
    probe.build(TrackerContext(store=store, clock=store.clock)).find(PROBE_SIGNATURE)
    where = target.describe()
    mismatch = kind_warning(store, config.tracker.kind)
    if mismatch is not None:
        return Check("tracker", "error", f"{where} (search works); {mismatch}")
    return Check("tracker", "enabled", f"{where} (search works)")


def _smtp(config: Config, send_test: str | None) -> Check:
    """Mail is off without [smtp], an error when [smtp] is present but cannot work or when the
    server refuses a configured recipient (Exchange says so only at RCPT TO)."""
    smtp = config.smtp
    if smtp is None:
        if config.smtp_error:
            return Check("smtp", "error", config.smtp_error)
        status = "error" if send_test else "disabled"
        return Check("smtp", status, f"no [smtp] section: {', '.join(MAIL_FEATURES)} off")
    problems = static_problems(smtp, partial(config.key, "smtp"))
    if problems:
        return Check("smtp", "error", "; ".join(map(str, problems)))
    mailer = Mailer(smtp)
    recipients = _recipients(config)
    refused = mailer.live_check(list(recipients))
    detail = (
        f"{smtp.host}:{smtp.effective_port} {smtp.security}, login {smtp.username or '(none)'}, "
        f"from {smtp.from_address}"
    )
    if smtp.relay_by_address:
        detail += f" (warning: {NO_LOGIN})"
    if refused:
        which = "; ".join(
            f"{r.address} in {', '.join(recipients[r.address])} refused: "
            f"{r.code} {r.reply}; {r.advice}"
            for r in refused
        )
        skipped = f"; test mail to {send_test} not sent" if send_test else ""
        return Check("smtp", "error", f"{detail}: {which}{skipped}")
    detail += f" (live check passed, {len(recipients)} recipients accepted)"
    if send_test:
        text = (
            f"This is a test mail from triagebot check-config on {config.installation}: "
            "outgoing mail works.\n"
        )
        title = subject(config.installation, "test mail from check-config")
        mailer.send(mailer.compose(to=[send_test], subject=title, text=text, kind="test"))
        detail += f", test mail sent to {send_test}"
    return Check("smtp", "enabled", detail)


def _recipients(config: Config) -> dict[str, list[str]]:
    """Every configured recipient → the keys that name it (``[helpdesk].recipients`` ...)."""
    helpdesk = config.helpdesk.recipients if config.helpdesk else ()
    sources = [(config.key("helpdesk", "recipients"), helpdesk)]
    sources += [
        (config.key(f"digest.{d.name}", "recipients"), d.recipients) for d in config.digests
    ]
    recipients: dict[str, list[str]] = {}
    for key, addresses in sources:
        for address in addresses:
            recipients.setdefault(address, []).append(key)
    return recipients


def _digest(digest: DigestConfig, smtp: Check, now: datetime) -> Check:
    """A digest runs when its schedule is valid and mail is enabled; shows its next three
    runs in its own time zone (so a misread weekday or hour shows at once)."""
    fires = next_fires(trigger_for(digest), now)
    local = [f"{fire.astimezone(digest.zone):%a %Y-%m-%d %H:%M %Z}" for fire in fires]
    when = "next " + ", ".join(local) if local else "never fires"
    detail = (
        f"{digest.name} ({digest.audience}, {len(digest.recipients)} recipients): "
        f"'{digest.schedule}' {digest.timezone}, {when}"
    )
    if smtp.status != "enabled":
        return Check("digest", "disabled", f"{detail}; not sent: smtp is {smtp.status}")
    return Check("digest", "enabled", detail)
