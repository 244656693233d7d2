"""Checkpoint cells and solution regions, as the instructor marks them."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from labkit.course.marks import Declared, clear_solutions, declared_checkpoints, is_checkpoint_cell, mark_checkpoint
from labkit.errors import CourseError


def test_a_marked_cell_is_a_locked_checkpoint_cell():
    cell = mark_checkpoint(new_code_cell("lk.checkpoint('x', True)"))

    assert is_checkpoint_cell(cell)
    assert cell.metadata == {"labkit": {"checkpoint": True}, "editable": False, "deletable": False}
    assert not is_checkpoint_cell(new_code_cell("x = 1"))


def test_only_a_code_cell_can_be_a_checkpoint():
    with pytest.raises(CourseError, match="expected a code cell to mark as a checkpoint; got a 'markdown' cell"):
        mark_checkpoint(new_markdown_cell("text"))
    markdown = new_markdown_cell("text", metadata={"labkit": {"checkpoint": True}})
    assert not is_checkpoint_cell(markdown)


def test_declared_checkpoints_are_read_without_running():
    source = (
        "ok = service_is_up()\n"
        "lk.checkpoint('deployed', ok, hint='start it', points=2)\n"
        "for _ in range(1):\n"
        "    checkpoint(name='served', passed=True)\n"
    )
    assert declared_checkpoints(source) == [Declared("deployed", 2), Declared("served", 1)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("name = 'x'\nlk.checkpoint(name, True)", r"to name its checkpoint with a string literal; got 'lk.checkpoint\(name, True\)'"),
        ("lk.checkpoint('x', True, points=p)", r"expected the points of checkpoint 'x' as a literal number > 0"),
        ("lk.checkpoint('x', True, points=-1)", r"expected the points of checkpoint 'x' as a literal number > 0"),
        ("lk.checkpoint('x', True", r"expected a checkpoint cell of valid Python; got a syntax error"),
    ],
)
def test_declarations_the_grader_cannot_read_are_refused(source, message):
    with pytest.raises(CourseError, match=message):
        declared_checkpoints(source)


def test_solutions_become_nbgrader_stubs_at_their_indentation():
    source = "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nif x:\n    # BEGIN SOLUTION\n    z = 3\n    # END SOLUTION"

    assert clear_solutions(source) == (
        "x = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nif x:\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )
    assert clear_solutions("### BEGIN SOLUTION\nthe answer\n### END SOLUTION", cell_type="markdown") == "YOUR ANSWER HERE"
    assert clear_solutions("no marks here") == "no marks here"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", r"expected ### END SOLUTION after ### BEGIN SOLUTION; got none"),
        ("x = 1\n### END SOLUTION", r"got '### END SOLUTION' on line 2 without a BEGIN before it"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", r"on line 2 inside another region"),
    ],
)
def test_unbalanced_marks_are_refused(source, message):
    with pytest.raises(CourseError, match=message):
        clear_solutions(source)
