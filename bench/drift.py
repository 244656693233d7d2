"""How fast is ``labkit.monitoring.drift_report`` next to Evidently 0.7, and does it judge the same?

One run generates the same data for both tools: a reference and a current frame of 1k,
100k and 1M rows each, with 10 numeric columns (normal, the current ones shifted by
0.02 to 0.2 standard deviations, so some drift and some do not) and 3 string columns of
3, 8 and 40 categories (the current ones with their shares tilted). Each measurement is
a child process that reads the frames and times one report. The frames reach it in one
of two ways (``--frames``, both by default), which hold the same values but differ in
how the strings are held:

- ``csv``: CSV files that each child reads with its own pandas' ``read_csv`` and its
  defaults, save ``float_precision="round_trip"`` for pandas 2 so that both tools get the
  very numbers written (pandas 3 reads them exactly by default, pandas 2 to within a unit
  in the last place). The parser makes one Python string per distinct value and shares it between the
  rows that hold it. labkit's pandas 3 keeps them in its ``str`` dtype (backed by Python
  objects, since pyarrow is not installed), Evidently's pandas 2 in ``object`` columns.
- ``objects``: arrays from an ``.npz`` file, each string a Python object of its own, as a
  database driver returns rows (6 million objects at 1M rows); pandas 3 puts them in its
  ``str`` dtype, pandas 2 in ``object`` columns.

The tools:

- *labkit*: ``drift_report(reference, current)``, with this repository's labkit and the
  Python running this script;
- *Evidently*: ``Report([DataDriftPreset()], include_tests=True).run(current,
  reference)``, in a virtual environment of its own with ``evidently>=0.7,<0.8`` and
  ``pandas<3`` (Evidently does not import with pandas 3). The script builds it with
  ``python3 -m venv`` and pip the first time (under ``bench/results/``, gitignored) and
  reuses it after.

Figures per tool and size: the report's wall time and CPU time (measured in the child
around the one call, so start-up, imports and reading the data are left out); the
child's peak memory while it held the data and ran the report (Linux's ``VmHWM``, read by
the child at its end, after resetting it through ``/proc/self/clear_refs`` once the data
was read: imports and data included, but not what reading the data needed only for a
moment); and the report's own memory, that peak less what the process held just before
the call, with the imports' and the data's share alongside. With ``--repeats N``
each measurement runs N times, the two tools taking turns, and the median is reported.

The script then checks that the verdicts are Evidently's: for every column the same
test, the same drifted-or-not, and a score equal within 1e-9 relative; and the same
share of drifted columns. It checks the same on small edge cases, not timed, read the
same ways as the frames: 1000 and
1001 reference values, 5 and 6 distinct values, two values, integers of few and many
values, constant columns, a category only in current, missing strings, infinities. A
mismatch is printed and the exit status is 1.

Run it from the repository root::

    .venv/bin/python bench/drift.py --repeats 3 --json bench/results/drift.json
    .venv/bin/python bench/drift.py --frames objects --sizes 1000000   # one case only

The markdown table goes to standard output, progress to standard error. Timing is
measured here and never asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 100_000, 1_000_000)
TOOLS = ("labkit", "evidently")
FRAMES = ("csv", "objects")
EVIDENTLY = "evidently>=0.7,<0.8"
RELATIVE = 1e-9
# Evidently's display names of its tests, and labkit's names for them.
EVIDENTLY_NAMES = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the benchmark, print the table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per tool and size (median reported)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="rows per frame")
    parser.add_argument("--frames", nargs="+", choices=FRAMES, default=list(FRAMES),
                        help="how the frames reach each tool: CSV files its pandas reads, or arrays of string objects")
    parser.add_argument("--venv", type=Path, default=ROOT / "bench" / "results" / "evidently-venv",
                        help="Evidently's virtual environment (built if missing)")
    parser.add_argument("--json", type=Path, help="also write every run and the checks to this file")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        _child(arguments.child, arguments.data, arguments.out)
        return 0
    python = {"labkit": Path(sys.executable), "evidently": _evidently_python(arguments.venv)}
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    edge_cases = 0
    with tempfile.TemporaryDirectory(prefix="labkit-drift-bench-") as workdir:
        for frames in arguments.frames:
            for rows in arguments.sizes:
                _progress(f"generating {rows:,} rows per frame ({frames})")
                data = _prepare(Path(workdir) / f"frames-{rows}", frames, lambda path, rows=rows: _write_frames(path, rows))
                results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
                for repeat in range(arguments.repeats):
                    # Taking turns to go first, so neither always meets a warmer (or busier) machine.
                    order = TOOLS if repeat % 2 == 0 else TOOLS[::-1]
                    for tool in order:
                        _progress(f"{tool}, {rows:,} rows ({frames}), run {repeat + 1} of {arguments.repeats}")
                        out = Path(workdir) / f"{tool}-{frames}-{rows}-{repeat}.json"
                        result = _measure(python[tool], tool, data, out)
                        results[tool].append(result)
                        runs.append({"frames": frames, "rows": rows, "repeat": repeat,
                                     **{k: v for k, v in result.items() if k != "cases"}})
                problems += _compare(f"{rows} ({frames})", results["labkit"][0]["cases"]["main"],
                                     results["evidently"][0]["cases"]["main"])
                _remove(data)
            _progress(f"edge cases ({frames}): both tools")
            edges = _prepare(Path(workdir) / "edge-cases", frames, _write_edge_cases)
            judged = {tool: _measure(python[tool], tool, edges, Path(workdir) / f"{tool}-{frames}-edges.json")
                      for tool in TOOLS}
            for case in sorted(judged["labkit"]["cases"]):
                problems += _compare(f"{case} ({frames})", judged["labkit"]["cases"][case], judged["evidently"]["cases"][case])
            edge_cases = len(judged["labkit"]["cases"])
            _remove(edges)
    summary = _medians(runs)
    print(_markdown(summary, problems, edge_cases=edge_cases))
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(
            {"machine": _machine(python), "runs": runs, "summary": summary, "problems": problems}, indent=2
        ))
    return 1 if problems else 0


def _write_frames(path: Path, rows: int) -> None:
    """The reference and current frames, column by column, for both tools to read."""
    rng = np.random.default_rng(0)
    arrays = {}
    for side, tilt in (("reference", 0.0), ("current", 1.0)):
        for i in range(10):
            # Shifts of 0.02 to 0.2 standard deviations: below and above Wasserstein's 0.1.
            arrays[f"main/{side}/x{i}"] = rng.normal(tilt * 0.02 * (i + 1) * (1 + i), 1.0 + i, size=rows)
        for j, count in enumerate((3, 8, 40)):
            weights = np.linspace(1.0, 1.0 + tilt * (0.2 + 0.1 * j), count)
            values = np.array([f"v{k}" for k in range(count)])
            arrays[f"main/{side}/c{j}"] = rng.choice(values, size=rows, p=weights / weights.sum())
    np.savez(path, **arrays)


def _write_edge_cases(path: Path) -> None:
    """Small frames at Evidently's boundaries and corners, to compare verdicts on, not to time.

    Both sides of 1000 and 1001 reference rows (some missing), 5 and 6 distinct values,
    two values (strings, booleans, numbers), integers of few and many values, a constant
    column, a category only in current, missing strings and infinite numbers.
    """
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray] = {}

    def add(case: str, side: str, columns: dict[str, np.ndarray]) -> None:
        for name, values in columns.items():
            if values.dtype == object:
                missing = np.array([value is None for value in values])
                arrays[f"{case}/{side}/{name}#missing"] = missing
                values = np.array(["" if gone else value for value, gone in zip(values, missing)])
            arrays[f"{case}/{side}/{name}"] = values

    for rows in (1000, 1001, 1004):
        with_gaps = rng.normal(size=rows)
        with_gaps[:3] = np.nan  # 1001 and 1004 rows hold 998 and 1001 values: either side of 1000
        add(f"rows-{rows}", "reference", {"x": with_gaps, "k": rng.integers(0, 4, rows).astype(float)})
        add(f"rows-{rows}", "current", {"x": rng.normal(0.1, size=300), "k": rng.integers(0, 5, 300).astype(float)})
    for rows in (800, 1500):
        strings = ["sun", "rain", "fog"]
        add(f"kinds-{rows}", "reference", {
            "five": rng.integers(0, 5, rows).astype(float), "six": rng.integers(0, 6, rows).astype(float),
            "few_ints": rng.integers(0, 8, rows), "many_ints": rng.integers(0, 50, rows),
            "yes_no": rng.choice(np.array(["yes", "no"], dtype=object), rows), "flag": rng.random(rows) > 0.3,
            "binary": rng.integers(0, 2, rows).astype(float), "constant": np.full(rows, 2.0),
            "constant_then_not": np.full(rows, 1.0),
            "new_category": rng.choice(np.array(strings, dtype=object), rows),
            "missing_strings": rng.choice(np.array(strings + [None], dtype=object), rows),
            "infinite": rng.normal(size=rows),
        })
        infinite = rng.normal(size=300)
        infinite[:5] = np.inf
        add(f"kinds-{rows}", "current", {
            "five": rng.integers(0, 5, 300).astype(float), "six": rng.integers(0, 6, 300).astype(float),
            "few_ints": rng.integers(0, 9, 300), "many_ints": rng.integers(0, 60, 300),
            "yes_no": rng.choice(np.array(["yes", "no"], dtype=object), 300, p=[0.6, 0.4]), "flag": rng.random(300) > 0.5,
            "binary": rng.integers(0, 2, 300).astype(float), "constant": np.full(300, 2.0),
            "constant_then_not": rng.normal(size=300),
            "new_category": np.concatenate((rng.choice(np.array(strings, dtype=object), 299), np.array(["snow"], dtype=object))),
            "missing_strings": rng.choice(np.array(["sun", "rain", None], dtype=object), 300),
            "infinite": infinite,
        })
        add(f"one-value-each-{rows}", "reference", {"c": np.array(["a"] * rows, dtype=object)})
        add(f"one-value-each-{rows}", "current", {"c": np.array(["b"] * 300, dtype=object)})
    np.savez(path, **arrays)


def _prepare(stem: Path, frames: str, write: Callable[[Path], None]) -> Path:
    """The data a child reads: the ``.npz`` file ``write`` makes, or for ``csv`` a folder of CSV files from it."""
    arrays = stem.with_suffix(".npz")
    write(arrays)
    if frames == "objects":
        return arrays
    # Written by this script's pandas from the frames the objects way builds: the same
    # values, missing strings as empty fields, floats in the shortest text that reads back exact.
    for case, sides in _read_frames(arrays).items():
        for side, frame in zip(("reference", "current"), sides):
            (stem / case).mkdir(parents=True, exist_ok=True)
            frame.to_csv(stem / case / f"{side}.csv", index=False)
    arrays.unlink()
    return stem


def _remove(data: Path) -> None:
    """Delete a child's data once measured, so the temporary folder never holds two sizes."""
    if data.is_dir():
        shutil.rmtree(data)
    else:
        data.unlink()


def _read_frames(path: Path) -> dict[str, tuple[Any, Any]]:
    """Each case's reference and current frames: from a folder of ``case/side.csv`` files, or
    from a file of ``case/side/column`` arrays."""
    import pandas as pd

    if path.is_dir():
        # pandas 2's default float parser can be a unit in the last place off; pandas 3's
        # is exact (and deprecates the keyword): so both tools get the very numbers written.
        exact = {"float_precision": "round_trip"} if pd.__version__.startswith("2.") else {}
        return {
            case.name: tuple(pd.read_csv(case / f"{side}.csv", **exact) for side in ("reference", "current"))
            for case in sorted(path.iterdir())
        }
    with np.load(path, allow_pickle=False) as archive:
        cases: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for key in archive.files:
            if key.endswith("#missing"):
                continue
            case, side, name = key.split("/")
            values = archive[key]
            if values.dtype.kind == "U":
                # Each string a Python object of its own, as a database driver returns them.
                values = values.astype(object)
                if f"{key}#missing" in archive.files:
                    values[archive[f"{key}#missing"]] = None
            cases.setdefault(case, {"reference": {}, "current": {}})[side][name] = values
    return {case: (pd.DataFrame(sides["reference"]), pd.DataFrame(sides["current"])) for case, sides in cases.items()}


def _child(tool: str, data: Path, out: Path) -> None:
    """Run a report on each case in ``data``; write the verdicts, timings and memory to ``out``."""
    # Imports first, then the data, then the report, so each step's memory can be told apart.
    if tool == "labkit":
        # labkit's tests import these scipy modules on first use; imported here, their time
        # and memory count with the imports, as all of Evidently's do, not with the report.
        import scipy.spatial.distance  # noqa: F401
        import scipy.stats  # noqa: F401

        from labkit.monitoring import drift_report
    else:
        import warnings

        from evidently import Report
        from evidently.presets import DataDriftPreset

        warnings.simplefilter("ignore")
    imports_mib = _memory("VmRSS")
    cases = _read_frames(data)
    before_mib = _memory("VmRSS")
    # Writing 5 to clear_refs resets this process's peak (VmHWM) to its current size, so
    # the peak read after the report is what the process held (imports and data) and the
    # report's own peak above it, not what reading the data needed for a moment.
    Path("/proc/self/clear_refs").write_text("5")
    verdicts = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for case, (reference, current) in cases.items():
        if tool == "labkit":
            report = drift_report(reference, current)
            verdicts[case] = {
                "share": report.share_drifted,
                "columns": {
                    row["column"]: {"test": row["test"], "score": float(row["score"]), "drifted": bool(row["drifted"])}
                    for row in report.table.to_dict("records")
                },
            }
        else:
            verdicts[case] = _evidently_verdicts(Report([DataDriftPreset()], include_tests=True).run(current, reference))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = _memory("VmHWM")
    out.write_text(json.dumps({
        "tool": tool, "seconds": wall, "cpu_seconds": cpu, "cases": verdicts, "peak_rss_mib": peak_mib,
        "imports_mib": imports_mib, "data_mib": before_mib - imports_mib, "report_extra_mib": peak_mib - before_mib,
    }))


def _evidently_verdicts(snapshot: Any) -> dict[str, Any]:
    """Each column's test, score and verdict, and the share drifted, from an Evidently snapshot."""
    result = snapshot.dict()
    columns: dict[str, dict[str, Any]] = {}
    share = None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {"test": EVIDENTLY_NAMES[config["method"]], "score": float(metric["value"])}
        else:
            share = float(metric["value"]["share"])
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            columns[params["column"]]["drifted"] = str(test["status"]).endswith("FAIL")
    return {"share": share, "columns": columns}


def _memory(field: str) -> float:
    """This process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MiB, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"expected {field} in /proc/self/status; got none; fix: run on Linux")


def _measure(python: Path, tool: str, data: Path, out: Path) -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)} if tool == "labkit" else dict(os.environ)
    command = [str(python), str(Path(__file__).resolve()), "--child", tool, "--data", str(data), "--out", str(out)]
    # The child reads its own peak from /proc: the maximum resident size that wait4 reports
    # would also count this process's peak (a child started by vfork inherits it), which
    # is as large as a frame of 1M rows once the CSV files are written.
    process = subprocess.run(command, env=environment, cwd=ROOT, check=False)
    if process.returncode != 0:
        raise SystemExit(f"expected the {tool} run to succeed; it exited with {process.returncode}; see its output above")
    return json.loads(out.read_text())


def _compare(case: str, labkit: dict[str, Any], evidently: dict[str, Any]) -> list[str]:
    problems = []
    if set(labkit["columns"]) != set(evidently["columns"]):
        problems.append(f"{case}: columns differ: {sorted(labkit['columns'])} vs {sorted(evidently['columns'])}")
    for name in sorted(set(labkit["columns"]) & set(evidently["columns"])):
        ours, theirs = labkit["columns"][name], evidently["columns"][name]
        if ours["test"] != theirs["test"] or ours["drifted"] != theirs["drifted"]:
            problems.append(f"{case}, {name}: labkit {ours}, Evidently {theirs}")
        elif not np.isclose(ours["score"], theirs["score"], rtol=RELATIVE, atol=0.0):
            problems.append(f"{case}, {name}: score {ours['score']!r} vs Evidently's {theirs['score']!r}")
    if labkit["share"] != evidently["share"]:
        problems.append(f"{case}: share drifted {labkit['share']} vs Evidently's {evidently['share']}")
    return problems


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """The median of every figure, per way of reading the frames, size and tool."""
    summary: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for frames in dict.fromkeys(run["frames"] for run in runs):
        summary[frames] = {}
        for rows in sorted({run["rows"] for run in runs if run["frames"] == frames}):
            alike = [run for run in runs if run["frames"] == frames and run["rows"] == rows]
            summary[frames][str(rows)] = {
                tool: {
                    key: statistics.median(run[key] for run in alike if run["tool"] == tool)
                    for key in ("seconds", "cpu_seconds", "peak_rss_mib", "imports_mib", "data_mib", "report_extra_mib")
                }
                for tool in TOOLS
            }
    return summary


def _markdown(summary: dict[str, dict[str, dict[str, dict[str, float]]]], problems: list[str], *, edge_cases: int) -> str:
    lines: list[str] = []
    for frames, sizes in summary.items():
        lines += [
            f"Frames read as `{frames}`:",
            "",
            "| rows per frame | labkit s (CPU s) | Evidently s (CPU s) | speed-up (wall, CPU) "
            "| peak MiB labkit / Evidently (ratio) | report's own MiB labkit / Evidently (ratio) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for rows, tools in sizes.items():
            ours, theirs = tools["labkit"], tools["evidently"]
            lines.append(
                f"| {int(rows):,} | {ours['seconds']:.3f} ({ours['cpu_seconds']:.3f}) | "
                f"{theirs['seconds']:.2f} ({theirs['cpu_seconds']:.2f}) | "
                f"{theirs['seconds'] / ours['seconds']:.0f}x, {theirs['cpu_seconds'] / ours['cpu_seconds']:.0f}x | "
                f"{ours['peak_rss_mib']:.0f} / {theirs['peak_rss_mib']:.0f} "
                f"({ours['peak_rss_mib'] / theirs['peak_rss_mib']:.2f}) | "
                f"{ours['report_extra_mib']:.0f} / {theirs['report_extra_mib']:.0f} "
                f"({ours['report_extra_mib'] / max(theirs['report_extra_mib'], 1):.2f}) |"
            )
        first = next(iter(sizes.values()))
        lines += ["", "Imports, MiB: labkit {:.0f}, Evidently {:.0f}. The data as read, MiB (labkit / Evidently): {}.".format(
            first["labkit"]["imports_mib"], first["evidently"]["imports_mib"],
            ", ".join(f"{tools['labkit']['data_mib']:.0f} / {tools['evidently']['data_mib']:.0f} at {int(rows):,} rows"
                      for rows, tools in sizes.items()),
        ), ""]
    verdict = (
        f"every column of every size and of {edge_cases} edge cases, each way of reading the frames: "
        "same test, same verdict, score within 1e-9 relative; same share drifted"
    )
    lines += [f"Agreement with Evidently: {verdict}." if not problems else "Disagreements:\n" + "\n".join(problems)]
    return "\n".join(lines)


def _evidently_python(venv: Path) -> Path:
    """Evidently's own environment (pandas<3), built on first use and reused after."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas; print(evidently.__version__, pandas.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    _progress(f"building Evidently's environment in {venv} (once)")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", EVIDENTLY, "pandas<3"], check=True)
    return python


def _machine(python: dict[str, Path]) -> dict[str, Any]:
    def versions(interpreter: Path, packages: str) -> str:
        code = f"import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) for p in {packages.split()!r}))"
        return subprocess.run([str(interpreter), "-c", code], capture_output=True, text=True).stdout.strip()

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "labkit side": versions(python["labkit"], "numpy scipy pandas"),
        "evidently side": versions(python["evidently"], "evidently numpy scipy pandas"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "load_average": list(os.getloadavg()),
    }


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
