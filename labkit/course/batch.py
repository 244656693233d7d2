"""Run the course's notebooks, or every student's submission, in parallel, and grade them.

:func:`batch` is what ``labkit batch`` calls. It reads every notebook it will run into
memory before the first run starts, so a run that rewrites other students' files or the
output folder changes nothing that is graded; it runs each notebook through
:func:`labkit.course.engine.execute` (its own folder, environment, kernel, limits), in
worker processes or on a Dask cluster; it grades from the restored checkpoint cells
(:mod:`labkit.course.gradebook`); and only when every run is over does it write the
output folder, from what the runner collected:

- ``gradebook.csv``: one row per student, notebook and parameter set;
- ``notebooks/``: every executed notebook;
- ``results.json``: what ``--retry-failed`` needs to rerun only the runs that did not finish;
- ``report.html``: pass rates, the score distribution, the slowest and the failing runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from labkit._files import write_atomic
from labkit.course.engine import Limits, clean_up_after
from labkit.course.gradebook import Gradebook, Row, collect, declared_in, first_error
from labkit.course.restore import require_cell_ids, restore_checkpoints
from labkit.errors import CourseError

__all__ = ["RunSpec", "RunResult", "batch", "run_one"]

FINISHED = ("passed", "failed")


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, held in memory so nothing on disk can change it mid-batch.

    ``submission`` is the notebook text to run (the instructor's own when there are no
    submissions); ``problem`` says why there is nothing to run (missing, unreadable).
    """

    student: str
    notebook: str
    params: dict
    source: str
    submission: str | None
    problem: str
    limits: Limits
    # Every process of the run carries it, so the batch can kill them if its worker dies.
    marker: str = field(default_factory=lambda: secrets.token_hex(16), compare=False)

    @property
    def params_text(self) -> str:
        return json.dumps(self.params, sort_keys=True) if self.params else ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.student, self.notebook, self.params_text)

    @property
    def fingerprint(self) -> str:
        """The sha256 of what was run: the instructor's notebook and the submission."""
        digest = hashlib.sha256(self.source.encode())
        digest.update(b"\0" + (self.submission or self.problem).encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class RunResult:
    """What the runner collected from one run: its row, the executed notebook, where it failed."""

    row: Row
    notebook: str | None
    fingerprint: str
    failing_cell: int | None = None
    failing_source: str = ""
    traceback: str = ""
    checkpoint_results: dict[str, bool] = field(default_factory=dict)


def run_one(spec: RunSpec) -> RunResult:
    """Restore, run and grade one notebook; never raises because of what the notebook does.

    This is the task the worker processes and the Dask workers run.
    """
    from labkit.course.engine import execute

    source = nbformat.reads(spec.source, as_version=4)
    declared = declared_in(source, path=spec.notebook)
    names = [item.name for items in declared.values() for item in items]
    points = {item.name: item.points for items in declared.values() for item in items}
    max_score = sum(points.values())
    zero = {name: 0 for name in names}
    if spec.submission is None:
        row = Row(spec.student, spec.notebook, spec.params_text, "error", 0, max_score, 0.0, spec.problem, zero)
        return RunResult(row, None, spec.fingerprint)
    try:
        submitted = nbformat.reads(spec.submission, as_version=4)
    except Exception as error:  # anything a student can do to a file
        problem = f"not a notebook nbformat can read: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        row = Row(spec.student, spec.notebook, spec.params_text, "error", 0, max_score, 0.0, problem, zero)
        return RunResult(row, None, spec.fingerprint)

    execution = execute(
        restore_checkpoints(source, submitted), parameters=spec.params, limits=spec.limits, marker=spec.marker
    )
    executed = execution.notebook
    results = collect(executed, declared)
    earned = {name: points[name] if results[name] else 0 for name in names}
    score = sum(earned.values())
    failure = first_error(executed)
    if execution.status == "completed":
        status = "passed" if score == max_score else "failed"
        error = f"cell {failure[0] + 1}: {failure[1]}" if failure else ""
        failing = failure[0] if failure else None
    else:
        status, error, failing = execution.status, execution.error, execution.cell
    if failing is None and status == "failed":
        failing = next((i for i, cell in enumerate(executed.cells) if cell.get("id") in declared
                        and any(not results[d.name] for d in declared[cell.id])), None)
    row = Row(spec.student, spec.notebook, spec.params_text, status, score, max_score,
              round(execution.runtime_s, 1), error, earned)
    cell = executed.cells[failing] if failing is not None else None
    return RunResult(
        row, nbformat.writes(executed), spec.fingerprint, failing,
        cell.source if cell is not None else "", _traceback(cell), results,
    )


def _traceback(cell) -> str:
    import re

    if cell is None:
        return ""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output.get("traceback", [])))[-4000:]
    return ""


def batch(
    notebooks: Sequence[str | Path],
    *,
    out: str | Path,
    submissions: str | Path | None = None,
    params: Sequence[dict] | None = None,
    workers: int | None = None,
    limits: Limits = Limits(),
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> Gradebook:
    """Run notebooks, or each student's copies of them, and write a gradebook and a report.

    Parameters
    ----------
    notebooks
        The instructor's notebooks (with their checkpoint cells and cell ids).
    out
        The output folder: ``gradebook.csv``, ``report.html``, ``results.json``, ``notebooks/``.
    submissions
        A folder with one subfolder per student, each holding notebooks under the course's
        file names. Without it, the instructor's notebooks themselves run.
    params
        Parameter sets (see :func:`labkit.course.grid.read_grid`); each notebook runs once
        per set. ``None`` runs each once as it is.
    workers
        How many runs at a time in worker processes (default: the number of cores).
    limits
        Time, memory and output each run may use.
    scheduler
        The address of a Dask scheduler (``tcp://host:8786``): one task per run on the
        cluster, with the same isolation on each worker, instead of local processes.
    retry_failed
        Rerun only the runs in ``out`` that did not finish (error, timeout, killed), or
        whose notebooks changed; keep the rest as they were.
    progress
        Show a progress bar.

    Returns
    -------
    Gradebook
        The rows, sorted by student, notebook and parameters.
    """
    out = Path(out).resolve()
    sources = _read_sources(notebooks)
    checkpoints = _checkpoint_columns(sources)
    specs = _plan(sources, submissions, list(params) if params else [{}], limits)
    if out.exists() and not out.is_dir():
        raise CourseError(f"expected an output folder; got a file at {str(out)!r}; fix: pick a folder", path=str(out))

    kept = _previous(out, specs) if retry_failed else {}
    todo = [spec for spec in specs if spec.key not in kept]
    results = dict(kept)
    for result in _run_all(todo, workers=workers or os.cpu_count() or 1, scheduler=scheduler, progress=progress):
        results[result.row.key] = result

    ordered = [results[spec.key] for spec in sorted(specs, key=lambda spec: spec.key)]
    book = Gradebook(rows=[result.row for result in ordered], checkpoints=checkpoints)
    _write(out, book, ordered)
    return book


def _read_sources(notebooks: Sequence[str | Path]) -> dict[str, str]:
    if not notebooks:
        raise CourseError("expected at least one notebook to run; got none; fix: labkit batch notebooks/*.ipynb --out OUT")
    sources = {}
    for path in map(Path, notebooks):
        if path.suffix != ".ipynb" or not path.is_file():
            raise CourseError(
                f"expected an existing .ipynb file; got {str(path)!r}; fix: pass the instructor's notebooks",
                path=str(path),
            )
        if path.name in sources:
            raise CourseError(
                f"expected notebooks with different file names; got {path.name!r} twice; "
                "fix: students' copies are matched by file name, so rename one",
                path=str(path),
            )
        text = path.read_text(encoding="utf-8")
        notebook = nbformat.reads(text, as_version=4)
        require_cell_ids(notebook, path=str(path))
        declared_in(notebook, path=str(path))
        sources[path.name] = text
    return sources


def _checkpoint_columns(sources: dict[str, str]) -> list[str]:
    columns, owner = [], {}
    for name, text in sources.items():
        for items in declared_in(nbformat.reads(text, as_version=4), path=name).values():
            for item in items:
                if item.name in owner:
                    raise CourseError(
                        f"expected each checkpoint name once in the course; got {item.name!r} in both "
                        f"{owner[item.name]!r} and {name!r}; fix: rename one (the gradebook has a column per name)"
                    )
                owner[item.name] = name
                columns.append(item.name)
    return columns


def _plan(sources: dict[str, str], submissions, grid: list[dict], limits: Limits) -> list[RunSpec]:
    if submissions is None:
        return [RunSpec("", name, params, text, text, "", limits) for name, text in sources.items() for params in grid]
    folder = Path(submissions)
    if not folder.is_dir():
        raise CourseError(
            f"expected a submissions folder with one subfolder per student; got {str(folder)!r}, which is not a "
            "folder; fix: pass the folder that holds the students' folders",
            path=str(folder),
        )
    students = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise CourseError(
            f"expected one subfolder per student in {str(folder)!r}; got none; fix: put each student's "
            "notebooks in a folder named after the student",
            path=str(folder),
        )
    specs = []
    for student in students:
        for name, text in sources.items():
            path = folder / student / name
            submission, problem = None, ""
            if not path.is_file() or path.is_symlink():
                problem = f"missing: expected {student}/{name}; got no such file"
            else:
                try:
                    submission = path.read_bytes().decode("utf-8", errors="replace")
                except OSError as error:
                    problem = f"unreadable: {error.strerror}"
            specs.extend(RunSpec(student, name, params, text, submission, problem, limits) for params in grid)
    return specs


def _previous(out: Path, specs: list[RunSpec]) -> dict[tuple, RunResult]:
    """The finished runs of the last batch in ``out`` whose notebooks have not changed."""
    path = out / "results.json"
    if not path.is_file():
        raise CourseError(
            f"expected the results of a previous batch in {str(out)!r} to retry; got no results.json; "
            "fix: run without --retry-failed first",
            path=str(path),
        )
    previous = {}
    try:
        for record in json.loads(path.read_text(encoding="utf-8"))["runs"]:
            row = Row(**record["row"])
            previous[row.key] = (row, record)
    except (ValueError, KeyError, TypeError) as error:
        raise CourseError(
            f"expected {str(path)!r} as labkit batch writes it; got a file it cannot read ({error!r}); "
            "fix: run the batch again without --retry-failed",
            path=str(path),
        ) from None
    kept = {}
    for spec in specs:
        found = previous.get(spec.key)
        if found is None or found[0].status not in FINISHED or found[1]["fingerprint"] != spec.fingerprint:
            continue
        row, record = found
        notebook_path = out / record["notebook_path"] if record.get("notebook_path") else None
        text = notebook_path.read_text(encoding="utf-8") if notebook_path and notebook_path.is_file() else None
        kept[spec.key] = RunResult(
            row, text, spec.fingerprint, record.get("failing_cell"), record.get("failing_source", ""),
            record.get("traceback", ""), record.get("checkpoint_results", {}),
        )
    return kept


def _run_all(specs: list[RunSpec], *, workers: int, scheduler: str | None, progress: bool) -> Iterable[RunResult]:
    from tqdm.auto import tqdm

    with tqdm(total=len(specs), desc="labkit batch", unit="run", disable=not progress) as bar:
        runner = _on_dask(specs, scheduler) if scheduler else _in_processes(specs, workers)
        for result in runner:
            bar.update()
            yield result


def _in_processes(specs: list[RunSpec], workers: int) -> Iterable[RunResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # A fresh interpreter per worker ("spawn"): nothing of the caller's state, threads or
    # open sockets is forked into the processes that start students' kernels.
    context = multiprocessing.get_context("spawn")
    broken = []
    if specs:
        with ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=context) as pool:
            futures = {pool.submit(run_one, spec): spec for spec in specs}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken.append(futures[future])
    # A worker that died takes every run in its pool with it. Kill what those runs left
    # running and remove their folders, then rerun them one by one, each in a pool of its own, so only the run
    # that kills its worker is marked.
    for spec in broken:
        clean_up_after(spec.marker)
    for spec in broken:
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                yield pool.submit(run_one, spec).result()
        except BrokenProcessPool:
            clean_up_after(spec.marker)
            yield _worker_died(spec)


def _on_dask(specs: list[RunSpec], scheduler: str) -> Iterable[RunResult]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise CourseError(
            "expected Dask's distributed scheduler for --scheduler; got no 'distributed' module; "
            "fix: pip install 'labkit[cluster]' (or conda install dask distributed)"
        ) from None
    from distributed import KilledWorker

    with Client(scheduler, set_as_default=False) as client:
        futures = {}
        for spec in specs:
            key = "labkit-run-" + hashlib.sha256(json.dumps(spec.key).encode() + os.urandom(8)).hexdigest()[:16]
            futures[client.submit(run_one, spec, key=key, pure=False)] = spec
        for future in as_completed(futures, loop=client.loop):
            try:
                yield future.result()
            except KilledWorker:
                yield _worker_died(futures[future])


def _worker_died(spec: RunSpec) -> RunResult:
    declared = [item for items in declared_in(nbformat.reads(spec.source, as_version=4)).values() for item in items]
    row = Row(spec.student, spec.notebook, spec.params_text, "killed", 0, sum(item.points for item in declared), 0.0,
              "the worker process running this notebook died", {item.name: 0 for item in declared})
    return RunResult(row, None, spec.fingerprint)


def _notebook_path(row: Row) -> Path:
    stem = Path(row.notebook).stem
    if row.params:
        stem += "." + hashlib.sha256(row.params.encode()).hexdigest()[:8]
    return Path("notebooks", row.student, stem + ".ipynb") if row.student else Path("notebooks", stem + ".ipynb")


def _write(out: Path, book: Gradebook, results: list[RunResult]) -> None:
    """Write the output folder from memory, replacing whatever a run may have put there."""
    from labkit.course.report import render

    out.mkdir(parents=True, exist_ok=True)
    if os.path.realpath(out) != str(out):
        # A run can replace the folder with a link to somewhere else, so that the files
        # below, and the removal of the old notebooks, would land there.
        raise CourseError(
            f"expected the output folder {str(out)!r} to be the folder it was when the batch started; got a link to "
            f"{os.path.realpath(out)!r}, which a run may have made; fix: remove the link and run the batch again",
            path=str(out),
        )
    notebooks = out / "notebooks"
    if notebooks.is_symlink() or notebooks.is_file():
        notebooks.unlink()
    elif notebooks.exists():
        shutil.rmtree(notebooks)
    records = []
    for result in results:
        relative = _notebook_path(result.row) if result.notebook is not None else None
        if relative is not None:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out / relative, result.notebook.encode("utf-8"))
        records.append({
            "row": asdict(result.row),
            "fingerprint": result.fingerprint,
            "notebook_path": relative.as_posix() if relative else None,
            "failing_cell": result.failing_cell,
            "failing_source": result.failing_source,
            "traceback": result.traceback,
            "checkpoint_results": result.checkpoint_results,
        })
    write_atomic(out / "gradebook.csv", book.to_csv().encode("utf-8"))
    write_atomic(out / "results.json", json.dumps({"runs": records}, indent=1).encode("utf-8"))
    write_atomic(out / "report.html", render(book, records).encode("utf-8"))
