"""The marks an instructor puts in a course notebook: checkpoint cells and solution regions.

A checkpoint cell is a code cell whose metadata holds ``{"labkit": {"checkpoint": true}}``;
it is locked for students with Jupyter's own ``editable`` and ``deletable`` keys, which
JupyterLab honours. A solution region is the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, nbgrader's marks, so notebooks written for nbgrader work here too.
"""

from __future__ import annotations

import ast
import numbers
import re
from dataclasses import dataclass

from labkit.course.checkpoint import METADATA_KEY
from labkit.errors import CourseError

__all__ = [
    "Declared",
    "mark_checkpoint",
    "is_checkpoint_cell",
    "declared_checkpoints",
    "clear_solutions",
    "STUB_CODE",
    "STUB_MARKDOWN",
]

STUB_CODE = "# YOUR CODE HERE\nraise NotImplementedError()"
STUB_MARKDOWN = "YOUR ANSWER HERE"

_BEGIN = re.compile(r"^(\s*)#+\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#+\s*END SOLUTION\s*$")


@dataclass(frozen=True)
class Declared:
    """A checkpoint as the instructor's source declares it: its name and its points."""

    name: str
    points: float


def mark_checkpoint(cell: dict) -> dict:
    """Mark a code cell as a checkpoint cell, locked against editing and deleting.

    Examples
    --------
    >>> import nbformat
    >>> cell = mark_checkpoint(nbformat.v4.new_code_cell("lk.checkpoint('x', True)"))
    >>> is_checkpoint_cell(cell), cell.metadata["editable"], cell.metadata["deletable"]
    (True, False, False)
    """
    if cell.get("cell_type") != "code":
        raise CourseError(
            f"expected a code cell to mark as a checkpoint; got a {cell.get('cell_type')!r} cell; "
            "fix: put the lk.checkpoint(...) call in a code cell"
        )
    cell.setdefault("metadata", {}).setdefault(METADATA_KEY, {})["checkpoint"] = True
    cell["metadata"]["editable"] = False
    cell["metadata"]["deletable"] = False
    return cell


def is_checkpoint_cell(cell: dict) -> bool:
    """Whether a cell's metadata marks it as a checkpoint cell."""
    marks = cell.get("metadata", {}).get(METADATA_KEY)
    return cell.get("cell_type") == "code" and isinstance(marks, dict) and marks.get("checkpoint") is True


def declared_checkpoints(source: str) -> list[Declared]:
    """The checkpoints a checkpoint cell's code declares, read without running it.

    Every ``checkpoint(...)`` call (``lk.checkpoint`` or a bare ``checkpoint``) must name
    its checkpoint, and give its points if any, as literals, so the grader knows the
    whole gradebook before any notebook runs.

    Examples
    --------
    >>> declared_checkpoints("lk.checkpoint('deployed', ok, hint='...', points=2)")
    [Declared(name='deployed', points=2)]
    >>> declared_checkpoints("%time x = 1\\ncheckpoint('x', x == 1)")
    [Declared(name='x', points=1)]
    """
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError as error:
        raise CourseError(
            f"expected a checkpoint cell of valid Python; got a syntax error ({error.msg}, line {error.lineno}) "
            f"in:\n{source}\nfix: correct the instructor's notebook"
        ) from None
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        if called != "checkpoint":
            continue
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        name_node = node.args[0] if node.args else keywords.get("name")
        points_node = keywords.get("points")
        name = name_node.value if isinstance(name_node, ast.Constant) else None
        points = points_node.value if isinstance(points_node, ast.Constant) else 1 if points_node is None else None
        if not isinstance(name, str) or not name.strip():
            raise CourseError(
                f"expected each checkpoint(...) call to name its checkpoint with a string literal; got "
                f"{ast.unparse(node)!r}; fix: write the name as a literal, e.g. lk.checkpoint('deployed', ...)"
            )
        if isinstance(points, bool) or not isinstance(points, numbers.Real) or not points > 0:
            raise CourseError(
                f"expected the points of checkpoint {name!r} as a literal number > 0; got {ast.unparse(node)!r}; "
                "fix: points=1"
            )
        found.append(Declared(name, points))
    return found


def clear_solutions(source: str, *, cell_type: str = "code") -> str:
    """Replace each solution region with nbgrader's stub, at the region's indentation.

    Examples
    --------
    >>> print(clear_solutions("def area(r):\\n    ### BEGIN SOLUTION\\n    return 3.14 * r * r\\n    ### END SOLUTION"))
    def area(r):
        # YOUR CODE HERE
        raise NotImplementedError()
    """
    stub = STUB_CODE if cell_type == "code" else STUB_MARKDOWN
    lines, kept, indent = source.splitlines(), [], None
    for number, line in enumerate(lines, start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin and indent is None:
            indent = begin.group(1)
            kept.extend(indent + stub_line for stub_line in stub.splitlines())
        elif begin or (end and indent is None):
            raise CourseError(
                f"expected ### BEGIN SOLUTION and ### END SOLUTION in pairs; got {line.strip()!r} on line {number} "
                f"{'inside another region' if begin else 'without a BEGIN before it'} in:\n{source}\n"
                "fix: close each region before opening the next"
            )
        elif end:
            indent = None
        elif indent is None:
            kept.append(line)
    if indent is not None:
        raise CourseError(
            f"expected ### END SOLUTION after ### BEGIN SOLUTION; got none in:\n{source}\nfix: close the region"
        )
    return "\n".join(kept)
