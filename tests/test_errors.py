"""Tests for labkit.errors: one hierarchy, the builtins callers expect, structured fields."""

from __future__ import annotations

import pytest

from labkit import errors
from labkit.errors import (
    DataError,
    DeploymentError,
    IntegrityError,
    LabkitError,
    NotFoundError,
    RegistryError,
    SchemaError,
    ScoringJobError,
    ServiceError,
    UntrustedModelError,
)
from labkit.schema import Problem


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (DataError, (ValueError,)),
        (SchemaError, (ValueError,)),
        (RegistryError, (ValueError,)),
        (NotFoundError, (RegistryError, LookupError, ValueError)),
        (IntegrityError, (RegistryError, ValueError)),
        (UntrustedModelError, (RegistryError, ValueError)),
        (DeploymentError, (RuntimeError,)),
        (ServiceError, (RuntimeError,)),
        (ScoringJobError, (RuntimeError,)),
    ],
)
def test_each_error_is_a_labkit_error_and_the_expected_builtin(error, bases):
    assert issubclass(error, LabkitError)
    for base in bases:
        assert issubclass(error, base)


def test_every_listed_error_derives_from_labkit_error():
    names = [name for name in errors.__all__ if name != "LabkitError"]

    assert names
    assert all(issubclass(getattr(errors, name), LabkitError) for name in names)
    assert issubclass(LabkitError, Exception) and not issubclass(LabkitError, ValueError)


def test_schema_error_carries_problems():
    problem = Problem("wind", 0, "expected a number")

    error = SchemaError("bad input", problems=[problem])

    assert str(error) == "bad input"
    assert error.problems == [problem]
    assert SchemaError("bad input").problems == []


def test_untrusted_model_error_carries_types():
    error = UntrustedModelError("untrusted", types=("mod.Shift",))

    assert error.types == ["mod.Shift"]
    assert str(error) == "untrusted"


def test_deployment_error_carries_the_log():
    error = DeploymentError("did not start", log="Traceback: boom")

    assert error.log == "Traceback: boom"
    assert str(error) == "did not start\n--- server log ---\nTraceback: boom"
    assert str(DeploymentError("did not start")) == "did not start"
    assert DeploymentError("did not start").log == ""


def test_service_error_carries_status_and_detail():
    detail = [{"loc": ["body", 0, "wind"], "msg": "expected a number"}]

    error = ServiceError("refused", status=422, detail=detail)

    assert (error.status, error.detail, str(error)) == (422, detail, "refused")
    assert ServiceError("refused", status=401).detail == []


def test_errors_are_caught_as_builtins():
    with pytest.raises(LookupError, match="no such version"):
        raise NotFoundError("no such version")
    with pytest.raises(ValueError, match="changed"):
        raise IntegrityError("changed")


def test_scoring_job_error_carries_the_progress_file():
    error = ScoringJobError("another version", progress_file="scored.progress.json")

    assert error.progress_file == "scored.progress.json"
    assert str(error) == "another version"
