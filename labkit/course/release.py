"""Student versions of the course's notebooks: solutions out, outputs cleared, checkpoints locked.

``labkit release SRC_DIR OUT_DIR`` writes them. The course's own notebooks stay executed
in the repository (nbval compares their outputs); release always writes elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from labkit.course.marks import clear_solutions, is_checkpoint_cell, mark_checkpoint
from labkit.course.restore import require_cell_ids
from labkit.errors import CourseError

__all__ = ["release", "student_version"]


def student_version(notebook: nbformat.NotebookNode, *, path: str = "<notebook>") -> nbformat.NotebookNode:
    """The student's version of one notebook (a new object; the instructor's is not changed).

    Solution regions become ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (in
    markdown, ``YOUR ANSWER HERE``); outputs, execution counts and papermill's records are
    cleared; checkpoint cells are kept as they are and locked. Cell ids are kept, since
    the grader matches checkpoint cells by id.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION")])
    >>> print(student_version(nb).cells[0].source)
    # YOUR CODE HERE
    raise NotImplementedError()
    """
    require_cell_ids(notebook, path=path)
    released = nbformat.reads(nbformat.writes(notebook), as_version=4)
    released.metadata.pop("papermill", None)
    for cell in released.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type not in ("code", "markdown"):
            continue
        if is_checkpoint_cell(cell):
            if clear_solutions(cell.source) != cell.source:
                raise CourseError(
                    f"expected no solution region in a checkpoint cell; got one in cell {cell.id!r} of {path}; "
                    "fix: move the solution to a cell of its own before the checkpoint",
                    path=path,
                )
            mark_checkpoint(cell)
        else:
            try:
                cell.source = clear_solutions(cell.source, cell_type=cell.cell_type)
            except CourseError as error:
                raise CourseError(f"{path}, cell {cell.id!r}: {error}", path=path) from None
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return released


def release(source: str | Path, out: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the student version of every notebook under ``source`` into ``out``.

    Parameters
    ----------
    source
        The instructor's folder of notebooks (read, never changed).
    out
        Where the student versions go, in the same layout; a folder outside ``source``.
    overwrite
        Replace student versions already in ``out``; without it an existing file is an error.

    Returns
    -------
    list of Path
        The files written.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    if not source.is_dir():
        raise CourseError(
            f"expected a folder of notebooks to release; got {str(source)!r}, which is not a folder; "
            "fix: pass the instructor's notebooks folder",
            path=str(source),
        )
    if out == source or source in out.parents:
        raise CourseError(
            f"expected an output folder outside {str(source)!r}; got {str(out)!r}; "
            "fix: release into another folder (the course's notebooks stay executed)",
            path=str(out),
        )
    notebooks = sorted(
        path for path in source.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.relative_to(source).parts
    )
    if not notebooks:
        raise CourseError(f"expected notebooks (*.ipynb) in {str(source)!r}; got none", path=str(source))
    planned = []
    for path in notebooks:
        target = out / path.relative_to(source)
        if target.exists() and not overwrite:
            raise CourseError(
                f"expected no file at {str(target)!r}; got one; fix: pass overwrite=True (--force) "
                "or release into an empty folder",
                path=str(target),
            )
        planned.append((target, student_version(nbformat.read(path, as_version=4), path=str(path))))
    for target, notebook in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
    return [target for target, _ in planned]
