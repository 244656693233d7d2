"""How fast does ``labkit score`` score a file, through the service and in process, and in how much memory?

One run trains the course's running example exactly as ``bench/serving.py`` does,
registers it, writes CSV files of 1M and 4M production days (rows of 2013-2015 drawn
with a fixed seed), serves the model with :func:`labkit.deploy`, and runs the real
command line on them, each run its own child process:

- ``http``: ``labkit score IN OUT --url URL``, every chunk a request to the service;
- ``in-process``: ``labkit score IN OUT --registry DIR --model weather``, the model
  loaded in the command's own process.

Both use chunks of 10,000 rows (the default). The 1M-row file is scored ``--repeats``
times each way, the two interleaved and taking turns to go first, and the median is
reported: rows per second over the scoring itself (the command's own report, which
leaves out Python's start-up and imports) and end to end (the child's wall time), the
service's CPU time per 10,000 rows, and the child's peak memory (its maximum resident
set size, measured by GNU ``/usr/bin/time``). The 4M-row file is scored once each way, to show that peak
memory depends on the chunk size, not on the size of the file. The outputs of the two
ways must be byte for byte the same; the script checks it.

Run it from the repository root::

    .venv/bin/python bench/batch_scoring.py --repeats 3 --json batch-results.json

The markdown table goes to standard output, progress to standard error. Timing is
measured here and never asserted in a test.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import labkit
from serving import (
    MODEL_NAME, _cpu_model, _cpu_seconds, _first, _labkit_source, _load_average, _progress, _registered_model,
)

MODES = ("http", "in-process")
TIME = "/usr/bin/time"
PACKAGES = ("labkit", "numpy", "pandas", "scikit-learn", "orjson", "httpx", "fastapi", "uvicorn", "tqdm")
# "scored 1,000,000 of 1,000,000 rows ... in 2.1 s (476,190 rows/s); none refused"
REPORT = re.compile(r"scored ([\d,]+) of ([\d,]+) rows .* in ([\d.]+) s \(([\d,]+) rows/s\)")


@dataclass(frozen=True)
class Run:
    """One ``labkit score`` child process."""

    mode: str
    rows: int
    repeat: int
    rows_per_s: float  # over the scoring, as the command reported it
    end_to_end_rows_per_s: float  # over the child's whole life, start-up included
    seconds: float
    peak_rss_mib: float
    server_cpu_ms_per_10k: float | None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the benchmark, print the table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of the 1M-row file each way; the median is kept (default: 3)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the file timed (default: 1000000)")
    parser.add_argument(
        "--memory-rows", type=int, default=4_000_000,
        help="rows of the larger file, scored once each way for peak memory (default: 4000000; 0 skips it)",
    )
    parser.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk (default: 10000)")
    parser.add_argument("--json", type=Path, default=None, help="also write every run and the medians to this JSON file")
    arguments = parser.parse_args(argv)
    if not os.access(TIME, os.X_OK):
        sys.exit(
            f"expected GNU time at {TIME}, to measure peak memory; got nothing; fix: install it, on Debian or "
            "Ubuntu with `sudo apt-get update && sudo apt-get install -y time`, then run this script again"
        )
    if min(arguments.repeats, arguments.rows, arguments.chunk_size) < 1 or arguments.memory_rows < 0:
        parser.error("expected --repeats, --rows and --chunk-size to be at least 1, and --memory-rows at least 0")
    # Turn SIGTERM into SystemExit, so the `with` blocks below stop the service.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    machine = _machine()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as scratch:
        workdir = Path(scratch)
        _progress("training and registering the running example ...")
        registry, production = _registered_model(workdir / "registry")
        sizes = [arguments.rows] + ([arguments.memory_rows] if arguments.memory_rows else [])
        inputs = {}
        for rows in sizes:
            _progress(f"writing {rows:,} rows ...")
            inputs[rows] = _write_input(workdir / f"days-{rows}.csv", production, rows)
        runs: list[Run] = []
        with labkit.deploy(registry, MODEL_NAME, alias="champion") as service:
            where = {
                "http": ["--url", service.url],
                "in-process": ["--registry", str(registry.root), "--model", MODEL_NAME],
            }

            def measure(mode: str, rows: int, repeat: int) -> Run:
                output = workdir / f"{mode}-{rows}-{repeat}.csv"
                run = _score(inputs[rows], output, where[mode], mode, rows, repeat, arguments.chunk_size, service.pid)
                which = f"#{repeat + 1}" if repeat >= 0 else "warm-up"
                _progress(
                    f"[{mode:10} {rows:>9,} rows {which}] {run.rows_per_s:>9,.0f} rows/s scoring, "
                    f"{run.end_to_end_rows_per_s:>9,.0f} end to end, peak {run.peak_rss_mib:6.1f} MiB"
                    + (f", service {run.server_cpu_ms_per_10k:5.1f} ms CPU per 10k rows" if run.server_cpu_ms_per_10k else "")
                )
                return run

            _progress("warming up (the page cache, the service) ...")
            for mode in MODES:
                _cleanup(measure(mode, arguments.rows, -1), workdir)
            for repeat in range(arguments.repeats):
                # Alternate who goes first, so a drift in the machine's load favours neither.
                for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
                    runs.append(measure(mode, arguments.rows, repeat))
                _check_same_bytes(workdir, arguments.rows, repeat)
                _cleanup_repeat(workdir, arguments.rows, repeat)
            if arguments.memory_rows:
                for mode in MODES:
                    runs.append(measure(mode, arguments.memory_rows, 0))
                _check_same_bytes(workdir, arguments.memory_rows, 0)

    machine["load_average_at_end"] = _load_average()
    summary = _medians(runs)
    print(_markdown(summary, arguments, machine))
    if arguments.json is not None:
        report = {
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(arguments).items()},
            "machine": machine,
            "medians": summary,
            "runs": [asdict(run) for run in runs],
        }
        arguments.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        _progress(f"wrote {arguments.json}")
    return 0


def _write_input(path: Path, production: pd.DataFrame, rows: int) -> Path:
    """``rows`` production days with an id and a date, drawn with a fixed seed; written a million at a time."""
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8", newline="") as file:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            days = production.iloc[rng.integers(0, len(production), n)].reset_index(drop=True)
            block = pd.DataFrame({"id": np.arange(start + 1, start + n + 1)})
            block[list(days.columns)] = days
            block.to_csv(file, index=False, header=start == 0, lineterminator="\n")
    return path


def _score(
    source: Path, output: Path, where: list[str], mode: str, rows: int, repeat: int, chunk_size: int, server_pid: int
) -> Run:
    command = [
        sys.executable, "-m", "labkit", "score", str(source), str(output), *where,
        "--chunk-size", str(chunk_size), "--no-progress",
    ]
    # GNU time measures the peak memory of the command it runs. Measuring it from here
    # (wait4, getrusage) would not do: a child created by fork starts with this process's
    # own peak, which Linux keeps across exec, and this process holds the files' rows.
    stats = output.with_suffix(".time.txt")
    cpu_before = _cpu_seconds(server_pid) if mode == "http" else None
    started = time.monotonic()
    result = subprocess.run([TIME, "-v", "-o", str(stats), *command], capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    cpu_after = _cpu_seconds(server_pid) if mode == "http" else None
    match = REPORT.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(
            f"expected `{' '.join(command)}` to score every row; it exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats.read_text())
    if peak is None:
        raise RuntimeError(f"expected GNU time's report in {stats}; got:\n{stats.read_text()}")
    scored, read, _, rate = match.groups()
    if scored != read or int(read.replace(",", "")) != rows:
        raise RuntimeError(f"expected all {rows:,} rows scored; got {result.stdout!r}")
    rows_per_s = float(rate.replace(",", ""))
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = 1000 * (cpu_after - cpu_before) / (rows / 10_000)
    return Run(
        mode=mode, rows=rows, repeat=repeat,
        rows_per_s=rows_per_s, end_to_end_rows_per_s=rows / wall, seconds=rows / rows_per_s,
        peak_rss_mib=int(peak.group(1)) / 1024,
        server_cpu_ms_per_10k=server_cpu,
    )


def _check_same_bytes(workdir: Path, rows: int, repeat: int) -> None:
    """Both ways must write the same file: otherwise they did different work."""
    http, local = (workdir / f"{mode}-{rows}-{repeat}.csv" for mode in MODES)
    if not filecmp.cmp(http, local, shallow=False):
        raise RuntimeError(f"expected the http and in-process outputs of {rows:,} rows to be the same bytes; they differ")


def _cleanup(run: Run, workdir: Path) -> None:
    _remove(workdir, f"{run.mode}-{run.rows}-{run.repeat}")


def _cleanup_repeat(workdir: Path, rows: int, repeat: int) -> None:
    for mode in MODES:
        _remove(workdir, f"{mode}-{rows}-{repeat}")


def _remove(workdir: Path, stem: str) -> None:
    for suffix in (".csv", ".errors.csv", ".progress.json", ".time.txt"):
        (workdir / f"{stem}{suffix}").unlink(missing_ok=True)


def _medians(runs: list[Run]) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{"1000000": {"http": {"rows_per_s": ...}, "in-process": {...}}, ...}``, medians over repeats."""
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for run in runs:
        summary.setdefault(str(run.rows), {}).setdefault(run.mode, {})
    for rows, by_mode in summary.items():
        for mode in by_mode:
            mine = [r for r in runs if str(r.rows) == rows and r.mode == mode]
            by_mode[mode] = {
                metric: statistics.median(getattr(r, metric) for r in mine)
                for metric in ("rows_per_s", "end_to_end_rows_per_s", "seconds", "peak_rss_mib")
            }
            cpu = [r.server_cpu_ms_per_10k for r in mine if r.server_cpu_ms_per_10k is not None]
            by_mode[mode]["server_cpu_ms_per_10k"] = statistics.median(cpu) if cpu else None
    return summary


def _markdown(summary: dict[str, dict[str, dict[str, float | None]]], arguments: argparse.Namespace, machine: dict[str, Any]) -> str:
    timed = str(arguments.rows)
    lines = [
        f"Medians of {arguments.repeats} run{'s' if arguments.repeats != 1 else ''} of {arguments.rows:,} rows each way "
        f"(chunks of {arguments.chunk_size:,}); {machine['cpus']} CPUs; Python {machine['python']}; load average "
        f"{_first(machine['load_average_at_start'])} at start, {_first(machine['load_average_at_end'])} at end.",
        "",
        "| file | metric | http | in-process | http / in-process |",
        "|---|---|---:|---:|---:|",
    ]
    metrics = [
        ("rows_per_s", "rows/s, scoring (higher is better)", "{:,.0f}"),
        ("end_to_end_rows_per_s", "rows/s, end to end with start-up (higher is better)", "{:,.0f}"),
        ("server_cpu_ms_per_10k", "service CPU per 10,000 rows, ms", "{:.1f}"),
        ("peak_rss_mib", "peak memory of `labkit score`, MiB", "{:.1f}"),
    ]
    for rows, by_mode in summary.items():
        label = f"{int(rows):,} rows"
        for metric, name, form in metrics:
            if rows != timed and metric != "peak_rss_mib":
                continue  # the larger file is there for memory only
            mine, theirs = by_mode["http"][metric], by_mode["in-process"].get(metric)
            if mine is None:
                continue
            if theirs is None:
                lines.append(f"| {label} | {name} | {form.format(mine)} | | |")
            else:
                lines.append(f"| {label} | {name} | {form.format(mine)} | {form.format(theirs)} | {mine / theirs:.2f} |")
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": _load_average(),
        "labkit_source": _labkit_source(),
        "packages": versions,
    }


if __name__ == "__main__":
    sys.exit(main())
