"""A checkpoint: one graded check in a notebook, shown to the student and recorded for the grader.

A checkpoint says plainly whether a check passed, and on failure gives the hint, never
the answer. It also records the result in the metadata of the cell's output, where
``labkit batch`` reads it without parsing any text. Printing "passed" proves nothing:
the grader counts only the output of the instructor's own checkpoint cells (see
:mod:`labkit.course.restore`).
"""

from __future__ import annotations

import html
import numbers

from labkit.errors import CourseError

__all__ = ["checkpoint", "METADATA_KEY"]

# Cell and output metadata live under this key: {"labkit": {"checkpoint": ...}}.
METADATA_KEY = "labkit"

_STYLE = {
    True: ("#e6f4ea", "#137333", "\N{HEAVY CHECK MARK}"),
    False: ("#fce8e6", "#a50e0e", "\N{HEAVY BALLOT X}"),
}


def checkpoint(name: str, passed: object, *, hint: str = "", points: float = 1) -> None:
    """Show whether a check passed, and record the result for ``labkit batch``.

    Parameters
    ----------
    name
        The checkpoint's name, unique in the course; the gradebook has a column for it.
    passed
        The check; anything truthy passes.
    hint
        What to look at when the check fails. Say where to look, not what to type.
    points
        What the checkpoint is worth in the gradebook. The grader takes the points from
        the instructor's notebook, never from a student's.

    Examples
    --------
    Outside a notebook the result is printed; in a notebook it is a coloured line whose
    output metadata holds ``{"labkit": {"checkpoint": {"name": ..., "passed": ...}}}``.

    >>> checkpoint("deployed", 1 + 1 == 2)
    ✔ checkpoint 'deployed' passed
    >>> checkpoint("served", False, hint="is dep.url answering /health?")
    ✘ checkpoint 'served' not passed yet. Hint: is dep.url answering /health?
    """
    if not isinstance(name, str) or not name.strip():
        raise CourseError(
            f"expected a checkpoint name, a non-empty string; got {name!r}; "
            "fix: lk.checkpoint('deployed', passed)"
        )
    if isinstance(points, bool) or not isinstance(points, numbers.Real) or not points > 0:
        raise CourseError(f"expected points > 0 for checkpoint {name!r}; got {points!r}; fix: points=1")
    ok = bool(passed)
    text = f"checkpoint {name!r} passed" if ok else f"checkpoint {name!r} not passed yet"
    if not ok and hint:
        text += f". Hint: {hint}"
    background, colour, mark = _STYLE[ok]
    record = {"name": name, "passed": ok, "points": points}
    _show(
        {
            "text/plain": f"{mark} {text}",
            "text/html": (
                f'<div style="background:{background};color:{colour};padding:4px 8px;'
                f'border-radius:4px">{mark} {html.escape(text)}</div>'
            ),
        },
        metadata={METADATA_KEY: {"checkpoint": record}},
    )


def _show(bundle: dict, *, metadata: dict) -> None:
    # IPython is there whenever a kernel runs the notebook; a plain interpreter
    # (a doctest, a script) gets the text line.
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(bundle["text/plain"])
        return
    from IPython.display import display

    display(bundle, raw=True, metadata=metadata)
