"""The instructor's checkpoint cells go back into a submission before it is graded."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.course.marks import mark_checkpoint
from labkit.course.restore import require_cell_ids, restore_checkpoints
from labkit.errors import CourseError


def _source():
    return new_notebook(
        cells=[
            new_markdown_cell("intro", id="intro"),
            new_code_cell("x = 1", id="work"),
            mark_checkpoint(new_code_cell("lk.checkpoint('x', x == 1)", id="check-x")),
            new_code_cell("y = 2", id="more"),
            mark_checkpoint(new_code_cell("lk.checkpoint('y', y == 2)", id="check-y")),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def _sources(notebook):
    return [(cell.id, cell.source) for cell in notebook.cells]


def test_an_untouched_submission_is_graded_as_it_is():
    assert _sources(restore_checkpoints(_source(), _source())) == _sources(_source())


def test_edited_checkpoints_are_replaced_and_deleted_ones_put_back_after_their_anchor():
    submission = new_notebook(
        cells=[
            new_markdown_cell("intro", id="intro"),
            new_code_cell("x = 5", id="work"),
            new_code_cell("lk.checkpoint('x', True)", id="check-x"),
            new_code_cell("extra = 1", id="student-cell"),
            new_code_cell("y = 0", id="more"),
        ],
        metadata={"kernelspec": {"name": "evil", "display_name": "not python", "language": "python"}},
    )

    restored = restore_checkpoints(_source(), submission)

    assert _sources(restored) == [
        ("intro", "intro"),
        ("work", "x = 5"),
        ("check-x", "lk.checkpoint('x', x == 1)"),
        ("student-cell", "extra = 1"),
        ("more", "y = 0"),
        ("check-y", "lk.checkpoint('y', y == 2)"),
    ]
    assert restored.metadata.kernelspec.name == "python3"
    assert restored.cells[2].metadata["labkit"] == {"checkpoint": True}


def test_a_cell_that_claims_to_be_a_checkpoint_is_demoted():
    fake = new_code_cell("lk.checkpoint('y', True)", id="fake")
    fake.metadata["labkit"] = {"checkpoint": True}
    submission = _source()
    submission.cells[4] = fake

    restored = restore_checkpoints(_source(), submission)

    assert [cell.id for cell in restored.cells] == ["intro", "work", "check-x", "more", "check-y", "fake"]
    assert restored.cells[5].metadata["labkit"] == {}


def test_cells_without_ids_or_with_repeated_ids_get_fresh_ones_and_outputs_are_cleared():
    submission = new_notebook(cells=[new_code_cell("a = 1", id="same"), new_code_cell("b = 2", id="other")])
    submission.cells[1].id = "same"  # after new_notebook, which would correct it
    submission.cells[1].outputs = [{"output_type": "stream", "name": "stdout", "text": "forged"}]
    submission.cells[1].execution_count = 7
    del submission.cells[0]["id"]
    submission.cells.insert(0, new_code_cell("c = 3", id="same"))
    restored = restore_checkpoints(_source(), submission)

    ids = [cell.id for cell in restored.cells]
    assert len(set(ids)) == len(ids) == 5 and all(ids)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in restored.cells)
    # Nothing to anchor to: the checkpoints go first, in the instructor's order.
    assert ids[:2] == ["check-x", "check-y"]


def test_an_instructors_notebook_needs_cell_ids():
    old = _source()
    old.nbformat_minor = 4
    with pytest.raises(CourseError, match=r"expected every cell of lab.ipynb to have an id \(nbformat 4.5\); got nbformat 4.4"):
        require_cell_ids(old, path="lab.ipynb")
    require_cell_ids(_source(), path="lab.ipynb")


def test_the_parameters_cell_is_the_instructors_and_only_it_is_tagged():
    source = _source()
    parameters = new_code_cell("n_days: int = 30", id="params")
    parameters.metadata["tags"] = ["parameters"]
    source.cells.insert(1, parameters)
    submission = _source()
    mine = new_code_cell("n_days = 5", id="mine")
    mine.metadata["tags"] = ["parameters", "keep-me"]
    submission.cells.insert(1, mine)

    restored = restore_checkpoints(source, submission)

    assert [(cell.id, cell.metadata.get("tags")) for cell in restored.cells[:3]] == [
        ("intro", None), ("params", ["parameters"]), ("mine", ["keep-me"]),
    ]
