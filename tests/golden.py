"""Golden signatures: every registered signature version's value for every trace the test and
bench corpora hold, kept in ``tests/data/golden_signatures.json``.

A stored signature must keep resolving to its defect, so a version's values never change: a new
normaliser, library-frame list or parser that changes one belongs in a new version. Regenerate
after adding a version or a corpus file, or removing a file (never to absorb a changed value):

    python -m tests.golden --update
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.stack.detect import find_trace
from triagebot.stack.model import Trace
from triagebot.stack.signature import SIGNATURE_VERSIONS, Signer

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "tests" / "data" / "golden_signatures.json"
#: Mail corpora (``.eml``, parsed as mail) and trace corpora (``.txt``/``.html``, searched as text).
MAILS = ("tests/corpus", "tests/mails", "samples")
TRACES = ("bench/heldout/traces", "bench/realworld/traces")


def traces() -> Iterator[tuple[str, Trace | None]]:
    """Every corpus file and the trace triagebot finds in it, by repository-relative path."""
    settings = ParseSettings()
    for folder in MAILS:
        for path in sorted((REPO / folder).rglob("*.eml")):
            report = parse_message(path.read_bytes(), settings)
            yield path.relative_to(REPO).as_posix(), report.trace
    for folder in TRACES:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".txt", ".html"):
                text = path.read_text("utf-8", errors="replace")
                yield path.relative_to(REPO).as_posix(), find_trace(text)


def compute(versions: tuple[str, ...] = tuple(SIGNATURE_VERSIONS)) -> dict[str, dict[str, str]]:
    """``{version: {path: value}}`` for the files in which a trace is found."""
    found = [(path, trace) for path, trace in traces() if trace is not None]
    return {
        version: {path: Signer(version).sign(trace).value for path, trace in found}
        for version in versions
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="add new versions and files")
    args = parser.parse_args()
    stored = json.loads(SNAPSHOT.read_text("utf-8")) if SNAPSHOT.exists() else {}
    current = compute()
    if args.update:
        for version, values in current.items():
            kept = stored.setdefault(version, {})
            kept.update({p: v for p, v in values.items() if p not in kept})
            for gone in [p for p in kept if not (REPO / p).exists()]:
                del kept[gone]
        SNAPSHOT.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n", "utf-8")
    changed = sum(
        stored.get(v, {}).get(p, value) != value
        for v, values in current.items()
        for p, value in values.items()
    )
    print(f"{sum(map(len, current.values()))} values, {changed} differ from {SNAPSHOT.name}")


if __name__ == "__main__":
    main()
