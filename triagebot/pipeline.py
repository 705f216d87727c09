"""The pure pipeline: raw bytes → parse → classify → stack → signature → rules → ``Outcome``.

No I/O happens here beyond reading the rules once at construction, so the same code serves
the dry-run replay, ``explain`` and the daemon, and is fast enough for thousands of mails a
second. Occurrence counts (for rules with an ``occurrences`` condition) come in as a callable.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from triagebot.config import Config, SignatureConfig, config_from_dict
from triagebot.errors import ConfigError
from triagebot.identity import Identity
from triagebot.mail.key import message_key, raw_id
from triagebot.mail.parse import DEFAULT_METADATA_HEADERS, ParseSettings, parse_message
from triagebot.mail.report import Kind, Report
from triagebot.picklable import by_fields
from triagebot.rules import CountFn, Decision, RuleSet
from triagebot.shipped import rules_folder
from triagebot.stack.signature import Signature, Signer, older_versions

log = structlog.get_logger(__name__)

#: What happens to messages that are not error reports.
KIND_ACTIONS: dict[Kind, str] = {
    Kind.REPLY: "reply",
    Kind.AUTO_REPLY: "drop",
    Kind.OTHER: "skip",
    Kind.INVALID: "quarantine",
}


def _no_history(_signature: str, _since: datetime) -> int:
    """Occurrence counts when there is no store (dry runs)."""
    return 0


@by_fields
@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline made of one message."""

    report: Report
    signature: Signature | None = None
    decision: Decision | None = None
    #: The same trace under the older registered algorithms (the store links upgrades).
    previous: tuple[Signature, ...] = ()
    #: Identity in the store: Message-ID plus a digest of the content (``mail.key``).
    key: str = ""

    @property
    def store_key(self) -> str:
        """What the store knows this message by (the Message-ID when no key was made)."""
        return self.key or self.report.message_id

    @property
    def action(self) -> str:
        """The rules' action for a report; for other mail what its kind gets (``bounce``: a
        delivery failure, recorded against the mail it returns and never answered)."""
        if self.decision is not None:
            return self.decision.action
        if self.report.bounce is not None:
            return "bounce"
        return KIND_ACTIONS.get(self.report.kind, "skip")

    def as_json(self) -> dict[str, Any]:
        """The dry-run record (DESIGN.md "Dry-run replay")."""
        report, sig = self.report, self.signature
        root = report.trace.root if report.trace else None
        return {
            "message_id": report.message_id,
            "kind": str(report.kind),
            "signature": sig.value if sig else None,
            "title": sig.title if sig else (report.subject or None),
            "exception_type": root.type if root else None,
            "language": report.trace.language if report.trace else None,
            "frames": report.trace.frame_count if report.trace else 0,
            "rule": self.decision.rule if self.decision else None,
            "action": self.action,
            # extras after the fields DESIGN.md lists, which keep its order
            "signature_version": sig.version if sig else None,
            "reason": report.reason or None,
            "metadata": report.metadata,
        }


def _signer(settings: SignatureConfig, version: str) -> Signer:
    try:
        return Signer(version, settings.app_frames, settings.library_frames)
    except ValueError as exc:
        raise ConfigError("[signature].version", str(exc)) from None


class Pipeline:
    """Everything configured once, then ``process`` per message."""

    def __init__(self, config: Config, rules: RuleSet) -> None:
        self.config = config
        self.signer = _signer(config.signature, config.signature.version)
        self.parse_settings = ParseSettings(
            metadata_headers=config.reports.metadata_headers or DEFAULT_METADATA_HEADERS,
            report_senders=config.reports.senders,
            own_addresses=Identity.from_config(config).addresses,
            max_part_chars=config.reports.max_part_chars,
            max_frames=config.reports.max_frames,
            signature_version=self.signer.version.version,
        )
        self.older_signers = tuple(
            _signer(config.signature, version)
            for version in older_versions(config.signature.version)
        )
        self.rules = rules

    @classmethod
    def from_config(cls, config: Config) -> Pipeline:
        return cls(config, RuleSet.load(rules_folder(config.rules.path)))

    @classmethod
    def default(cls) -> Pipeline:
        """Embedded defaults and the shipped rules (for replay without a config file)."""
        return cls.from_config(config_from_dict({}))

    def process(
        self,
        raw: bytes,
        count: CountFn = _no_history,
        now: datetime | None = None,
        *,
        keyed: bool = True,
    ) -> Outcome:
        """One message through every stage; never raises (an internal failure is ``invalid``).
        ``keyed=False``: no store key (a dry run that records nothing)."""
        return self.decide(self.analyse(raw, keyed=keyed), count, now)

    def analyse(
        self, raw: bytes, *, keyed: bool = True, known: Container[str] = frozenset()
    ) -> Outcome:
        """Parse, classify and sign, without the rules (``decision`` stays None).

        The daemon analyses a whole batch first, so the occurrence counts the rules need are
        fetched with one query for all the batch's signatures. Never raises.

        The older algorithms sign a trace only when the store may need them: it links a
        signature it does not hold through them, so not for a signature in ``known`` (ones
        the store holds, and a stored signature is never removed), nor for a dry run
        (``keyed=False``), which records nothing.
        """
        try:
            report = parse_message(raw, self.parse_settings)
            key = message_key(raw, report.message_id) if keyed else ""
            trace = report.trace
            if report.kind is not Kind.ERROR_REPORT or trace is None:
                return Outcome(report, key=key)
            signature = self.signer.sign(trace)
            previous = (
                tuple(signer.sign(trace) for signer in self.older_signers)
                if keyed and signature.value not in known
                else ()
            )
            return Outcome(report, signature, previous=previous, key=key)
        except Exception as exc:  # one bad mail must never stop the loop
            return _failed(raw_id(raw), exc)

    def decide(
        self, outcome: Outcome, count: CountFn = _no_history, now: datetime | None = None
    ) -> Outcome:
        """The rules' decision for an analysed report (``now``: one clock for a batch)."""
        if outcome.signature is None:
            return outcome
        try:
            decision = self.rules.evaluate(outcome.report, outcome.signature, count, now=now)
        except Exception as exc:  # one bad mail must never stop the loop
            return replace(_failed(outcome.report.message_id, exc), key=outcome.key)
        return replace(outcome, decision=decision)


def _failed(message_id: str, exc: Exception) -> Outcome:
    log.exception("pipeline.failed", message_id=message_id)
    return Outcome(
        Report(message_id=message_id, kind=Kind.INVALID, reason=f"internal error: {exc!r}")
    )
