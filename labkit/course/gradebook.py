"""The gradebook: what each run earned, read only from the instructor's restored checkpoint cells.

A run's score comes from the outputs of the checkpoint cells the runner restored from
the instructor's notebook (matched by cell id), and only from outputs that carry
:func:`labkit.course.checkpoint`'s metadata for a checkpoint that cell declares. The
points come from the instructor's source, never from the output. Text a student prints,
metadata a student writes from a cell of their own, and checkpoint cells a student
edited earn nothing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labkit.course.checkpoint import METADATA_KEY
from labkit.course.marks import Declared, declared_checkpoints, is_checkpoint_cell
from labkit.errors import CourseError

__all__ = ["COLUMNS", "STATUSES", "Row", "Gradebook", "declared_in", "collect", "first_error"]

COLUMNS = ("student", "notebook", "params", "status", "score", "max_score", "runtime_s", "error")
STATUSES = ("passed", "failed", "error", "timeout", "killed")


@dataclass(frozen=True)
class Row:
    """One run in the gradebook: a student's notebook with one set of parameters.

    ``checkpoints`` maps each checkpoint of the notebook to the points earned (0 when it
    failed or was never reached).
    """

    student: str
    notebook: str
    params: str
    status: str
    score: float
    max_score: float
    runtime_s: float
    error: str
    checkpoints: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the run: student, notebook, parameters."""
        return (self.student, self.notebook, self.params)


def declared_in(notebook: nbformat.NotebookNode, *, path: str = "<notebook>") -> dict[str, list[Declared]]:
    """The checkpoints of an instructor's notebook, by the id of the cell that declares them.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> from labkit.course.marks import mark_checkpoint
    >>> nb = new_notebook(cells=[mark_checkpoint(new_code_cell("lk.checkpoint('x', True, points=2)", id="c1"))])
    >>> declared_in(nb)
    {'c1': [Declared(name='x', points=2)]}
    """
    declared, names = {}, set()
    for cell in notebook.cells:
        if not is_checkpoint_cell(cell):
            continue
        found = declared_checkpoints(cell.source)
        if not found:
            raise CourseError(
                f"expected a checkpoint cell to call lk.checkpoint(...); got none in cell {cell.id!r} of {path}; "
                "fix: add the call, or remove the cell's checkpoint mark",
                path=path,
            )
        for item in found:
            if item.name in names:
                raise CourseError(
                    f"expected each checkpoint name once per notebook; got {item.name!r} twice in {path}; "
                    "fix: give each checkpoint its own name",
                    path=path,
                )
            names.add(item.name)
        declared[cell.id] = found
    return declared


def collect(executed: nbformat.NotebookNode, declared: dict[str, list[Declared]]) -> dict[str, bool]:
    """Which declared checkpoints passed, read from the restored checkpoint cells' outputs.

    A checkpoint passes when the cell with the declaring id shows a checkpoint output
    with that name and ``passed`` exactly ``True`` (the last such output, if several).
    Every declared checkpoint is in the answer; one never reached is ``False``.
    """
    passed = {item.name: False for items in declared.values() for item in items}
    for cell in executed.cells:
        if cell.get("id") not in declared or cell.get("cell_type") != "code":
            continue
        names = {item.name for item in declared[cell.id]}
        for output in cell.get("outputs", []):
            if output.get("output_type") != "display_data":
                continue
            record = output.get("metadata", {}).get(METADATA_KEY, {})
            record = record.get("checkpoint") if isinstance(record, dict) else None
            if isinstance(record, dict) and record.get("name") in names:
                passed[record["name"]] = record.get("passed") is True
    return passed


def first_error(executed: nbformat.NotebookNode) -> tuple[int, str] | None:
    """The first cell that raised, as (index, ``"Name: message"``), or ``None``."""
    for index, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                text = f"{output.get('ename', '')}: {output.get('evalue', '')}".rstrip(": ")
                return index, text
    return None


@dataclass(frozen=True)
class Gradebook:
    """Every run's row, and the checkpoint columns in course order.

    Examples
    --------
    >>> book = Gradebook(rows=[Row("ana", "nb.ipynb", "", "passed", 1, 1, 2.5, "", {"x": 1})], checkpoints=["x"])
    >>> print(book.to_csv().splitlines()[1])
    ana,nb.ipynb,,passed,1,1,2.5,,1
    """

    rows: list[Row]
    checkpoints: list[str]

    def to_csv(self) -> str:
        """The gradebook as CSV text: the fixed columns, then one column per checkpoint."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*COLUMNS, *self.checkpoints])
        for row in self.rows:
            writer.writerow([
                row.student, row.notebook, row.params, row.status, _number(row.score), _number(row.max_score),
                f"{row.runtime_s:.1f}", row.error,
                *(_number(row.checkpoints[name]) if name in row.checkpoints else "" for name in self.checkpoints),
            ])
        return buffer.getvalue()

    @classmethod
    def read_csv(cls, path: str | Path) -> Gradebook:
        """Read a gradebook written by :meth:`to_csv`."""
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = next(reader)
            if tuple(header[: len(COLUMNS)]) != COLUMNS:
                raise CourseError(
                    f"expected a gradebook starting with columns {list(COLUMNS)}; got {header}; "
                    "fix: pass a gradebook.csv written by labkit batch",
                    path=str(path),
                )
            names = header[len(COLUMNS):]
            rows = []
            for line in reader:
                fixed, marks = line[: len(COLUMNS)], line[len(COLUMNS):]
                rows.append(Row(
                    fixed[0], fixed[1], fixed[2], fixed[3], float(fixed[4]), float(fixed[5]), float(fixed[6]),
                    fixed[7], {name: float(mark) for name, mark in zip(names, marks) if mark != ""},
                ))
        return cls(rows=rows, checkpoints=names)

    def to_frame(self):
        """The gradebook as a pandas DataFrame, one row per run."""
        import pandas as pd

        return pd.read_csv(io.StringIO(self.to_csv()), keep_default_na=False, na_values=[""]).fillna(
            {column: "" for column in ("student", "params", "error")}
        )


def _number(value: float) -> str:
    return json.dumps(int(value) if float(value).is_integer() else value)
