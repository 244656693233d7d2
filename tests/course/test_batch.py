"""labkit batch on a class of real submissions: every row exactly right, whatever the others did.

Kernels are slow to start, so each batch runs once per module and the tests read its
results: the whole class in worker processes; part of it one at a time from the command
line (then ``--retry-failed``); part of it on a local Dask cluster. The three must give
the same rows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.cli import main
from labkit.course.batch import batch
from labkit.course.engine import Limits
from labkit.course.gradebook import Gradebook
from labkit.course.grid import read_grid
from labkit.course.marks import mark_checkpoint
from labkit.errors import CourseError

from course_class import EXPECTED, LIMITS, TIMEOUT_S, instructor_notebook, make_class

# A batch of kernels on a loaded 2-core machine takes minutes; the module-scoped batch
# runs are set up inside the first test that asks for them.
pytestmark = pytest.mark.timeout(1800)

SERIAL = ["ana", "dan", "hana", "mia", "nora"]
ON_DASK = ["ana", "cara", "ivan", "kim", "leo", "omar"]
PREFIX_ONLY = {"cara", "omar"}  # their messages name a file IPython or nbformat made up


def _without_runtime(book: Gradebook, students=None) -> list:
    return [replace(row, runtime_s=0.0) for row in book.rows if students is None or row.student in students]


@pytest.fixture(scope="module")
def in_processes(tmp_path_factory):
    """The whole class, two runs at a time in worker processes."""
    root = tmp_path_factory.mktemp("processes")
    source, submissions, out = make_class(root)
    book = batch([source], out=out, submissions=submissions, workers=2, limits=Limits(**LIMITS), progress=False)
    return SimpleNamespace(root=root, submissions=submissions, out=out, book=book)


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory):
    """Part of the class, one run at a time, from the command line."""
    root = tmp_path_factory.mktemp("serial")
    source, submissions, out = make_class(root, students=SERIAL)
    command = [
        "batch", str(source), "--submissions", str(submissions), "--out", str(out), "--workers", "1",
        "--timeout", str(TIMEOUT_S), "--memory", str(LIMITS["memory_mb"]), "--max-output", "1", "--no-progress",
    ]
    status = main(command)
    return SimpleNamespace(root=root, source=source, submissions=submissions, out=out, status=status,
                           command=command, book=Gradebook.read_csv(out / "gradebook.csv"))


@pytest.fixture(scope="module")
def on_dask(tmp_path_factory):
    """Part of the class on a local Dask cluster with worker processes."""
    distributed = pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("dask")
    source, submissions, out = make_class(root, students=ON_DASK)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        book = batch([source], out=out, submissions=submissions, scheduler=cluster.scheduler_address,
                     limits=Limits(**LIMITS), progress=False)
    return SimpleNamespace(out=out, book=book)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_every_row_is_exactly_right(in_processes, student):
    (row,) = [row for row in in_processes.book.rows if row.student == student]
    status, score, error, double, squares = EXPECTED[student]

    assert (row.notebook, row.params, row.status, row.score, row.max_score) == ("lab.ipynb", "", status, score, 3)
    assert row.checkpoints == {"double": double, "squares": squares}
    if student in PREFIX_ONLY:
        assert row.error.startswith(error), row.error
    else:
        assert row.error == error


def test_the_output_folder_holds_what_the_runner_collected(in_processes):
    out, book = in_processes.out, in_processes.book

    assert (out / "gradebook.csv").read_text() == book.to_csv()
    assert [row.student for row in book.rows] == sorted(EXPECTED)
    executed = sorted(p.parent.name for p in (out / "notebooks").glob("*/lab.ipynb"))
    assert executed == sorted(set(EXPECTED) - {"nora", "omar"})
    ana = nbformat.read(out / "notebooks" / "ana" / "lab.ipynb", as_version=4)
    check = next(cell for cell in ana.cells if cell.id == "check-squares")
    assert check.outputs[0]["metadata"]["labkit"]["checkpoint"] == {"name": "squares", "passed": True, "points": 2}
    results = json.loads((out / "results.json").read_text())["runs"]
    assert [record["row"]["student"] for record in results] == sorted(EXPECTED)
    report = (out / "report.html").read_text()
    assert "15 runs: 3 passed, 7 failed, 3 error, 1 timeout, 1 killed." in report


def test_the_hostile_run_did_write_and_changed_no_result(in_processes):
    # kim really overwrote everyone's submission on disk during the batch ...
    for folder in in_processes.submissions.iterdir():
        if folder.name not in ("kim", "nora"):
            assert (folder / "lab.ipynb").read_text() == "overwritten by kim"
    # ... and the rows above are right anyway, and the output folder is the runner's.
    assert "overwritten by kim" not in (in_processes.out / "notebooks" / "ana" / "lab.ipynb").read_text()


def test_cheating_shows_to_the_student_and_earns_nothing(in_processes):
    leo = nbformat.read(in_processes.out / "notebooks" / "leo" / "lab.ipynb", as_version=4)
    by_id = {cell.id: cell for cell in leo.cells}
    assert by_id["check-double"].source == 'lk.checkpoint("double", double(21) == 42, hint="double(x) returns twice x")'
    assert "passed" in by_id["my-own"].outputs[0]["data"]["text/plain"]  # his own cell said so
    mia = nbformat.read(in_processes.out / "notebooks" / "mia" / "lab.ipynb", as_version=4)
    forged = next(cell for cell in mia.cells if cell.id == "ex1")
    assert any(o.get("metadata", {}).get("labkit") for o in forged.outputs)


def test_one_at_a_time_gives_the_same_rows(in_processes, one_at_a_time):
    assert one_at_a_time.status == 1  # not every run passed
    assert _without_runtime(one_at_a_time.book) == _without_runtime(in_processes.book, SERIAL)


def test_on_dask_gives_the_same_rows(in_processes, on_dask):
    assert _without_runtime(on_dask.book) == _without_runtime(in_processes.book, ON_DASK)


def test_retry_failed_reruns_only_the_runs_that_did_not_finish(one_at_a_time, capsys):
    out = one_at_a_time.out
    before = {p.parent.name: p.read_bytes() for p in (out / "notebooks").glob("*/lab.ipynb")}
    # nora hands in late: the correct notebook.
    (one_at_a_time.submissions / "nora" / "lab.ipynb").write_bytes(
        (one_at_a_time.submissions / "ana" / "lab.ipynb").read_bytes()
    )

    assert main([*one_at_a_time.command, "--retry-failed"]) == 1

    after = {p.parent.name: p.read_bytes() for p in (out / "notebooks").glob("*/lab.ipynb")}
    for student in ("ana", "dan", "mia"):  # finished before: kept as they were
        assert after[student] == before[student]
    assert after["hana"] != before["hana"]  # rerun
    rows = {row.student: row for row in Gradebook.read_csv(out / "gradebook.csv").rows}
    assert (rows["nora"].status, rows["nora"].score) == ("passed", 3)
    assert rows["hana"].status == "error"
    assert "2 of 5 runs passed" in capsys.readouterr().out


def test_a_run_that_kills_its_worker_costs_only_its_own_row(tmp_path):
    import tempfile

    import psutil

    source, submissions, out = make_class(tmp_path, students=["ana", "pia"])
    folders = set(Path(tempfile.gettempdir()).glob("labkit-run-*"))

    book = batch([source], out=out, submissions=submissions, workers=2, limits=Limits(**LIMITS), progress=False)

    rows = {row.student: row for row in book.rows}
    assert (rows["ana"].status, rows["ana"].score) == ("passed", 3)
    assert (rows["pia"].status, rows["pia"].score, rows["pia"].error) == (
        "killed", 0, "the worker process running this notebook died"
    )
    left = []
    for process in psutil.process_iter():
        try:
            if "LABKIT_RUN" in process.environ():
                left.append(process.pid)
        except psutil.Error:
            continue
    assert left == [], "a run's processes outlived the batch"
    assert set(Path(tempfile.gettempdir()).glob("labkit-run-*")) == folders, "a run's folder outlived the batch"


def test_each_parameter_set_is_a_run(tmp_path):
    parameters = new_code_cell("scale: int = 1  # how much", id="params")
    parameters.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[
        parameters,
        new_code_cell("import labkit as lk", id="setup"),
        mark_checkpoint(new_code_cell('lk.checkpoint("scaled", scale == 2)', id="check")),
    ])
    nbformat.write(notebook, tmp_path / "scaled.ipynb")
    (tmp_path / "grid.yaml").write_text("scale: [1, 2]\n")

    book = batch([tmp_path / "scaled.ipynb"], out=tmp_path / "out", params=read_grid(tmp_path / "grid.yaml"),
                 workers=2, limits=Limits(**LIMITS), progress=False)

    assert [(row.student, row.params, row.status, row.score) for row in book.rows] == [
        ("", '{"scale": 1}', "failed", 0),
        ("", '{"scale": 2}', "passed", 1),
    ]
    assert len(list((tmp_path / "out" / "notebooks").glob("scaled.*.ipynb"))) == 2


def _course(tmp_path: Path, notebook=None, name="lab.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(notebook or instructor_notebook(), path)
    return path


def _same_name_twice(tmp_path):
    (tmp_path / "week2").mkdir()
    return [_course(tmp_path), _course(tmp_path / "week2")], {}


def _same_checkpoint_twice(tmp_path):
    return [_course(tmp_path), _course(tmp_path, name="copy.ipynb")], {}


def _no_submissions_folder(tmp_path):
    return [_course(tmp_path)], {"submissions": tmp_path / "none"}


def _no_students(tmp_path):
    (tmp_path / "submissions").mkdir()
    return [_course(tmp_path)], {"submissions": tmp_path / "submissions"}


def _no_notebook(tmp_path):
    return [tmp_path / "missing.ipynb"], {}


def _nothing_to_retry(tmp_path):
    return [_course(tmp_path)], {"retry_failed": True}


def _unreadable_results(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text('{"runs": [{"row": {"student": "x"}}]}')
    return [_course(tmp_path)], {"retry_failed": True}


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (_same_name_twice, r"expected notebooks with different file names; got 'lab.ipynb' twice"),
        (_same_checkpoint_twice,
         r"expected each checkpoint name once in the course; got 'double' in both 'lab.ipynb' and 'copy.ipynb'"),
        (_no_submissions_folder, r"expected a submissions folder with one subfolder per student; got '.*none'"),
        (_no_students, r"expected one subfolder per student in '.*submissions'; got none"),
        (_no_notebook, r"expected an existing .ipynb file; got '.*missing.ipynb'"),
        (_nothing_to_retry, r"expected the results of a previous batch in '.*out' to retry; got no results.json"),
        (_unreadable_results, r"expected '.*results.json' as labkit batch writes it; got a file it cannot read"),
    ],
)
def test_mistakes_are_refused_before_anything_runs(tmp_path, arrange, message):
    notebooks, options = arrange(tmp_path)
    with pytest.raises(CourseError, match=message):
        batch(notebooks, out=tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_an_output_folder_swapped_for_a_link_is_not_written(tmp_path):
    from labkit.course.batch import _write

    victim, out = tmp_path / "victim", tmp_path / "out"
    (victim / "notebooks").mkdir(parents=True)
    (victim / "notebooks" / "keep.txt").write_text("precious")
    out.symlink_to(victim)  # what a run could do while the batch runs

    with pytest.raises(CourseError, match=r"expected the output folder '.*out' to be the folder it was"):
        _write(out, Gradebook(rows=[], checkpoints=[]), [])
    assert sorted(p.name for p in victim.rglob("*")) == ["keep.txt", "notebooks"]


def test_a_notebook_without_cell_ids_is_refused_on_the_command_line(tmp_path, capsys):
    old = instructor_notebook()
    old.nbformat_minor = 4
    for cell in old.cells:
        del cell["id"]
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(old))

    assert main(["batch", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "labkit batch: expected every cell of" in capsys.readouterr().err
