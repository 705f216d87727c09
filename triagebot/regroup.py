"""After a signature upgrade, join the defects the new version shows to be one bug.

An upgraded algorithm links each new signature to the defect its report's old signature
points to, so no known bug is filed again; but when the old version had split a bug over two
defects, both stay. Regrouping signs each defect's sample trace with the configured version,
once (a defect holding a signature of that version is done), and joins the defects that
share one (``store.joins``: the one with a tracker issue, else the oldest, survives).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import structlog

from triagebot.pipeline import Pipeline
from triagebot.stack.detect import find_trace
from triagebot.store import Store
from triagebot.store.joins import Join

__all__ = ["Regrouped", "regroup"]

log = structlog.get_logger(__name__)

#: Defects read per query: their sample traces are up to 64 KiB each.
CHUNK = 200


@dataclass(frozen=True, slots=True)
class Regrouped:
    """What a regrouping did (or, dry, would do): defects signed, joins, and defects whose
    sample holds no trace any more (kept as they are)."""

    signed: int
    joins: tuple[Join, ...]
    traceless: tuple[int, ...]


def regroup(store: Store, pipeline: Pipeline, *, dry_run: bool = False) -> Regrouped:
    """Sign every defect the configured version has not signed, and join those that share a
    signature; ``dry_run``: only say what would be joined."""
    version = pipeline.signer.version.version
    by_signature: dict[str, list[int]] = defaultdict(list)
    traceless: list[int] = []
    after = 0
    while chunk := store.unsigned(version, after, CHUNK):
        after = chunk[-1].defect_id
        for sample in chunk:
            trace = find_trace(sample.text, pipeline.parse_settings.max_frames)
            if trace is None:
                traceless.append(sample.defect_id)
                log.warning("regroup.no_trace", defect=sample.defect_id, version=version)
                continue
            by_signature[pipeline.signer.sign(trace).value].append(sample.defect_id)
    joins = tuple(store.settle_signatures(version, by_signature, dry_run=dry_run))
    signed = sum(len(ids) for ids in by_signature.values())
    if signed or traceless:
        log.info(
            "regroup.done",
            version=version,
            signed=signed,
            joined=sum(len(j.joined) for j in joins),
            traceless=len(traceless),
            dry_run=dry_run,
        )
    return Regrouped(signed, joins, tuple(traceless))
