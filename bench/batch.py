"""The course's six notebooks through `labkit batch`, serially and with 2 workers, in one run.

Asks what an instructor's check of the whole course costs, and how much two workers save,
on the same machine in the same run. Each configuration runs the notebooks of
`notebooks/` with `labkit.course.batch` (the engine behind `labkit batch`: a fresh folder,
environment and kernel per notebook, under its time and memory limits); the table shows the
wall time of each and the speed-up, and every run must pass.

Run from the repository root:

    .venv/bin/python bench/batch.py --repeats 2 --json bench-batch.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per configuration; the median is kept (default: 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="configurations (default: 1 2)")
    parser.add_argument("--json", default=None, help="also write every run and the machine's details here")
    arguments = parser.parse_args(argv)

    from labkit.course.batch import batch
    from labkit.course.engine import Limits

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    load_before = os.getloadavg()[0]
    runs: dict[int, list[float]] = {n: [] for n in arguments.workers}
    for repeat in range(arguments.repeats):
        # Take turns to go first, so neither configuration always meets a warm disk cache.
        order = arguments.workers if repeat % 2 == 0 else list(reversed(arguments.workers))
        for workers in order:
            with tempfile.TemporaryDirectory(prefix="labkit-bench-batch-") as out:
                started = time.perf_counter()
                book = batch(notebooks, out=out, workers=workers, limits=Limits(timeout_s=600), progress=False)
                took = time.perf_counter() - started
            statuses = sorted({row.status for row in book.rows})
            if statuses != ["passed"]:
                print(f"expected every notebook to pass; got {statuses} with {workers} workers", file=sys.stderr)
                return 1
            runs[workers].append(took)
            print(f"repeat {repeat + 1}, {workers} worker(s): {took:.1f} s", file=sys.stderr)
    medians = {n: statistics.median(times) for n, times in runs.items()}
    serial = medians.get(1)
    print(f"{len(notebooks)} notebooks; medians of {arguments.repeats} runs; {os.cpu_count()} CPUs; "
          f"load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end.\n")
    print("| workers | wall time, s | speed-up against 1 worker |")
    print("|---:|---:|---:|")
    for workers, median in medians.items():
        speedup = f"{serial / median:.2f}" if serial else ""
        print(f"| {workers} | {median:.1f} | {speedup} |")
    if arguments.json:
        Path(arguments.json).write_text(json.dumps({
            "notebooks": [p.name for p in notebooks], "runs": runs, "medians": medians,
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average": [load_before, os.getloadavg()[0]],
        }, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
