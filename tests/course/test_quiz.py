"""Quiz: a widget to answer with, a plain dict that a checkpoint grades against a digest."""

from __future__ import annotations

import pytest

from labkit.course.quiz import Quiz, answer_digest, is_answer
from labkit.errors import CourseError


def test_the_widget_starts_from_the_dict_and_writes_each_choice_into_it():
    quiz_answers = {"drift_test": "PSI"}
    quiz = Quiz(answers=quiz_answers, key="drift_test", question="Which <test>?", options=["KS", "PSI"])
    box = quiz.widget()
    title, buttons, note = box.children

    assert buttons.value == "PSI" and "&lt;test&gt;" in title.value
    buttons.value = "KS"
    assert quiz_answers == {"drift_test": "KS"}
    assert "quiz_answers[&#x27;drift_test&#x27;] = &#x27;KS&#x27;" in note.value
    assert quiz.widget() is box


def test_an_unanswered_question_says_so_and_fails_its_check():
    quiz_answers = {}
    quiz = Quiz(answers=quiz_answers, key="q", question="?", options=["a", "b"])

    assert quiz.widget().children[2].value == "<i>not answered yet</i>"
    assert quiz_answers == {}
    assert not is_answer(quiz_answers, "q", answer_digest("q", "a"))


def test_a_digest_checks_the_answer_without_showing_it():
    digest = answer_digest("drift_test", "KS")

    assert "KS" not in digest and "ks" not in digest
    assert is_answer({"drift_test": "  ks"}, "drift_test", digest)
    assert not is_answer({"drift_test": "PSI"}, "drift_test", digest)
    assert answer_digest("other_question", "KS") != digest  # the key salts the digest


def test_mistakes_are_named():
    quiz = Quiz(answers={}, key="q", question="?", options=["a", "b"])
    with pytest.raises(CourseError, match=r"expected one of \['a', 'b'\] for 'q'; got 'c'"):
        quiz.choose("c")
    with pytest.raises(CourseError, match=r"expected the quiz answers as a dict"):
        is_answer(["a"], "q", answer_digest("q", "a"))
