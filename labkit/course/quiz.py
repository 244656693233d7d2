"""Quiz questions: a widget to answer with, a plain ``quiz_answers`` dict that is graded.

The answers a grader sees are the ones written in the notebook, in a plain dict::

    quiz_answers = {"drift_test": "KS"}   # your answers: the quiz below fills this in

:class:`Quiz` shows a question with its options, starts from the dict's answer, writes
the student's choice into the dict as they click, and shows the line to keep in the
answers cell (a widget cannot edit a cell, and ``labkit batch`` reruns the notebook
from its cells). A checkpoint cell then checks the dict against a digest of the right
answer, so the answer is not printed in the checkpoint's source:

    lk.checkpoint("quiz-drift", is_answer(quiz_answers, "drift_test", "sha256:..."), hint="...")

A digest hides the answer from a glance, not from a student who hashes every option;
grade quizzes lightly.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence

from labkit.errors import CourseError

__all__ = ["answer_digest", "is_answer", "Quiz"]


def _normal(answer: object) -> str:
    return " ".join(str(answer).split()).casefold()


def answer_digest(key: str, answer: object) -> str:
    """The digest a checkpoint compares a quiz answer with (case and spacing ignored).

    Examples
    --------
    >>> answer_digest("drift_test", "KS") == answer_digest("drift_test", " ks ")
    True
    >>> answer_digest("drift_test", "KS")[:7]
    'sha256:'
    """
    return "sha256:" + hashlib.sha256(f"{key}\0{_normal(answer)}".encode()).hexdigest()[:16]


def is_answer(answers: dict, key: str, digest: str) -> bool:
    """Whether ``answers[key]`` is the answer whose digest is ``digest``; ``False`` if unanswered.

    Examples
    --------
    >>> quiz_answers = {"drift_test": "ks"}
    >>> is_answer(quiz_answers, "drift_test", answer_digest("drift_test", "KS"))
    True
    >>> is_answer({}, "drift_test", answer_digest("drift_test", "KS"))
    False
    """
    if not isinstance(answers, dict):
        raise CourseError(
            f"expected the quiz answers as a dict, e.g. quiz_answers = {{{key!r}: ...}}; got {answers!r}; "
            "fix: keep the answers cell a plain dict"
        )
    return key in answers and answers[key] is not None and answer_digest(key, answers[key]) == digest


class Quiz:
    """One question with its options, answered into a plain dict.

    Parameters
    ----------
    answers
        The notebook's ``quiz_answers`` dict; the choice is written into it.
    key
        The question's key in ``answers``.
    question
        The question, as plain text.
    options
        The choices offered.

    Examples
    --------
    >>> quiz_answers = {}
    >>> quiz = Quiz(answers=quiz_answers, key="drift_test", question="Which test?", options=["KS", "PSI"])
    >>> quiz.choose("KS")
    >>> quiz_answers
    {'drift_test': 'KS'}
    >>> quiz.line
    "quiz_answers['drift_test'] = 'KS'"
    """

    def __init__(self, *, answers: dict, key: str, question: str, options: Sequence[str]) -> None:
        self.answers = answers
        self.key = key
        self.question = question
        self.options = list(options)
        self._widget = None

    @property
    def line(self) -> str:
        """The line that keeps the current answer in the answers cell."""
        return f"quiz_answers[{self.key!r}] = {self.answers.get(self.key)!r}"

    def choose(self, option: str) -> None:
        """Answer with one of the options (what a click on the widget does)."""
        if option not in self.options:
            raise CourseError(
                f"expected one of {self.options!r} for {self.key!r}; got {option!r}; fix: pick an offered option"
            )
        self.answers[self.key] = option

    def widget(self):
        """The question as radio buttons; choosing one calls :meth:`choose`."""
        import ipywidgets as widgets

        if self._widget is not None:
            return self._widget
        current = self.answers.get(self.key)
        buttons = widgets.RadioButtons(options=self.options, value=current if current in self.options else None)
        note = widgets.HTML()

        def show(change=None) -> None:
            if buttons.value is None:
                note.value = "<i>not answered yet</i>"
                return
            self.choose(buttons.value)
            note.value = f"Saved. To hand it in, keep this line in your answers cell: <code>{html.escape(self.line)}</code>"

        buttons.observe(show, names="value")
        show()
        self._widget = widgets.VBox([widgets.HTML(f"<b>{html.escape(self.question)}</b>"), buttons, note])
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())
