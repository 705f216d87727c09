"""``triagebot quarantine``: what was set aside and why, and putting it back after a fix.

The quarantine folder holds the mails; the store holds each one's verdict (kind ``invalid``
and the reason) under the key it was recorded by: its Message-ID plus content digest, or the
digest of its bytes when it could not be read or analysed (``mail.key.unread_key``). Releasing
a mail forgets that verdict and moves it back into the inbox, where it is read like any
delivery: a mail that was counted before is not counted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from triagebot.mail.key import unread_key
from triagebot.mail.mime import decode_header_value, split_head
from triagebot.mail.source import Incoming, Source
from triagebot.pipeline import Pipeline
from triagebot.store import Store
from triagebot.store.quarantine import Verdict

__all__ = ["Quarantined", "quarantined", "release"]

log = structlog.get_logger(__name__)

_HEAD_BYTES = 64 * 1024  # the subject is read from the head only


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One mail in quarantine: the source's ``ref``, the store ``key`` its verdict is under
    (None: the store never took it), the verdict, and its subject."""

    ref: str
    raw: bytes
    key: str | None
    verdict: Verdict | None
    subject: str

    @property
    def reason(self) -> str:
        return self.verdict.reason if self.verdict else "not recorded (the store refused it)"


def quarantined(source: Source, store: Store, pipeline: Pipeline) -> list[Quarantined]:
    """Every quarantined mail with its verdict. A mail set aside unread (or by the analysis
    time budget) is found by its bytes' digest and never analysed here; the others are
    analysed once, in this process, to find their key."""
    mails = source.quarantined()
    by_bytes = store.verdicts({unread_key(m.raw) for m in mails})
    out = []
    for mail in mails:
        key = unread_key(mail.raw)
        verdict = by_bytes.get(key)
        if verdict is None:
            key = pipeline.analyse(mail.raw).store_key
            verdict = store.verdicts([key]).get(key)
        recorded = key if verdict else None
        out.append(Quarantined(mail.ref, mail.raw, recorded, verdict, _subject(mail)))
    return out


def release(
    source: Source, store: Store, pipeline: Pipeline, refs: Sequence[str] | None
) -> list[Quarantined]:
    """Forget the verdicts of ``refs`` (None: every quarantined mail) and move them back into
    the inbox; returns those released."""
    wanted = None if refs is None else set(refs)
    chosen = [q for q in quarantined(source, store, pipeline) if wanted is None or q.ref in wanted]
    store.forget_invalid([q.key for q in chosen if q.key is not None])
    moved = set(source.release([q.ref for q in chosen]))
    released = [q for q in chosen if q.ref in moved]
    for q in released:
        log.info("quarantine.released", ref=q.ref, key=q.key, reason=q.reason)
    return released


def _subject(mail: Incoming) -> str:
    pairs, _ = split_head(mail.raw[:_HEAD_BYTES])
    return next((decode_header_value(v) for k, v in pairs if k == "subject"), "")
