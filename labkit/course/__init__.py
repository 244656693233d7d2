"""Run the course for a class: checkpoints, quizzes, student versions, batch runs, a gradebook and a report."""

from labkit.course.batch import RunResult, RunSpec, batch, run_one
from labkit.course.checkpoint import checkpoint
from labkit.course.engine import Execution, Limits, execute
from labkit.course.gradebook import Gradebook, Row
from labkit.course.grid import expand, read_grid
from labkit.course.marks import clear_solutions, declared_checkpoints, is_checkpoint_cell, mark_checkpoint
from labkit.course.quiz import Quiz, answer_digest, is_answer
from labkit.course.release import release, student_version
from labkit.course.restore import restore_checkpoints

__all__ = [
    "Execution",
    "Gradebook",
    "Limits",
    "Quiz",
    "Row",
    "RunResult",
    "RunSpec",
    "answer_digest",
    "batch",
    "checkpoint",
    "clear_solutions",
    "declared_checkpoints",
    "execute",
    "expand",
    "is_answer",
    "is_checkpoint_cell",
    "mark_checkpoint",
    "read_grid",
    "release",
    "restore_checkpoints",
    "run_one",
    "student_version",
]
