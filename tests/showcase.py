"""A busy installation's mails, for the browser tests and ``bench/screenshots.py``: a store
with hundreds of defects and candidates (long titles, several applications, environments
and versions), and the two digests and a candidate mail rendered from it into a folder.

Everything goes through triagebot's own code: the store records outcomes, the digests are
built and rendered by ``triagebot.digest``, the candidate mail is composed by the Notifier.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.factories import DEV, HELPDESK, JIRA, MON_8, make_outcome, make_signature, resolve
from tests.helpers import jira_config
from triagebot.config import Config, HelpdeskConfig, Secret, SmtpConfig, config_from_dict
from triagebot.confirm import Notifier
from triagebot.digest import DigestRunner
from triagebot.outbox import run_effects
from triagebot.pipeline import Outcome
from triagebot.rules import Action
from triagebot.smtp import Mailer
from triagebot.store import DefectState, Store
from triagebot.trackers.local import LocalTracker

__all__ = ["MAILS", "Mail", "busy_config", "populate", "write_mails"]

#: The mails ``write_mails`` writes, by file stem.
MAILS = ("dev-digest", "helpdesk-digest", "candidate")

_APPLICATIONS = ("Acme Desk Client", "Acme Billing Service", "Acme Portal")
_ENVIRONMENTS = ("Production", "Staging", "Customer-A on premises")
_FRAMES = (
    "Acme.Billing.Invoices.InvoiceTotalsCalculator.ComputeTotalsAsyncWithCurrencyRounding",
    "Acme.Cases.CaseViewModel.LoadAsync",
    "Acme.Portal.Controllers.AccountController.Login",
)
_TITLES = (
    "NullReferenceException in CaseViewModel.LoadAsync",
    "SqlException in CaseRepository.GetById",
    "KeyError in invoice.compute_totals",
    "TypeError in checkout.applyVoucher",
)
#: Titles as long and unbreakable as real ones get.
_LONG_TITLE = (
    "InvalidOperationException in InvoiceTotalsCalculator.ComputeTotalsAsyncWithCurrencyRounding"
    "(System.Collections.Generic.Dictionary`2[System.String,System.Decimal])"
)


@dataclass(frozen=True, slots=True)
class Mail:
    """One written mail: its HTML file (images next to it) and the HTML's size in bytes."""

    name: str
    html: Path
    html_bytes: int


def busy_config(folder: Path) -> Config:
    """Digests, a helpdesk and Jira links; mail settings that compose (nothing is sent)."""
    base = config_from_dict({"store": {"url": f"sqlite:///{folder / 'state.db'}"}})
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=2525,
        security="starttls",
        username="triagebot@example.test",
        password=Secret("unused-password", "showcase"),
        from_address="triagebot@example.test",
        from_name="Triage Bot",
    )
    helpdesk = HelpdeskConfig(
        recipients=("helpdesk@example.test",),
        allowed_senders=("example.test",),
        reply_address="triage@example.test",
        token_secret=Secret("showcase-secret-0123456789", "showcase"),
    )
    return dataclasses.replace(
        base,
        smtp=smtp,
        helpdesk=helpdesk,
        digests=(DEV, dataclasses.replace(HELPDESK, reply_to="lead@example.test")),
        tracker=jira_config(JIRA + "/", folder),
    )


def populate(store: Store, *, filed: int, candidates: int, end: datetime = MON_8) -> None:
    """``filed`` defects (in the local tracker, three of them resolved) and ``candidates``,
    reported in the day before ``end`` and (half of them) the day before that, in growing
    and shrinking numbers."""
    day = timedelta(days=1)
    outcomes = []
    for n in range(filed + candidates):
        action = Action.FILE if n < filed else Action.CANDIDATE
        signature = make_signature(f"{n:016x}", frames=(_FRAMES[n % 3], "Acme.Shell.Main"))
        title = _LONG_TITLE if n % 5 == 0 else _TITLES[n % len(_TITLES)]
        signature = dataclasses.replace(signature, title=f"{title} ({n})")
        counts = ((n % 4) + 1 if n % 2 == 0 else 0, (n % 7) + 1)  # previous, this period
        for period, count in enumerate(counts):
            for k in range(count):
                at = end - day * (2 - period) + timedelta(hours=(n + 5 * k) % 23)
                outcome = make_outcome(
                    f"<busy-{n}-{period}-{k}@example.test>",
                    action,
                    signature,
                    version=f"4.{n % 6}.{k}",
                    environment=_ENVIRONMENTS[(n + k) % 3],
                    frames=(_FRAMES[n % 3],),
                )
                report = dataclasses.replace(
                    outcome.report,
                    metadata={**outcome.report.metadata, "application": _APPLICATIONS[n % 3]},
                )
                outcomes.append((at, dataclasses.replace(outcome, report=report)))
    batches: dict[datetime, list[Outcome]] = {}
    for at, outcome in outcomes:
        batches.setdefault(at, []).append(outcome)
    for at in sorted(batches):
        store.record(batches[at], now=at)
    while run_effects(store, LocalTracker(store), end, limit=500):
        pass
    for key in ("LOCAL-3", "LOCAL-8", "LOCAL-13"):  # fixed, yet reported again: regressions
        resolve(store, key, "Done")


def write_mails(config: Config, store: Store, folder: Path, now: datetime = MON_8) -> list[Mail]:
    """The developer and helpdesk digests of the day before ``now`` and the mail of the
    candidate reported most, as HTML files (with their images) in ``folder``."""
    assert config.smtp is not None and config.helpdesk is not None
    mailer = Mailer(config.smtp)
    runner = DigestRunner(config, store, mailer)
    written = []
    for digest, stem in zip(config.digests, MAILS, strict=False):
        rendered = runner.preview(digest.name, now, since=now - timedelta(days=1))
        rendered.write(folder, stem)
        written.append(Mail(stem, folder / f"{stem}.html", len(rendered.html.encode())))
    notifier = Notifier(mailer, config.helpdesk, store, installation="customer-a-prod")
    waiting = [d for d in store.defects() if d.state == DefectState.CANDIDATE]
    top = max(waiting, key=lambda d: (d.occurrences, -d.id))
    message = notifier.candidate_mail(
        store.defect(top.id), "helpdesk@example.test", "candidate", now
    )
    part = message.get_body(("html",))
    assert part is not None
    html = str(part.get_content())
    (folder / "candidate.html").write_text(html, encoding="utf-8")
    written.append(Mail("candidate", folder / "candidate.html", len(html.encode())))
    return written
