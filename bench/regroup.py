"""How long the service's start-up regrouping takes after a signature upgrade.

Records generated report mails into a fresh SQLite store with signature version ``v1``, then
regroups it with ``v2`` as the service does when it starts after the upgrade: every defect's
sample trace is signed with v2 and the defects v2 signs alike are joined. Prints the defects
signed per second, the joins, and that a second regrouping has nothing left to do.

    python bench/regroup.py [-n 20000] [--bugs 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mailgen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="mails recorded under v1")
    parser.add_argument("--bugs", type=int, default=2_000, help="distinct bugs among them")
    parser.add_argument("--seed", type=int, default=1)
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
        old = pipeline("v1")
        pool = mailgen.bug_pool(args.bugs, args.seed)
        batch: list[Incoming] = []
        for i, mail in enumerate(mailgen.generate(args.n, args.seed, pool=pool)):
            batch.append(Incoming(f"m{i}", mail.raw))
            if len(batch) == 500:
                handle_batch(old, store, "bench", batch)
                batch = []
        if batch:
            handle_batch(old, store, "bench", batch)
        defects = len(store.defects())
        new = pipeline("v2")
        for dry_run in (True, False):
            started = time.perf_counter()
            done = regroup(store, new, dry_run=dry_run)
            took = time.perf_counter() - started
            joined = sum(len(j.joined) for j in done.joins)
            print(
                f"{'dry run' if dry_run else 'regroup'}: {done.signed} of {defects} defects "
                f"signed in {took:.2f} s ({done.signed / took:,.0f} defects/s), "
                f"{len(done.joins)} joins of {joined} defects, {len(done.traceless)} traceless"
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
