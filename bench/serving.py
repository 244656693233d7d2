"""How fast does labkit serve a model, next to a minimal hand-written FastAPI app?

One run trains the course's running example (a scikit-learn pipeline fitted on 2012),
registers it, and serves that same version three times, each in its own process on
127.0.0.1:

- ``labkit``: :func:`labkit.deploy`, the service the notebooks use;
- ``logged``: the same, started with ``store=``, so it commits every prediction to the
  prediction store before answering (issue 7's "logging on");
- ``bare``: ``bench/bare_app.py``, the service most tutorials show (a pydantic model of
  one record, an ``async def`` handler, ``model.predict`` on a DataFrame).

All are loaded by the same client, ``wrk``, posting the same JSON body again and again:
one record, then 1000 records (rows of 2013-2015, the days the model serves in the
course). Each server is warmed up first; then every measurement is repeated, the servers
interleaved so a noisy neighbour hurts all alike, and the median of the repeats is
reported: requests per second, rows per second, p50/p99 latency, and the server
process's CPU time per request.

Run it from the repository root::

    .venv/bin/python bench/serving.py --repeats 7 --duration 5 --json bench-results.json

The markdown table goes to standard output, progress to standard error. Timing is
measured here and never asserted in a test.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import labkit

BARE_APP = Path(__file__).with_name("bare_app.py")
MODEL_NAME = "weather"
ALIAS = "champion"
NUMERIC = ["precipitation", "temp_max", "temp_min", "wind"]
SERVERS = ("labkit", "logged", "bare")
PACKAGES = (
    "labkit", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "orjson",
    "numpy", "pandas", "scikit-learn", "skops",
)

# wrk runs this script in every thread. It posts one body, stops the thread after a
# number of responses (a bound besides -d), and prints its figures as one JSON line.
# wrk's own "duration" is always the full -d, even for a thread stopped early, so each
# thread times itself with the monotonic clock (through LuaJIT's ffi) instead.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1

local function now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- args: the file holding the JSON body, and the most responses one thread waits for.
function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = file:read("*a")
  file:close()
  limit = tonumber(args[2])
  responses = 0
  started = now()
  last = started
end

function response(status, headers, body)
  responses = responses + 1
  last = now()
  if responses >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local rate, total, capped = 0, 0, false
  for _, thread in ipairs(threads) do
    local n = thread:get("responses")
    total = total + n
    rate = rate + n / math.max(thread:get("last") - thread:get("started"), 1e-9)
    capped = capped or n >= thread:get("limit")
  end
  local e = summary.errors
  io.write(string.format(
    '\n{"responses": %d, "requests_per_s": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "capped": %s, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    total, rate, latency:percentile(50) / 1000, latency:percentile(99) / 1000, tostring(capped),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class Run:
    """One wrk run against one server with one payload."""

    server: str
    rows: int
    repeat: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    responses: int
    capped: bool
    server_cpu_ms: float | None

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows


@dataclass(frozen=True)
class Measured:
    """What one benchmark run gives: every run, the machine, and what the logging server stored."""

    runs: list[Run]
    machine: dict[str, Any]
    stored_rows: int | None
    answered_rows: int


def parser(description: str) -> argparse.ArgumentParser:
    """The options every serving benchmark takes (``monitoring.py`` uses them too)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per measured run, wrk -d (default: 5)")
    parser.add_argument(
        "--warmup", type=int, default=2,
        help="whole seconds of warm-up per server and payload (default: 2)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5,
        help="measured runs per server and payload; the median is kept (default: 5)",
    )
    parser.add_argument("--connections", type=int, default=4, help="open connections, wrk -c (default: 4)")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="wrk threads, wrk -t; leave a core to the server (default: 1)",
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1, 1000],
        help="records per request (default: 1 1000)",
    )
    parser.add_argument(
        "--max-requests", type=int, default=50_000,
        help="a wrk thread stops after this many responses (default: 50000)",
    )
    parser.add_argument(
        "--json", type=Path, default=None,
        help="also write every run and the medians to this JSON file",
    )
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the options."""
    arguments = parser.parse_args(argv)
    if min(arguments.duration, arguments.warmup, arguments.repeats, arguments.threads, min(arguments.rows)) < 1:
        parser.error("expected --duration, --warmup, --repeats, --threads and --rows to be at least 1")
    if arguments.connections < arguments.threads:
        parser.error(f"expected --connections >= --threads; got {arguments.connections} < {arguments.threads}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the benchmark, print the table; return the exit status."""
    arguments = parse(parser(__doc__.splitlines()[0]), argv)
    measured = measure(arguments, SERVERS)
    summary = medians(measured.runs)
    print(markdown(summary, arguments, measured.machine))
    write_json(arguments, measured, summary)
    return 0


def measure(arguments: argparse.Namespace, servers: Sequence[str]) -> Measured:
    """Start ``servers`` (names from :data:`SERVERS`), warm each up, then load them in turn, repeatedly."""
    wrk = _find_wrk()
    # Turn SIGTERM into SystemExit, so the `with` blocks below stop every server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as scratch:
        workdir = Path(scratch)
        _progress("training and registering the running example ...")
        registry, production = _registered_model(workdir / "registry")
        bodies = {n: _write_body(workdir / f"body-{n}.json", production, n) for n in arguments.rows}
        script = workdir / "post.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        machine = _machine(wrk)
        store = workdir / "monitor.db"
        with contextlib.ExitStack() as running:
            _progress(f"starting {', '.join(servers)} ...")
            urls, pids = {}, {}
            for server in servers:
                if server == "bare":
                    urls[server], pids[server] = running.enter_context(_bare_server(registry.root, workdir))
                else:
                    logs = {"store": store} if server == "logged" else {}
                    deployment = running.enter_context(labkit.deploy(registry, MODEL_NAME, alias=ALIAS, **logs))
                    urls[server], pids[server] = deployment.url, deployment.pid
            _check_same_answers(urls, bodies[max(bodies)])

            def one(server: str, rows: int, seconds: int, repeat: int) -> Run:
                return _wrk(
                    wrk, script, f"{urls[server]}/predict", bodies[rows], pids[server], server=server, rows=rows,
                    repeat=repeat, seconds=seconds, threads=arguments.threads, connections=arguments.connections,
                    max_requests=arguments.max_requests,
                )

            answered = {server: max(bodies) for server in servers}  # the answer check above
            for rows in arguments.rows:
                for server in servers:
                    _progress(f"warming up {server} with {rows}-row requests ({arguments.warmup:g} s)")
                    answered[server] += one(server, rows, arguments.warmup, repeat=-1).responses * rows
            runs = []
            for repeat in range(arguments.repeats):
                # Alternate who goes first, so a drift in the machine's load favours none.
                order = servers if repeat % 2 == 0 else servers[::-1]
                for rows in arguments.rows:
                    for server in order:
                        run = one(server, rows, arguments.duration, repeat)
                        runs.append(run)
                        answered[server] += run.responses * rows
                        _progress(
                            f"[{repeat + 1}/{arguments.repeats}] {server:6} {rows:5} rows: "
                            f"{run.requests_per_s:8.1f} req/s, p50 {run.p50_ms:6.1f} ms, p99 {run.p99_ms:6.1f} ms, "
                            f"server CPU {run.server_cpu_ms or float('nan'):6.2f} ms/request"
                            + ("  (stopped at --max-requests)" if run.capped else "")
                        )
        # Read once every server has stopped: what the logging server committed, all of it.
        stored = len(labkit.PredictionStore(store)) if "logged" in servers else None

    machine["load_average_at_end"] = _load_average()
    return Measured(runs, machine, stored, answered.get("logged", 0))


def write_json(arguments: argparse.Namespace, measured: Measured, summary: dict[str, Any]) -> None:
    """Write every run and the medians to ``--json``, if it was given."""
    if arguments.json is None:
        return
    report = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(arguments).items()},
        "machine": measured.machine,
        "stored_rows": measured.stored_rows,
        "answered_rows": measured.answered_rows,
        "medians": summary,
        "runs": [{**asdict(run), "rows_per_s": run.rows_per_s} for run in measured.runs],
    }
    arguments.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _progress(f"wrote {arguments.json}")


def _find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(
            "expected the HTTP load generator 'wrk' on the PATH; got nothing; fix: install it, "
            "on Debian or Ubuntu with `sudo apt-get update && sudo apt-get install -y wrk` "
            "(on macOS: `brew install wrk`), then run this script again"
        )
    return wrk


def _registered_model(root: Path) -> tuple[labkit.Registry, pd.DataFrame]:
    """Fit the running example on 2012, register it as the champion; return the later days too."""
    train, production = labkit.data.split_by_time(labkit.data.running_example(labkit.data.load_weather()))
    features = list(labkit.data.FEATURES)
    X, y = train[features], train["rain_tomorrow"]
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), NUMERIC),
            (OneHotEncoder(handle_unknown="ignore"), ["weather"]),
        ),
        LogisticRegression(),
    ).fit(X, y)
    registry = labkit.Registry(root)
    version = registry.register(model, name=MODEL_NAME, X=X, y=y, notes="bench/serving.py")
    registry.promote(MODEL_NAME, version=version.version, alias=ALIAS)
    return registry, production[features]


def _write_body(path: Path, production: pd.DataFrame, rows: int) -> Path:
    """Write ``{"records": [...]}`` with ``rows`` days of production, the same on every run."""
    sample = production.sample(n=rows, replace=rows > len(production), random_state=0)
    path.write_bytes(orjson.dumps({"records": sample.to_dict(orient="records")}))
    return path


@contextlib.contextmanager
def _bare_server(registry_root: Path, workdir: Path, timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """Run ``bare_app.py`` in its own process; yield its URL and pid; stop it on exit, error or not."""
    # The parent binds the free port and hands the socket over, so the URL is known at
    # once and no other program can take the port in between.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    log_path = workdir / "bare.log"
    with listener, open(log_path, "wb") as log:
        command = [
            sys.executable, str(BARE_APP), "--registry", str(registry_root), "--model", MODEL_NAME,
            "--alias", ALIAS, "--fd", str(listener.fileno()),
        ]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"expected {BARE_APP.name} to answer {url}/health within {timeout:g} s; "
                    f"it did not (exit status {process.poll()}); its log:\n{log_path.read_text(errors='replace')}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.05)
        yield url, process.pid
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _check_same_answers(urls: dict[str, str], body: Path) -> None:
    """Every server must give the same predictions: otherwise they do different work."""
    answers = {}
    for server, url in urls.items():
        response = httpx.post(
            f"{url}/predict", content=body.read_bytes(), headers={"Content-Type": "application/json"}, timeout=60.0
        )
        response.raise_for_status()
        answers[server] = response.json()["predictions"]
    if any(answer != next(iter(answers.values())) for answer in answers.values()):
        raise RuntimeError("expected every server to predict alike for the same records; they differ")


def _wrk(
    wrk: str, script: Path, url: str, body: Path, pid: int, *, server: str, rows: int, repeat: int, seconds: int,
    threads: int, connections: int, max_requests: int,
) -> Run:
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
        "-s", str(script), url, "--", str(body), str(max_requests),
    ]
    cpu_before = _cpu_seconds(pid)
    # subprocess.run kills wrk if we are interrupted, and the timeout bounds a stuck run.
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu_after = _cpu_seconds(pid)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed (exit status {result.returncode}): {result.stderr or result.stdout}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if any(figures["errors"].values()) or figures["responses"] == 0:
        raise RuntimeError(
            f"expected only successful responses from {server} with {rows}-row requests; got "
            f"{figures['responses']} responses and errors {figures['errors']}; wrk said:\n{result.stdout}"
        )
    cpu_ms = None if cpu_before is None or cpu_after is None else 1000 * (cpu_after - cpu_before) / figures["responses"]
    return Run(
        server=server, rows=rows, repeat=repeat, requests_per_s=figures["requests_per_s"],
        p50_ms=figures["p50_ms"], p99_ms=figures["p99_ms"], responses=figures["responses"], capped=figures["capped"],
        server_cpu_ms=cpu_ms,
    )


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) a process has used so far; None where /proc is missing.

    On a shared machine, requests/s falls when a neighbour takes the CPU; the server's own
    CPU time per request moves less, so it is the steadier figure to compare.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5), counted from the pid as field 1.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def medians(runs: list[Run]) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{"1": {"labkit": {"requests_per_s": ...}, "bare": {...}}, "1000": ...}``, medians over repeats."""
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for run in runs:
        summary.setdefault(str(run.rows), {}).setdefault(run.server, {})
    for rows, by_server in summary.items():
        for server in by_server:
            mine = [r for r in runs if str(r.rows) == rows and r.server == server]
            by_server[server] = {
                metric: statistics.median(getattr(r, metric) for r in mine)
                for metric in ("requests_per_s", "rows_per_s", "p50_ms", "p99_ms")
            }
            cpu = [r.server_cpu_ms for r in mine if r.server_cpu_ms is not None]
            by_server[server]["server_cpu_ms"] = statistics.median(cpu) if cpu else None
    return summary


def markdown(
    summary: dict[str, dict[str, dict[str, float | None]]], arguments: argparse.Namespace, machine: dict[str, Any]
) -> str:
    lines = [
        f"Medians of {arguments.repeats} run{'s' if arguments.repeats != 1 else ''} of {arguments.duration} s each; "
        f"wrk -t{arguments.threads} "
        f"-c{arguments.connections}; {machine['cpus']} CPUs; Python {machine['python']}; "
        f"load average {_first(machine['load_average_at_start'])} at start, "
        f"{_first(machine['load_average_at_end'])} at end.",
        "",
        "| request | metric | labkit | logged | bare | labkit / bare | logged / labkit | logged / bare |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    metrics = [
        ("requests_per_s", "requests/s (higher is better)", "{:,.0f}"),
        ("rows_per_s", "rows/s (higher is better)", "{:,.0f}"),
        ("p50_ms", "p50 latency, ms (lower is better)", "{:.1f}"),
        ("p99_ms", "p99 latency, ms (lower is better)", "{:.1f}"),
        ("server_cpu_ms", "server CPU per request, ms (lower is better)", "{:.2f}"),
    ]
    for rows, by_server in summary.items():
        label = "1 row" if rows == "1" else f"{rows} rows"
        for metric, name, form in metrics:
            if metric == "rows_per_s" and rows == "1":
                continue  # the same number as requests/s
            mine, logged, theirs = (by_server[server][metric] for server in ("labkit", "logged", "bare"))
            if mine is None or logged is None or theirs is None:
                continue  # no /proc on this system: CPU time is unknown
            lines.append(
                f"| {label} | {name} | {form.format(mine)} | {form.format(logged)} | {form.format(theirs)} "
                f"| {mine / theirs:.2f} | {logged / mine:.2f} | {logged / theirs:.2f} |"
            )
    return "\n".join(lines)


def _first(values: list[float] | None) -> str:
    return f"{values[0]:.2f}" if values else "unknown"


def _machine(wrk: str) -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version[0] if wrk_version else None,
        "load_average_at_start": _load_average(),
        "labkit_source": _labkit_source(),
        "packages": versions,
    }


def _labkit_source() -> dict[str, Any]:
    """Where the labkit under test was imported from, and its git commit when it is a checkout."""
    folder = Path(labkit.__file__).resolve().parent
    source: dict[str, Any] = {"path": str(folder), "commit": None, "modified": None}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        # Read-only queries; --no-optional-locks keeps `status` from rewriting the index.
        git = ["git", "--no-optional-locks", "-C", str(folder.parent)]
        source["commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", folder.name], capture_output=True, text=True, check=True
        ).stdout
        source["modified"] = sorted(line[3:] for line in changed.splitlines())
    return source


def _load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: how busy the rest of the machine was."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
