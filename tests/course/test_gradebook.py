"""The gradebook counts only the instructor's restored checkpoint cells, with the instructor's points."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from labkit.course.gradebook import Gradebook, Row, collect, declared_in, first_error
from labkit.course.marks import Declared, mark_checkpoint
from labkit.errors import CourseError


def _record(name, passed, points=1):
    return new_output(
        "display_data", data={"text/plain": "x"},
        metadata={"labkit": {"checkpoint": {"name": name, "passed": passed, "points": points}}},
    )


def _source():
    return new_notebook(cells=[
        new_code_cell("work()", id="work"),
        mark_checkpoint(new_code_cell("lk.checkpoint('a', ok)\nlk.checkpoint('b', ok, points=2)", id="check")),
    ])


def test_declared_checkpoints_by_cell_id():
    assert declared_in(_source()) == {"check": [Declared("a", 1), Declared("b", 2)]}


def test_repeated_names_and_empty_checkpoint_cells_are_refused():
    twice = _source()
    twice.cells.append(mark_checkpoint(new_code_cell("lk.checkpoint('a', True)", id="again")))
    with pytest.raises(CourseError, match=r"expected each checkpoint name once per notebook; got 'a' twice in lab"):
        declared_in(twice, path="lab")
    empty = _source()
    empty.cells.append(mark_checkpoint(new_code_cell("pass", id="empty")))
    with pytest.raises(CourseError, match=r"expected a checkpoint cell to call lk.checkpoint\(...\); got none in cell 'empty'"):
        declared_in(empty)


def test_only_outputs_of_the_declaring_cell_count():
    executed = _source()
    executed.cells[0].outputs = [_record("a", True), _record("b", True, points=100)]  # from student code
    executed.cells[1].outputs = [
        new_output("stream", name="stdout", text="checkpoint 'b' passed"),
        _record("a", True),
        _record("zzz", True),
        _record("b", "yes"),  # not exactly True
    ]

    assert collect(executed, declared_in(_source())) == {"a": True, "b": False}


def test_the_last_record_of_a_name_wins_and_a_missing_cell_fails():
    executed = _source()
    executed.cells[1].outputs = [_record("a", True), _record("a", False)]
    assert collect(executed, declared_in(_source())) == {"a": False, "b": False}
    executed.cells.pop()
    assert collect(executed, declared_in(_source())) == {"a": False, "b": False}


def test_first_error():
    executed = _source()
    assert first_error(executed) is None
    executed.cells[1].outputs = [new_output("error", ename="NameError", evalue="name 'ok' is not defined", traceback=[])]
    assert first_error(executed) == (1, "NameError: name 'ok' is not defined")


def test_csv_round_trip(tmp_path):
    book = Gradebook(
        rows=[
            Row("ana", "lab.ipynb", '{"n": 1}', "failed", 1.5, 3, 2.25, 'cell 2: "quoted", error', {"a": 1.5, "b": 0}),
            Row("", "other.ipynb", "", "error", 0, 0, 0.0, "missing", {}),
        ],
        checkpoints=["a", "b"],
    )
    path = tmp_path / "gradebook.csv"
    path.write_text(book.to_csv())

    assert path.read_text().splitlines()[:2] == [
        "student,notebook,params,status,score,max_score,runtime_s,error,a,b",
        'ana,lab.ipynb,"{""n"": 1}",failed,1.5,3,2.2,"cell 2: ""quoted"", error",1.5,0',
    ]
    again = Gradebook.read_csv(path)
    assert again.checkpoints == ["a", "b"]
    assert again.rows[1] == book.rows[1]
    assert again.rows[0].checkpoints == {"a": 1.5, "b": 0}
    frame = book.to_frame()
    assert list(frame.columns)[-2:] == ["a", "b"] and frame.loc[1, "student"] == ""


def test_read_csv_refuses_other_files(tmp_path):
    (tmp_path / "x.csv").write_text("name,score\n")
    with pytest.raises(CourseError, match=r"expected a gradebook starting with columns \['student'"):
        Gradebook.read_csv(tmp_path / "x.csv")
