"""lk.checkpoint: a clear line for the student, a record in the output metadata for the grader."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import labkit as lk
from labkit.course.checkpoint import METADATA_KEY, checkpoint
from labkit.errors import CourseError


@pytest.fixture()
def shell():
    """An IPython shell, so display() behaves as in a notebook; removed afterwards."""
    yield InteractiveShell.instance()
    InteractiveShell.clear_instance()


def test_reachable_as_lk_checkpoint():
    assert lk.checkpoint is checkpoint


def test_a_pass_is_recorded_in_the_output_metadata(shell):
    with capture_output() as captured:
        checkpoint("deployed", [1], points=2)

    (output,) = captured.outputs
    assert output.metadata == {METADATA_KEY: {"checkpoint": {"name": "deployed", "passed": True, "points": 2}}}
    assert output.data["text/plain"] == "\u2714 checkpoint 'deployed' passed"
    assert "passed" in output.data["text/html"]


def test_a_failure_shows_the_hint_and_never_the_answer(shell):
    with capture_output() as captured:
        checkpoint("served", 0, hint="is <dep.url> answering?")

    (output,) = captured.outputs
    assert output.metadata[METADATA_KEY]["checkpoint"]["passed"] is False
    assert output.data["text/plain"] == "\u2718 checkpoint 'served' not passed yet. Hint: is <dep.url> answering?"
    assert "&lt;dep.url&gt;" in output.data["text/html"] and "<dep.url>" not in output.data["text/html"]


def test_outside_a_notebook_it_prints(capsys):
    assert checkpoint("x", True) is None
    assert capsys.readouterr().out == "\u2714 checkpoint 'x' passed\n"


@pytest.mark.parametrize(
    ("name", "points", "message"),
    [
        ("", 1, r"expected a checkpoint name, a non-empty string; got ''"),
        (3, 1, r"expected a checkpoint name, a non-empty string; got 3"),
        ("x", 0, r"expected points > 0 for checkpoint 'x'; got 0; fix: points=1"),
        ("x", True, r"expected points > 0 for checkpoint 'x'; got True"),
    ],
)
def test_bad_arguments_are_refused(name, points, message):
    with pytest.raises(CourseError, match=message):
        checkpoint(name, True, points=points)
