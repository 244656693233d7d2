"""The doctor reports what the running Python lacks, and the commands that fix it."""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from labkit import doctor
from labkit.doctor import Check, Report, diagnose

ROOT = Path(__file__).resolve().parents[1]
RUNNING_PYTHON = ".".join(str(part) for part in sys.version_info[:3])


@pytest.fixture
def project() -> dict:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["project"]


def test_this_environment_is_ready():
    report = diagnose()

    assert report.ok, str(report)
    assert str(report).endswith("\nlabkit's environment is ready.")


def test_default_checks_python_and_every_dependency_in_pyproject(project):
    checks = {canonicalize_name(check.name): check for check in diagnose().checks}

    # If this fails after pyproject.toml changed, reinstall: python -m pip install -e .
    expected = {
        canonicalize_name(Requirement(text).name): text
        for text in project["dependencies"]
    }
    assert checks.keys() == {"python", *expected}
    for name, text in expected.items():
        assert checks[name].required == str(Requirement(text).specifier)
        assert checks[name].found == metadata.version(name)
    assert checks["python"] == Check(
        "python", project["requires-python"], RUNNING_PYTHON, "ok", ""
    )


def test_default_leaves_out_the_test_extra(project):
    names = {canonicalize_name(check.name) for check in diagnose().checks}

    for text in project["optional-dependencies"]["test"]:
        assert canonicalize_name(Requirement(text).name) not in names


def test_a_missing_package_is_reported_with_the_install_command():
    (check,) = diagnose(["labkit-no-such-package>=1"]).checks

    assert check == Check(
        name="labkit-no-such-package",
        required=">=1",
        found=None,
        status="missing",
        fix='python -m pip install "labkit-no-such-package>=1"',
    )


def test_an_incompatible_version_is_reported_with_the_install_command():
    (check,) = diagnose(["pytest<1"]).checks

    assert check == Check(
        name="pytest",
        required="<1",
        found=metadata.version("pytest"),
        status="incompatible",
        fix='python -m pip install "pytest<1"',
    )


def test_extras_are_checked_by_base_distribution_and_kept_in_the_fix():
    installed, missing = diagnose(
        ["uvicorn[standard]>=0.30", "labkit-no-such-package[fast,extra]"]
    ).checks

    uvicorn = metadata.version("uvicorn")
    assert installed == Check("uvicorn", ">=0.30", uvicorn, "ok", "")
    assert missing.fix == 'python -m pip install "labkit-no-such-package[extra,fast]"'
    assert missing.required == ""


def test_python_is_checked_against_the_running_interpreter():
    ok, too_new = diagnose(["python>=3", "python<3"]).checks

    assert ok == Check("python", ">=3", RUNNING_PYTHON, "ok", "")
    assert too_new == Check(
        "python",
        "<3",
        RUNNING_PYTHON,
        "incompatible",
        "conda env create -f environment.yml && conda activate labkit",
    )


def test_requirements_whose_markers_do_not_hold_are_skipped():
    report = diagnose(
        [
            'labkit-no-such-package>=1; extra == "test"',
            'labkit-no-such-package>=2; python_version < "3"',
            'packaging>=1; python_version >= "3"',
        ]
    )

    assert [check.name for check in report.checks] == ["packaging"]


def test_an_unreadable_installed_version_is_incompatible(monkeypatch):
    monkeypatch.setattr(doctor.metadata, "version", lambda name: "not a version")

    (check,) = diagnose(["packaging>=1"]).checks

    assert (check.found, check.status) == ("not a version", "incompatible")


def test_an_installed_prerelease_satisfies_a_lower_bound(monkeypatch):
    monkeypatch.setattr(doctor.metadata, "version", lambda name: "2.0rc1")

    assert diagnose(["packaging>=1"]).ok


def test_labkit_not_installed_is_itself_the_problem(monkeypatch):
    monkeypatch.setattr(doctor, "_DISTRIBUTION", "labkit-no-such-distribution")

    report = diagnose()

    assert report.checks == (
        Check(
            name="labkit-no-such-distribution",
            required="",
            found=None,
            status="missing",
            fix="python -m pip install -e .",
        ),
    )


def test_report_table_lists_problems_then_their_fixes():
    report = diagnose(["packaging>=1", "labkit-no-such-package>=1", "pytest<1"])

    lines = str(report).splitlines()

    assert lines[0].split() == ["package", "found", "required", "status"]
    assert lines[1].split() == ["packaging", metadata.version("packaging"), ">=1", "ok"]
    assert lines[2].split() == ["labkit-no-such-package", "MISSING", ">=1", "missing"]
    pytest_version = metadata.version("pytest")
    assert lines[3].split() == ["pytest", pytest_version, "<1", "incompatible"]
    # Columns line up: every status starts where the header's does.
    assert len({line.index(line.split()[-1]) for line in lines[:4]}) == 1
    assert lines[4] == (
        "2 problem(s): run these commands, then restart Python (or the Jupyter kernel):"
    )
    assert lines[5:] == [
        '  python -m pip install "labkit-no-such-package>=1"',
        '  python -m pip install "pytest<1"',
    ]
    assert not report.ok


def test_a_report_of_nothing_is_ready():
    report = Report(())

    assert report.ok
    assert str(report).splitlines()[-1] == "labkit's environment is ready."


def test_an_invalid_requirement_is_refused_with_packaging_message():
    # packaging's wording changes between releases; the requirement it quotes does not.
    with pytest.raises(InvalidRequirement, match=r"pandas>>2") as caught:
        diagnose(["pandas>>2"])

    assert isinstance(caught.value, ValueError)
