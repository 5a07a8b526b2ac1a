"""The big campaign of the model-checked money simulation (tests/simulation/driver.py).

Run from the checkout:
  .venv/bin/python bench/simulate.py --sequences 10000 --seed 1
  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/simulate.py --sequences 10000 --seed 1

Builds its own throwaway database (SQLite, or PostgreSQL when DATABASE_URL says so) and an
embedded Redis (or a free index of REDIS_URL's), migrates, and runs ``--sequences`` seeded
random sequences of every money movement (three modes, both consignment fundings,
self-purchase on and off, depth 1-3, plan edits between orders, suspensions, moves, partial
refunds in several steps, cancellations, settlements at advancing clock times, interleaved
withdrawals), each step checked against the plain-Python model and ``ledger verify``.
Sequence i uses seed ``--seed`` * 1,000,000 + i, so any violation can be replayed alone with
``--only SEED``. Prints the sequences run, operations applied (and refused as the model
expected), violations found, and the time taken; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (sequence seeds derive from it)")
    parser.add_argument("--start", type=int, default=0,
                        help="first sequence to run (a campaign split across runs: --start 6000 --sequences 10000)")
    parser.add_argument("--max-steps", type=int, default=60, help="operations per sequence, at most")
    parser.add_argument("--reset-every", type=int, default=100,
                        help="empty the database after this many sequences (keeps each step's checks fast)")
    parser.add_argument("--only", type=int, help="run this one sequence seed and print its steps")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes sharing the sequences, each on a throwaway database of its own")
    parser.add_argument("--part", type=str, default=None, help=argparse.SUPPRESS)  # "i/n": one process's share
    args = parser.parse_args()
    if args.jobs > 1 and args.only is None:
        return _run_parts(args)

    from bench.support import bench_app, bench_instance
    from tests.support.services import throwaway_database, throwaway_redis

    tmp = bench_instance("simulate")
    with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
        app = bench_app(database_url, redis_url)
        with app.app_context():
            from tests.simulation.driver import Simulation

            database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
            if args.only is not None:
                outcome = Simulation(args.only, args.max_steps).run()
                print("\n".join(outcome.trail))
                print("\n".join(outcome.violations) or "no violation")
                return 1 if outcome.violations else 0
            seeds = [args.seed * 1_000_000 + i for i in range(args.start, args.sequences)]
            if args.part:
                index, parts = map(int, args.part.split("/"))
                seeds = seeds[index::parts]
            started = time.perf_counter()
            operations = refused = 0
            kinds: collections.Counter[str] = collections.Counter()
            failures = []
            for done, seed in enumerate(seeds, 1):
                outcome = Simulation(seed, args.max_steps).run()
                operations += outcome.operations
                refused += outcome.refused
                kinds.update(step.split()[0] + (" (refused)" if "refused" in step else "") for step in outcome.trail)
                if outcome.violations:
                    failures.append(outcome)
                    print(f"VIOLATION seed {seed}: {outcome.violations[0]}\n  last steps: {outcome.trail[-5:]}",
                          flush=True)
                if done % args.reset_every == 0:
                    _empty_database()
                if done % 500 == 0 or done == len(seeds):
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done}/{len(seeds)} sequences, {operations} operations, {len(failures)} violations, "
                          f"{rate:.1f} sequences/s", flush=True)
            elapsed = time.perf_counter() - started
    print(f"\nbench/simulate.py on {database} (campaign seed {args.seed}, sequences {args.start}-{args.sequences - 1}, "
          f"at most {args.max_steps} steps a sequence)")
    print(f"  sequences run        {len(seeds)}")
    print(f"  operations applied   {operations} ({refused} of them refused, as the model expected)")
    print(f"  violations found     {len(failures)}")
    print(f"  time                 {elapsed:.0f} s ({operations / elapsed:.0f} operations/s)")
    print("  operations by kind   " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
    return 1 if failures else 0


def _run_parts(args) -> int:
    """``--jobs`` processes, each running every n-th sequence on a database of its own; their
    summaries are added up."""
    import re
    import subprocess

    command = [sys.executable, __file__, "--sequences", str(args.sequences), "--seed", str(args.seed),
               "--start", str(args.start),
               "--max-steps", str(args.max_steps), "--reset-every", str(args.reset_every)]
    started = time.perf_counter()
    procs = [subprocess.Popen([*command, "--part", f"{i}/{args.jobs}"], stdout=subprocess.PIPE, text=True)
             for i in range(args.jobs)]
    totals = collections.Counter()
    database = "?"
    for i, proc in enumerate(procs):
        out, _ = proc.communicate()
        for line in out.splitlines():
            if line.startswith("VIOLATION"):
                print(line, flush=True)
        found = re.search(r"on (\w+) \(campaign", out)
        database = found.group(1) if found else database
        for key, pattern in (("sequences", r"sequences run +(\d+)"), ("operations", r"operations applied +(\d+)"),
                             ("refused", r"\((\d+) of them refused"), ("violations", r"violations found +(\d+)")):
            found = re.search(pattern, out)
            totals[key] += int(found.group(1)) if found else 0
        totals["failed"] += proc.returncode != 0 and not re.search(r"violations found +[1-9]", out)
        print(f"  part {i + 1}/{args.jobs} done: exit {proc.returncode}", flush=True)
    elapsed = time.perf_counter() - started
    print(f"\nbench/simulate.py on {database} (campaign seed {args.seed}, at most {args.max_steps} steps a sequence, "
          f"{args.jobs} processes)")
    print(f"  sequences run        {totals['sequences']}")
    print(f"  operations applied   {totals['operations']} ({totals['refused']} of them refused, as the model expected)")
    print(f"  violations found     {totals['violations']}")
    print(f"  time                 {elapsed:.0f} s ({totals['operations'] / elapsed:.0f} operations/s)")
    return 1 if totals["violations"] or totals["failed"] else 0


def _empty_database() -> None:
    from distweb.extensions import db
    from distweb.services import ledger

    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    ledger.reset_cache()


if __name__ == "__main__":
    os.environ.setdefault("SECRET_KEY", "bench")
    sys.exit(main())
