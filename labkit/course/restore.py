"""Put the instructor's checkpoint cells back into a submission before it is graded.

A student can edit a checkpoint cell into ``lk.checkpoint("x", True)``, delete it, or
write a cell of their own that claims to be one (or tag their own cell ``parameters``). None of that counts: the notebook
that is graded is the submission's own cells with every checkpoint cell replaced by
the instructor's, matched by cell id (nbformat 4.5), and put back after the cell that
comes before it in the instructor's notebook when the student deleted it.
"""

from __future__ import annotations

import copy
import uuid

import nbformat

from labkit.course.checkpoint import METADATA_KEY
from labkit.course.marks import is_checkpoint_cell
from labkit.errors import CourseError

__all__ = ["restore_checkpoints", "require_cell_ids"]


def require_cell_ids(notebook: nbformat.NotebookNode, *, path: str) -> None:
    """Refuse an instructor's notebook whose cells have no ids: checkpoints are matched by id."""
    missing = [index for index, cell in enumerate(notebook.cells, start=1) if not cell.get("id")]
    if notebook.get("nbformat_minor", 0) < 5 or missing:
        raise CourseError(
            f"expected every cell of {path} to have an id (nbformat 4.5); got "
            f"{'nbformat 4.' + str(notebook.get('nbformat_minor')) if not missing else f'none on cells {missing}'}; "
            "fix: open and save the notebook in JupyterLab 3 or newer, which gives every cell an id",
            path=path,
        )


_PAPERMILL_TAGS = ("parameters", "injected-parameters")


def _restored(cell) -> bool:
    """Cells that are the instructor's in every graded run: checkpoints and the parameters cell."""
    return is_checkpoint_cell(cell) or "parameters" in cell.get("metadata", {}).get("tags", [])


def restore_checkpoints(source: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook to grade: the submission's cells with the instructor's checkpoint cells restored.

    Parameters
    ----------
    source
        The instructor's notebook (every cell with an id).
    submission
        What the student handed in.

    Returns
    -------
    nbformat.NotebookNode
        A new notebook with the instructor's notebook metadata (so a submission cannot
        choose its kernel), every output cleared, and each of the instructor's checkpoint
        cells exactly once, under its own id. The instructor's ``parameters`` cell is
        restored the same way, and the tag is taken off any other cell, so that papermill
        injects a run's parameters where the instructor put them.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> from labkit.course.marks import mark_checkpoint
    >>> check = mark_checkpoint(new_code_cell("lk.checkpoint('x', x == 1)", id="check-x"))
    >>> source = new_notebook(cells=[new_code_cell("x = 1", id="work"), check])
    >>> cheat = new_notebook(cells=[new_code_cell("x = 2", id="work"),
    ...                             new_code_cell("lk.checkpoint('x', True)", id="check-x")])
    >>> [cell.source for cell in restore_checkpoints(source, cheat).cells]
    ['x = 2', "lk.checkpoint('x', x == 1)"]
    """
    checkpoint_ids = {cell.id for cell in source.cells if _restored(cell)}
    cells, seen = [], set()
    for cell in submission.get("cells", []):
        if cell.get("id") in checkpoint_ids:
            continue
        cell = copy.deepcopy(cell)
        metadata = cell.setdefault("metadata", {})
        marks = metadata.get(METADATA_KEY)
        if isinstance(marks, dict):
            marks.pop("checkpoint", None)  # a claim the instructor did not make
        if isinstance(metadata.get("tags"), list):  # papermill injects after the instructor's cell only
            metadata["tags"] = [tag for tag in metadata["tags"] if tag not in _PAPERMILL_TAGS]
        if not cell.get("id") or cell.id in seen:
            cell["id"] = uuid.uuid4().hex[:12]
        seen.add(cell.id)
        cells.append(cell)

    position = {cell.id: index for index, cell in enumerate(cells)}
    for index, cell in enumerate(source.cells):
        if cell.id not in checkpoint_ids:
            continue
        anchor = next((c.id for c in reversed(source.cells[:index]) if c.id in position), None)
        at = position[anchor] + 1 if anchor is not None else 0
        cells.insert(at, copy.deepcopy(cell))
        position = {c.id: i for i, c in enumerate(cells)}

    for cell in cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    restored = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source.metadata))
    restored.nbformat_minor = max(restored.nbformat_minor, 5)
    return restored
