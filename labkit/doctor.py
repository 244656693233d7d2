"""Check that the running Python has what labkit needs, and say how to fix the rest.

The doctor keeps no list of its own: by default it reads the requirements labkit
declared when it was installed (``importlib.metadata``), so ``pyproject.toml`` stays
the one place where dependencies are written down. ``labkit doctor`` prints the report.

Examples
--------
>>> from labkit.doctor import diagnose
>>> report = diagnose(["packaging>=1", "labkit-no-such-package>=1"])
>>> [check.status for check in report.checks]
['ok', 'missing']
>>> print(report.checks[1].fix)
python -m pip install "labkit-no-such-package>=1"
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["Check", "Report", "diagnose"]

_DISTRIBUTION = "labkit"
_PYTHON_FIX = "conda env create -f environment.yml && conda activate labkit"
_LABKIT_FIX = "python -m pip install -e ."


@dataclass(frozen=True)
class Check:
    """One line of a doctor's report: one requirement and what was found for it.

    Parameters
    ----------
    name
        The distribution's name as the requirement spells it, or ``"python"``.
    required
        The version specifier, e.g. ``">=2.2"``; ``""`` when any version will do.
    found
        The installed version, or ``None`` when nothing is installed.
    status
        ``"ok"``, ``"missing"`` or ``"incompatible"``.
    fix
        The command that fixes the problem; ``""`` when the status is ``"ok"``.

    Examples
    --------
    >>> from labkit.doctor import Check
    >>> check = Check("pandas", ">=2.2", "2.1.4", "incompatible",
    ...               'python -m pip install "pandas>=2.2"')
    >>> check.status
    'incompatible'
    """

    name: str
    required: str
    found: str | None
    status: str
    fix: str


@dataclass(frozen=True)
class Report:
    """Everything a doctor checked, printable as a table followed by the fixes.

    Parameters
    ----------
    checks
        One :class:`Check` per requirement, in the order they were asked for.

    Examples
    --------
    >>> from labkit.doctor import Check, Report
    >>> report = Report((
    ...     Check("python", ">=3.11", "3.11.9", "ok", ""),
    ...     Check("pandas", ">=2.2", None, "missing",
    ...           'python -m pip install "pandas>=2.2"'),
    ... ))
    >>> report.ok
    False
    >>> print(report)
    package  found    required  status
    python   3.11.9   >=3.11    ok
    pandas   MISSING  >=2.2     missing
    1 problem(s): run these commands, then restart Python (or the Jupyter kernel):
      python -m pip install "pandas>=2.2"
    """

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.status == "ok" for check in self.checks)

    def __str__(self) -> str:
        rows = [("package", "found", "required", "status")]
        for check in self.checks:
            found = check.found or "MISSING"
            rows.append((check.name, found, check.required or "any", check.status))
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows
        ]
        problems = [check for check in self.checks if check.status != "ok"]
        if not problems:
            lines.append("labkit's environment is ready.")
            return "\n".join(lines)
        lines.append(
            f"{len(problems)} problem(s): run these commands, "
            "then restart Python (or the Jupyter kernel):"
        )
        lines += [f"  {check.fix}" for check in problems]
        return "\n".join(lines)


def diagnose(requirements: Iterable[str] | None = None) -> Report:
    """Check requirements against the running Python and report what to fix.

    Parameters
    ----------
    requirements
        Requirement strings such as ``"pandas>=2.2"`` or ``"uvicorn[standard]>=0.30"``;
        a requirement named ``python`` is checked against the running interpreter.
        Requirements whose environment markers do not hold here are skipped. By
        default, labkit's own requirements as installed, plus its ``Requires-Python``.

    Returns
    -------
    Report
        One check per requirement; ``report.ok`` says whether all passed. A
        requirement with extras (``uvicorn[standard]``) is checked by its base
        distribution. If labkit itself is not installed, the report says so.

    Raises
    ------
    packaging.requirements.InvalidRequirement
        If a requirement string is not valid PEP 508 (it is also a ``ValueError``).

    Examples
    --------
    >>> from labkit.doctor import diagnose
    >>> report = diagnose(["packaging>=1", "python>=3"])
    >>> report.ok
    True
    >>> [check.name for check in report.checks]
    ['packaging', 'python']
    """
    if requirements is None:
        try:
            requirements = _installed_requirements(_DISTRIBUTION)
        except metadata.PackageNotFoundError:
            return Report((Check(_DISTRIBUTION, "", None, "missing", _LABKIT_FIX),))
    parsed = [Requirement(text) for text in requirements]
    # With no extra asked for, a marker such as `extra == "test"` is false, so the
    # optional extras of a plain install are left out.
    applicable = [
        requirement
        for requirement in parsed
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""})
    ]
    return Report(tuple(_check(requirement) for requirement in applicable))


def _installed_requirements(distribution: str) -> list[str]:
    """Return a distribution's declared requirements, led by its Python requirement."""
    requires_python = metadata.metadata(distribution).get("Requires-Python") or ""
    return [f"python{requires_python}", *(metadata.requires(distribution) or [])]


def _check(requirement: Requirement) -> Check:
    """Compare one requirement with what is installed."""
    required = str(requirement.specifier)
    found = _installed_version(requirement.name)
    if found is None:
        status = "missing"
    elif _satisfies(found, requirement):
        status = "ok"
    else:
        status = "incompatible"
    return Check(
        name=requirement.name,
        required=required,
        found=found,
        status=status,
        fix="" if status == "ok" else _fix(requirement),
    )


def _installed_version(name: str) -> str | None:
    """Return the installed version of a distribution (or of Python), or None."""
    if canonicalize_name(name) == "python":
        # Built from the numbers, not platform.python_version(), which can carry a
        # "+" suffix on development builds that is not a valid version.
        return ".".join(str(part) for part in sys.version_info[:3])
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _satisfies(found: str, requirement: Requirement) -> bool:
    """Whether an installed version meets a requirement's specifier."""
    try:
        version = Version(found)
    except InvalidVersion:
        return False  # a version that cannot be read cannot be shown to be enough
    # An installed pre-release (2.0rc1) counts, as it does for `pip check`; older
    # packaging releases refuse pre-releases unless asked.
    return requirement.specifier.contains(version, prereleases=True)


def _fix(requirement: Requirement) -> str:
    """Return the command that installs a version meeting the requirement."""
    if canonicalize_name(requirement.name) == "python":
        return _PYTHON_FIX
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f'python -m pip install "{requirement.name}{extras}{requirement.specifier}"'
