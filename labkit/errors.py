"""The errors labkit raises, in one hierarchy.

Every error derives from :class:`LabkitError`, so ``except lk.LabkitError`` catches
anything labkit raised on purpose. Each one also derives from the builtin a caller
would expect (a schema problem is a ``ValueError``, a missing version a ``LookupError``),
so code written without labkit in mind still catches it.

Messages follow one pattern: what was expected, what arrived, and how to fix it.

Examples
--------
>>> from labkit.errors import LabkitError, SchemaError
>>> try:
...     raise SchemaError("expected column 'wind'; got none; fix: add it")
... except ValueError as error:
...     isinstance(error, LabkitError)
True
"""

from __future__ import annotations

__all__ = [
    "LabkitError",
    "DataError",
    "SchemaError",
    "RegistryError",
    "NotFoundError",
    "IntegrityError",
    "UntrustedModelError",
    "DeploymentError",
    "ServiceError",
    "ServiceUnavailableError",
    "LabelError",
    "ScoringJobError",
    "CourseError",
]


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class DataError(LabkitError, ValueError):
    """A data file is missing or does not have the expected shape."""


class SchemaError(LabkitError, ValueError):
    """Input does not match a model's schema (columns, types, categories, nulls).

    Parameters
    ----------
    message
        The full explanation.
    problems
        One :class:`labkit.schema.Problem` per thing found wrong, naming record and column.
    """

    def __init__(self, message: str, *, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class RegistryError(LabkitError, ValueError):
    """A registry operation was asked for something it cannot do."""


class NotFoundError(RegistryError, LookupError):
    """A model name, version or alias does not exist in the registry."""


class IntegrityError(RegistryError):
    """A stored model file is not the file that was registered (its sha256 differs)."""


class UntrustedModelError(RegistryError):
    """A model file holds types that are not trusted to be loaded.

    Parameters
    ----------
    message
        The full explanation.
    types
        The fully qualified names of the untrusted types that were found.
    """

    def __init__(self, message: str, *, types: list[str]) -> None:
        super().__init__(message)
        self.types = list(types)


class DeploymentError(LabkitError, RuntimeError):
    """A deployment did not start, or stopped answering.

    Parameters
    ----------
    message
        The full explanation.
    log
        What the server process printed before it failed, for diagnosis.
    """

    def __init__(self, message: str, *, log: str = "") -> None:
        super().__init__(f"{message}\n--- server log ---\n{log}" if log else message)
        self.log = log


class ServiceError(LabkitError, RuntimeError):
    """A deployed service refused a request, or answered with an error.

    Parameters
    ----------
    message
        The service's explanation.
    status
        The HTTP status code; ``None`` when no answer came.
    detail
        The service's list of problems, each with ``loc`` (where) and ``msg`` (what).
    """

    def __init__(self, message: str, *, status: int | None, detail: list | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = list(detail or [])


class ServiceUnavailableError(ServiceError, ConnectionError):
    """A service could not be reached, or stayed busy (503), through every retry.

    Parameters
    ----------
    message
        The full explanation: the URL, what went wrong, and how to fix it.
    status
        503 when the service answered that it was busy; ``None`` when nothing answered.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)


class ScoringJobError(LabkitError, RuntimeError):
    """A batch scoring job cannot go on without mixing two jobs in one output.

    Raised when an output already holds rows scored from another input, by another model
    version or with other settings, or holds a file that no scoring job wrote.

    Parameters
    ----------
    message
        The full explanation: what the output holds, what this run would add, how to fix it.
    progress_file
        The job's progress file, which records what the output holds.
    """

    def __init__(self, message: str, *, progress_file: str) -> None:
        super().__init__(message)
        self.progress_file = progress_file


class LabelError(LabkitError, ValueError):
    """Labels that the prediction store refuses: already given, or repeated in one batch.

    Parameters
    ----------
    message
        The full explanation.
    request_ids
        The request ids refused.
    """

    def __init__(self, message: str, *, request_ids: list[str]) -> None:
        super().__init__(message)
        self.request_ids = list(request_ids)


class CourseError(LabkitError, ValueError):
    """A course notebook, a submissions folder or a parameter grid is not what the course tools expect.

    Raised by ``labkit release`` and ``labkit batch`` before anything runs, so a mistake
    in the instructor's material never costs a student a grade.

    Parameters
    ----------
    message
        The full explanation: what was expected, what was found, and how to fix it.
    path
        The file or folder at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
