"""What the service's start-up regrouping does after a signature upgrade, and how long it takes.

Records report mails into a fresh SQLite store under an older signature version, then regroups
it with a newer one as the service does when it starts after the upgrade: every defect's
sample trace is signed with the new version and the defects it signs alike are joined. Prints
the defects signed per second, the joins, and that a second regrouping has nothing left to do.

With ``--corpus`` the mails are the real-trace corpus's (``bench/heldout.py``'s mail shapes),
whose bugs are known: the bench also counts the joins that put two different bugs together
(which must be none) and the defects per bug before and after.

    python bench/regroup.py [-n 20000] [--bugs 2000] [--seed 1] [--old v1] [--new v2]
    python bench/regroup.py --corpus bench/realworld --old v3 --new v4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import heldout
import mailgen


def mails(args: argparse.Namespace) -> list[tuple[str, bytes, str | None]]:
    """``(name, raw, bug)`` for each mail: the corpus's, or generated ones."""
    if args.corpus is not None:
        found = heldout.corpus(args.variants, args.shapes, args.seed, args.corpus)
        return [(mail.name, mail.raw, mail.bug) for mail in found]
    pool = mailgen.bug_pool(args.bugs, args.seed)
    generated = mailgen.generate(args.n, args.seed, pool=pool)
    return [(f"m{i}", mail.raw, mail.group) for i, mail in enumerate(generated)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="generated mails")
    parser.add_argument("--bugs", type=int, default=2_000, help="distinct generated bugs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, help="a real-trace corpus instead (traces/)")
    parser.add_argument("--variants", type=int, default=2, help="with --corpus: per trace")
    parser.add_argument("--shapes", type=int, default=2, help="with --corpus: per variant")
    parser.add_argument("--old", default="v1", help="the version the mails are recorded with")
    parser.add_argument("--new", default="v2", help="the version the store is regrouped with")
    args = parser.parse_args()

    # The bench's tools, imported where used (as the other benches do).
    from triagebot.config import config_from_dict  # noqa: PLC0415
    from triagebot.daemon import handle_batch  # noqa: PLC0415
    from triagebot.mail.source import Incoming  # noqa: PLC0415
    from triagebot.pipeline import Pipeline  # noqa: PLC0415
    from triagebot.regroup import regroup  # noqa: PLC0415
    from triagebot.store import Store  # noqa: PLC0415

    def pipeline(version: str) -> Pipeline:
        return Pipeline.from_config(config_from_dict({"signature": {"version": version}}))

    with tempfile.TemporaryDirectory(prefix="triagebot-bench-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        store.migrate()
        old = pipeline(args.old)
        recorded = mails(args)
        bug_of = {name: bug for name, _, bug in recorded}
        for start in range(0, len(recorded), 500):
            batch = [Incoming(name, raw) for name, raw, _ in recorded[start : start + 500]]
            handle_batch(old, store, "bench", batch)
        with store.read() as conn:
            rows = conn.exec_driver_sql("SELECT source_ref, defect_id FROM messages").all()
        bugs_of: dict[int, set[str]] = defaultdict(set)
        for ref, defect_id in rows:
            if defect_id is not None and bug_of.get(ref) is not None:
                bugs_of[defect_id].add(str(bug_of[ref]))
        defects = len(store.defects())
        new = pipeline(args.new)
        for dry_run in (True, False):
            started = time.perf_counter()
            done = regroup(store, new, dry_run=dry_run)
            took = time.perf_counter() - started
            joined = sum(len(j.joined) for j in done.joins)
            print(
                f"{'dry run' if dry_run else 'regroup'}: {done.signed} of {defects} defects "
                f"signed with {args.new} in {took:.2f} s ({done.signed / took:,.0f} defects/s), "
                f"{len(done.joins)} joins of {joined} defects, {len(done.traceless)} traceless"
            )
        # A join is wrong when it brings in a bug its survivor did not hold (a defect the old
        # version had merged already holds several).
        wrong = [j for j in done.joins if any(bugs_of[d] - bugs_of[j.survivor] for d in j.joined)]
        for join in wrong:
            print("  wrong:", [sorted(bugs_of[d]) for d in (join.survivor, *join.joined)])
        if any(bugs_of.values()):
            after = defects - joined
            print(
                f"joins putting two bugs together: {len(wrong)}; defects {defects} -> {after} "
                f"for {len(set().union(*bugs_of.values()))} bugs"
            )
        started = time.perf_counter()
        again = regroup(store, new)
        print(
            f"next start: {again.signed} defects to sign, "
            f"{(time.perf_counter() - started) * 1000:.1f} ms"
        )
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
