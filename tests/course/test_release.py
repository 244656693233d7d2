"""labkit release: student versions written elsewhere, solutions out, checkpoints locked."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.cli import main
from labkit.course.marks import mark_checkpoint
from labkit.course.release import release, student_version
from labkit.errors import CourseError


def _instructor():
    work = new_code_cell("import math\n### BEGIN SOLUTION\narea = math.pi\n### END SOLUTION\nprint(area)", id="work")
    work.outputs = [new_output("stream", name="stdout", text="3.14")]
    work.execution_count = 3
    work.metadata["papermill"] = {"status": "completed"}
    check = mark_checkpoint(new_code_cell("lk.checkpoint('area', abs(area - 3.14) < 0.01)", id="check-area"))
    check.outputs = [new_output("display_data", data={"text/plain": "passed"})]
    answer = new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", id="answer")
    notebook = new_notebook(cells=[work, check, answer], metadata={"papermill": {"parameters": {}}})
    return notebook


def test_student_version_clears_solutions_and_outputs_and_locks_checkpoints():
    instructor = _instructor()
    before = nbformat.writes(instructor)

    student = student_version(instructor)

    work, check, answer = student.cells
    assert work.source == "import math\n# YOUR CODE HERE\nraise NotImplementedError()\nprint(area)"
    assert (work.outputs, work.execution_count, "papermill" in work.metadata) == ([], None, False)
    assert check.source == "lk.checkpoint('area', abs(area - 3.14) < 0.01)"
    assert check.outputs == [] and check.metadata == {"labkit": {"checkpoint": True}, "editable": False, "deletable": False}
    assert answer.source == "Why?\nYOUR ANSWER HERE"
    assert [cell.id for cell in student.cells] == ["work", "check-area", "answer"]
    assert "papermill" not in student.metadata
    assert nbformat.writes(instructor) == before  # the instructor's notebook is not changed


def test_a_solution_inside_a_checkpoint_cell_is_refused():
    notebook = _instructor()
    notebook.cells[1].source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nlk.checkpoint('x', x)"
    with pytest.raises(CourseError, match=r"expected no solution region in a checkpoint cell; got one in cell 'check-area'"):
        student_version(notebook)


def test_release_writes_the_tree_elsewhere_and_never_over_a_file(tmp_path):
    source, out = tmp_path / "course", tmp_path / "students"
    (source / "week1").mkdir(parents=True)
    (source / ".ipynb_checkpoints").mkdir()
    nbformat.write(_instructor(), source / "lab.ipynb")
    nbformat.write(_instructor(), source / "week1" / "lab2.ipynb")
    nbformat.write(_instructor(), source / ".ipynb_checkpoints" / "lab-checkpoint.ipynb")

    written = release(source, out)

    assert sorted(p.relative_to(out).as_posix() for p in written) == ["lab.ipynb", "week1/lab2.ipynb"]
    assert "NotImplementedError" in (out / "week1" / "lab2.ipynb").read_text()
    assert "area = math.pi" in (source / "lab.ipynb").read_text()
    with pytest.raises(CourseError, match=r"expected no file at '.*lab.ipynb'; got one; fix: pass overwrite=True"):
        release(source, out)
    assert len(release(source, out, overwrite=True)) == 2


@pytest.mark.parametrize("inside", [".", "student"])
def test_release_refuses_to_write_into_the_source(tmp_path, inside):
    nbformat.write(_instructor(), tmp_path / "lab.ipynb")
    with pytest.raises(CourseError, match=r"expected an output folder outside"):
        release(tmp_path, tmp_path / inside)


def test_release_on_the_command_line(tmp_path, capsys):
    (tmp_path / "course").mkdir()
    nbformat.write(_instructor(), tmp_path / "course" / "lab.ipynb")

    assert main(["release", str(tmp_path / "course"), str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip().endswith("lab.ipynb")
    assert main(["release", str(tmp_path / "course"), str(tmp_path / "out")]) == 2
    assert "labkit release: expected no file at" in capsys.readouterr().err
    assert main(["release", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "expected a folder of notebooks to release" in capsys.readouterr().err
