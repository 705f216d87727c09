"""CPU per text of ``find_trace`` with the marker scan and with every parser and reader run, on the
same texts in one process, and the share of parser and reader runs the markers skip.

The texts are a corpus's traces (``traces/**/*.txt|html``, read as text) and its non-reports'
searched text (``nonreports/*.txt``, parsed as mail). Both readings run in turn, each round
timing every text, and the best round of each is printed (CPU time of this process, so other
work on the machine counts little). Parser runs are counted on the texts, reader runs on their
unwrapped texts (the readers run on the second reading only, so fewer run in ``find_trace``).

    python bench/marker_scan.py [--corpus bench/realworld] [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from triagebot.mail.parse import parse_message  # noqa: E402
from triagebot.stack.detect import LANGUAGES, find_trace  # noqa: E402
from triagebot.stack.extra import READERS  # noqa: E402
from triagebot.stack.unwrap import unwrap  # noqa: E402


def corpus_texts(corpus: Path) -> list[str]:
    """The corpus's trace files as text, then its non-report mails' searched text."""
    traces = sorted((corpus / "traces").rglob("*"))
    texts = [
        p.read_text("utf-8", errors="replace") for p in traces if p.suffix in (".txt", ".html")
    ]
    mails = sorted((corpus / "nonreports").glob("*.txt"))
    return texts + [parse_message(path.read_bytes()).text for path in mails]


def best_round(
    texts: list[str], rounds: int, calls: dict[str, Callable[[str], object]]
) -> dict[str, float]:
    """Best CPU seconds of one pass over ``texts`` per call, the calls taking turns each round."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for label, call in calls.items():
            started = time.process_time()
            for text in texts:
                call(text)
            best[label] = min(best[label], time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "bench" / "realworld")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    texts = corpus_texts(args.corpus)
    runs = sum(language.marker(text) for text in texts for language in LANGUAGES.values())
    unwrapped = [unwrap(text) for text in texts]
    reads = sum(reader.marker(text) for text in unwrapped for reader in READERS)
    best = best_round(
        texts,
        args.rounds,
        {"scan=True": find_trace, "scan=False": lambda text: find_trace(text, scan=False)},
    )
    print(f"{len(texts)} texts from {args.corpus}, best of {args.rounds} rounds")
    for what, done, each in (("parser", runs, len(LANGUAGES)), ("reader", reads, len(READERS))):
        possible = len(texts) * each
        print(f"{what} runs: {done} of {possible} ({done / possible:.0%})")
    for label, seconds in best.items():
        print(f"find_trace {label:10s} {seconds / len(texts) * 1e6:7.1f} µs per text")


if __name__ == "__main__":
    main()
