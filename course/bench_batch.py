"""Class-scale grading throughput: N generated submissions through ``python -m course.batch``.

    python -m course.bench_batch                 # 300 submissions, 2 jobs (about 10 minutes)
    python -m course.bench_batch --n 40 --jobs 2 # a rough look

Each submission is the release with the textbook solutions pasted in (``course.fakeclass`` over
``course.textbook``) and one random region mutated: a textbook MUTANT when the table has them
(half of the time), else the region put back to the release stub (``raise NotImplementedError``);
every fifth submission is left complete. The notebooks are the release's, marked as run (no
outputs: a real class's notebooks are larger, which costs the notebook report a few
milliseconds of JSON parsing per megabyte). The batch runs as the
instructor runs it (a subprocess, the pristine release built once); the script prints the wall
time, the CPU seconds per submission (median and 90th percentile, from the workers' rusage) and
the load average before and after, because the machine may be shared. It asserts nothing, but
prints a line for any complete submission that did not get full marks.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import fakeclass
from course.release import build_release, write_tree
from course.textbook import package

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="keep the submissions and the gradebook in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        subs, out, release = base / "subs", base / "out", base / "release"
        subs.mkdir(parents=True)
        release_files = build_release(REPO)["files"]
        write_tree(release_files, release)
        t = time.perf_counter()
        plan = fakeclass.make_class(subs, args.n, args.seed, package.MUTANTS)
        print(f"{args.n} submissions generated in {time.perf_counter() - t:.1f} s "
              f"({sum(v is None for v in plan.values())} complete, {len(package.MUTANTS)} textbook mutants, "
              f"{sum(len(v) for v in package.SOLUTIONS.values())} textbook regions)")
        load_before = os.getloadavg()
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "course.batch", str(subs), str(out), "--jobs", str(args.jobs),
                               "--release", str(release), "-q"], cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t
        load_after = os.getloadavg()
        if proc.returncode:
            print(proc.stdout, proc.stderr)
            return 1
        rows = json.loads((out / "results.json").read_text())
        cpu = sorted(r.get("cpu_seconds", 0) for r in rows)
        per = sorted(r.get("wall_seconds", 0) for r in rows)
        print(f"{len(rows)} submissions, {args.jobs} jobs, {os.cpu_count()} cpus: {wall:.0f} s wall "
              f"({wall / 60:.1f} min; {wall / len(rows):.2f} s per submission)")
        print(f"CPU seconds per submission: median {statistics.median(cpu):.2f}, 90th percentile "
              f"{cpu[int(0.9 * (len(cpu) - 1))]:.2f}, total {sum(cpu):.0f} "
              f"(= {sum(cpu) / args.jobs / 60:.1f} min on {args.jobs} idle cores)")
        print(f"wall seconds per submission in its worker: median {statistics.median(per):.2f}")
        print(f"load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
              f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}")
        statuses = {}
        for r in rows:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if plan.get(r["student"]) is None and r["total"] != r["possible"]:
                print(f"  complete submission {r['student']} got {r['total']}/{r['possible']}: {r['problems'][:2]}")
        print(f"statuses: {statuses}; mean total {statistics.mean(r['total'] for r in rows):.1f} "
              f"of {rows[0]['possible']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
