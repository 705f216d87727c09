"""Grouping and report-detection quality against generated ground truth.

Mails come from ``mailgen``'s pool of distinct bugs (hard negatives included), each occurrence
perturbed the way real ones are (line shifts, versions, machines, ids, install paths, counters,
recursion depth, MIME shapes), plus a few non-reports. Prints B-cubed precision/recall/F1 of
the signature grouping over the reports, precision/recall/F1 of report detection, and every
signature that merged distinct bugs.

    python bench/grouping.py [-n 5000] [--bugs 240] [--seed 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import mailgen

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from triagebot.pipeline import Pipeline  # noqa: E402


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def bcubed(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """B-cubed precision and recall of ``(predicted cluster, true label)`` items."""
    both = Counter(pairs)
    clusters = Counter(c for c, _ in pairs)
    labels = Counter(t for _, t in pairs)
    precision = sum(both[p] / clusters[p[0]] for p in pairs) / len(pairs)
    recall = sum(both[p] / labels[p[1]] for p in pairs) / len(pairs)
    return precision, recall


def describe(bug: mailgen.Bug) -> str:
    chain = " <- ".join(f"{c.type} @ {c.frames[0].owner}.{c.frames[0].function}" for c in bug.chain)
    return f"{bug.group} [{bug.language}] {chain}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--bugs", type=int, default=240, help="distinct bugs in the pool")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--non-reports", type=float, default=0.03, help="share of non-reports")
    args = parser.parse_args()

    pool = mailgen.bug_pool(args.bugs)
    bugs = {b.group: b for b in pool}
    pipeline = Pipeline.default()
    pairs: list[tuple[str, str]] = []
    detected = Counter[tuple[bool, bool]]()  # (is a report, classified as one)
    missed_shapes = Counter[str]()
    started = time.perf_counter()
    for i, mail in enumerate(
        mailgen.generate(args.n, args.seed, pool=pool, non_report_rate=args.non_reports)
    ):
        record = pipeline.process(mail.raw).as_json()
        is_report = record["kind"] == "error_report"
        detected[mail.group is not None, is_report] += 1
        if mail.group is None:
            continue
        if not is_report:
            missed_shapes[f"{mail.language}/{mail.shape}"] += 1
        pairs.append((record["signature"] or f"none-{i}", mail.group))
    elapsed = time.perf_counter() - started

    precision, recall = bcubed(pairs)
    print(
        f"{args.n} mails, {len(pairs)} reports of {len({t for _, t in pairs})} bugs "
        f"(pool {len(pool)}), {elapsed:.1f} s"
    )
    print(
        f"grouping  B-cubed precision {precision:.4f}  recall {recall:.4f}  "
        f"F1 {f1(precision, recall):.4f}"
    )
    tp, fp, fn = detected[True, True], detected[False, True], detected[True, False]
    d_precision = tp / (tp + fp) if tp + fp else 0.0
    d_recall = tp / (tp + fn) if tp + fn else 0.0
    print(
        f"detection precision {d_precision:.4f}  recall {d_recall:.4f}  "
        f"F1 {f1(d_precision, d_recall):.4f}  (tp {tp}, fp {fp}, fn {fn})"
    )
    if missed_shapes:
        print("reports not detected, by language/shape:", dict(missed_shapes.most_common(10)))

    groups_of: dict[str, set[str]] = defaultdict(set)
    signatures_of: dict[str, set[str]] = defaultdict(set)
    for signature, group in pairs:
        groups_of[signature].add(group)
        signatures_of[group].add(signature)
    merged = {s: sorted(g) for s, g in groups_of.items() if len(g) > 1}
    split = {g: len(s) for g, s in signatures_of.items() if len(s) > 1}
    print(f"merged signatures: {len(merged)}; bugs split over several signatures: {len(split)}")
    for signature, groups in sorted(merged.items())[:20]:
        print(f"  merged {signature}:")
        for group in groups:
            print(f"    {describe(bugs[group])}")
    for group, count in sorted(split.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  split into {count}: {describe(bugs[group])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
