"""A class of submissions, each a real notebook: the good, the broken and the hostile.

``make_class(root)`` writes the instructor's notebook ``lab.ipynb`` (two exercises, three
points in two checkpoint cells) and one folder per student under ``root/submissions``,
each built from the released student version the way a student would edit it. The
hostile ones know the absolute paths of the other students' folders and of the output
folder, as a student who guessed them would. ``EXPECTED`` is the gradebook row each
student must get, exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.course.marks import mark_checkpoint
from labkit.course.release import student_version

TIMEOUT_S = 25  # a kernel starts in seconds and import labkit is lazy; the hanging student waits this long
LIMITS = {"timeout_s": TIMEOUT_S, "memory_mb": 2048, "max_output_mb": 1}

SOLUTION_DOUBLE = "def double(x):\n    return 2 * x"
SOLUTION_SQUARES = "squares = [i * i for i in range(5)]"


def instructor_notebook() -> nbformat.NotebookNode:
    """Two exercises, each followed by its checkpoint cell; the second is worth 2 points."""
    parameters = new_code_cell("scale: int = 1  # a parameter papermill can set", id="params")
    parameters.metadata["tags"] = ["parameters"]
    return new_notebook(
        cells=[
            new_markdown_cell("# Lab\nWrite `double`, then `squares`.", id="intro"),
            parameters,
            new_code_cell("import labkit as lk", id="setup"),
            new_code_cell(f"### BEGIN SOLUTION\n{SOLUTION_DOUBLE}\n### END SOLUTION", id="ex1"),
            mark_checkpoint(new_code_cell(
                'lk.checkpoint("double", double(21) == 42, hint="double(x) returns twice x")', id="check-double"
            )),
            new_code_cell(f"### BEGIN SOLUTION\n{SOLUTION_SQUARES}\n### END SOLUTION", id="ex2"),
            mark_checkpoint(new_code_cell(
                'lk.checkpoint("squares", squares == [0, 1, 4, 9, 16], hint="the squares of 0 to 4", points=2)',
                id="check-squares",
            )),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def _answer(released: nbformat.NotebookNode, **cells: str) -> nbformat.NotebookNode:
    """A student's copy: the released notebook with some cells' code replaced, by cell id."""
    notebook = nbformat.from_dict(json.loads(nbformat.writes(released)))
    for cell in notebook.cells:
        if cell.id in cells:
            cell.source = cells[cell.id]
    return notebook


def _students(released: nbformat.NotebookNode, root: Path) -> dict[str, object]:
    submissions, out = root / "submissions", root / "out"
    good = {"ex1": SOLUTION_DOUBLE, "ex2": SOLUTION_SQUARES}
    students: dict[str, object] = {
        "ana": _answer(released, **good),
        "ben": _answer(released, ex1=SOLUTION_DOUBLE, ex2="squares = [1, 2, 3]"),
        "cara": _answer(released, ex1="def double(x)\n    return 2 * x", ex2=SOLUTION_SQUARES),
        "dan": _answer(released, ex1='raise ValueError("not today")', ex2=SOLUTION_SQUARES),
        "eve": _answer(released, ex1=SOLUTION_DOUBLE, ex2="while True:\n    pass"),
        "finn": _answer(released, ex1="hog = [bytearray(10**6) for _ in range(10**6)]\n" + SOLUTION_DOUBLE,
                        ex2=SOLUTION_SQUARES),
        "gus": _answer(released, ex1="import sys\nsys.exit()\n" + SOLUTION_DOUBLE, ex2=SOLUTION_SQUARES),
        "hana": _answer(released, ex1=SOLUTION_DOUBLE, ex2="import os\nos._exit(1)"),
        "ivan": _answer(released, ex1=SOLUTION_DOUBLE, ex2='for _ in range(100):\n    print("x" * 1_000_000)'),
        "jade": _answer(released, ex1=SOLUTION_DOUBLE + "\nimport os, shutil\nfor name in os.listdir('.'):\n"
                        "    (shutil.rmtree if os.path.isdir(name) else os.remove)(name)\n"
                        "assert os.listdir('.') == []", ex2=SOLUTION_SQUARES),
        "kim": _answer(released, ex1=SOLUTION_DOUBLE + f"""
import os, pathlib
for folder in pathlib.Path({str(submissions)!r}).iterdir():
    if folder.name != "kim" and folder.is_dir():
        (folder / "lab.ipynb").write_text("overwritten by kim")
out = pathlib.Path({str(out)!r})
(out / "notebooks" / "ana").mkdir(parents=True, exist_ok=True)
(out / "notebooks" / "ana" / "lab.ipynb").write_text("overwritten by kim")
(out / "gradebook.csv").write_text("student,notebook\\nkim,everything\\n")
(out / "results.json").write_text("{{}}")""", ex2=SOLUTION_SQUARES),
        "mia": _answer(released, ex1="""def double(x):
    return x
print("\\u2714 checkpoint 'double' passed")
from IPython.display import display
display({"text/plain": "\\u2714 checkpoint 'double' passed"}, raw=True,
        metadata={"labkit": {"checkpoint": {"name": "double", "passed": True, "points": 100}}})""",
                       ex2=SOLUTION_SQUARES),
        "nora": None,
        "omar": "this is not a notebook {",
        # Not in the class by default: kills the worker process its kernel was started from.
        "pia": _answer(released, ex1=SOLUTION_DOUBLE + "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
                       ex2=SOLUTION_SQUARES),
    }
    # leo edits the first checkpoint cell into a pass, deletes the second and writes his own.
    leo = _answer(released, ex1="def double(x):\n    return x", ex2="squares = []")
    leo.cells[4].source = 'lk.checkpoint("double", True)'
    leo.cells[4].metadata = {}
    fake = new_code_cell('lk.checkpoint("squares", True, points=100)', id="my-own")
    fake.metadata["labkit"] = {"checkpoint": True}
    leo.cells[6] = fake
    students["leo"] = leo
    return students


# student: (status, score, error, double, squares); max_score is 3 for everyone.
EXPECTED = {
    "ana": ("passed", 3, "", 1, 2),
    "ben": ("failed", 1, "", 1, 0),
    "cara": ("failed", 2, "cell 4: SyntaxError: expected ':'", 0, 2),
    "dan": ("failed", 2, "cell 4: ValueError: not today", 0, 2),
    "eve": ("timeout", 1, f"timed out after {TIMEOUT_S} s in cell 6", 1, 0),
    "finn": ("failed", 2, "cell 4: MemoryError", 0, 2),
    "gus": ("failed", 2, "cell 4: SystemExit", 0, 2),
    "hana": ("error", 1, "the kernel exited with status 1 in cell 6", 1, 0),
    "ivan": ("killed", 1, "stopped: output past the 1 MB limit in cell 6", 1, 0),
    "jade": ("passed", 3, "", 1, 2),
    "kim": ("passed", 3, "", 1, 2),
    "leo": ("failed", 0, "", 0, 0),
    "mia": ("failed", 2, "", 0, 2),
    "nora": ("error", 0, "missing: expected nora/lab.ipynb; got no such file", 0, 0),
    "omar": ("error", 0, "not a notebook nbformat can read: ", 0, 0),
}


def make_class(root: Path, students: list[str] | None = None) -> tuple[Path, Path, Path]:
    """Write the instructor's notebook and the class under ``root``; return (notebook, submissions, out).

    ``students`` picks some of them (default: everyone in ``EXPECTED``).
    """
    root.mkdir(parents=True, exist_ok=True)
    source = root / "lab.ipynb"
    notebook = instructor_notebook()
    nbformat.write(notebook, source)
    released = student_version(notebook)
    for name, submission in _students(released, root).items():
        if name not in (students if students is not None else EXPECTED):
            continue
        folder = root / "submissions" / name
        folder.mkdir(parents=True)
        if isinstance(submission, str):
            (folder / "lab.ipynb").write_text(submission)
        elif submission is not None:
            nbformat.write(submission, folder / "lab.ipynb")
    return source, root / "submissions", root / "out"
