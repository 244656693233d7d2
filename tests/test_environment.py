"""environment.yml (for conda) must ask for what pyproject.toml (for pip) asks for."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# Where conda-forge names a package differently from PyPI. Keys are PEP 503 names,
# with the extras that select the conda-forge package in brackets.
CONDA_NAMES = {
    "uvicorn[standard]": "uvicorn-standard",
    # conda-forge's "fastapi" is fastapi[standard]; plain fastapi is "fastapi-core".
    "fastapi": "fastapi-core",
    "playwright": "playwright-python",
}


def read_environment(text: str) -> dict[str, str | list[str]]:
    """Read the small YAML subset environment.yml is written in.

    The test reads the file itself, not with PyYAML, so the file cannot drift into YAML
    that conda and PyYAML read differently. The subset is what a conda environment file
    needs: ``key: value`` and ``key:`` lines at the left margin, ``- item`` lines under
    a ``key:``, and one nested list under a ``- pip:`` item. Comments and blank lines
    are skipped. Anything else is an error, so the file cannot drift into YAML that
    this reader would silently misread.

    Returns
    -------
    dict
        Each top-level key with its value or list of items, plus ``"pip"`` holding
        the items of the nested ``pip:`` list.
    """
    document: dict[str, str | list[str]] = {}
    current: list[str] | None = None  # the list that `- item` lines go to
    pip_indent: int | None = None  # indentation of the `- pip:` line, once seen
    for number, raw in enumerate(text.splitlines(), start=1):
        # In YAML a comment starts at a "#" that begins the line or follows a space.
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        content = line.strip()
        if indent == 0 and content.endswith(":"):
            current = document.setdefault(content[:-1], [])
            pip_indent = None
        # A value in brackets is a YAML flow list or mapping, which this reader skips.
        elif indent == 0 and ": " in content and not content.endswith(("]", "}")):
            key, value = content.split(": ", 1)
            document[key] = value.strip()
            current = None
        elif content.startswith("- ") and current is not None:
            item = content[2:].strip()
            if item == "pip:":
                pip_indent = indent
                document["pip"] = []
            elif pip_indent is not None and indent > pip_indent:
                document["pip"].append(item)
            else:
                pip_indent = None  # an item back at the outer level ends the pip list
                current.append(item)
        else:
            raise ValueError(
                f"environment.yml line {number}: {raw!r} is outside the YAML subset "
                "tests/test_environment.py reads; write `key: value`, `key:` or "
                "`- item` lines only"
            )
    return document


def parse_conda_spec(spec: str) -> Requirement:
    """Parse one conda dependency written as a PEP 508 requirement (``numpy>=1.26``)."""
    try:
        return Requirement(spec)
    except InvalidRequirement:
        raise ValueError(
            "environment.yml: expected a dependency such as 'numpy>=1.26'; "
            f"got {spec!r}; write it with PEP 440 operators (>=, <, ==) so it can be "
            "compared with pyproject.toml"
        ) from None


def conda_name(requirement: Requirement) -> str:
    """Return the conda-forge name of a PyPI requirement."""
    name = canonicalize_name(requirement.name)
    if requirement.extras:
        name += f"[{','.join(sorted(requirement.extras))}]"
    return CONDA_NAMES.get(name, name)


def disagreements(pyproject: dict, environment: dict) -> list[str]:
    """List every way environment.yml and pyproject.toml disagree; empty if none."""
    project = pyproject["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    wanted = {conda_name(r): r for r in map(Requirement, declared)}
    conda = {
        canonicalize_name(r.name): r
        for r in map(parse_conda_spec, environment.get("dependencies", []))
    }
    problems = []

    # python and pip are conda's business, not dependencies in pyproject's list.
    python = conda.pop("python", None)
    requires_python = project["requires-python"]
    if python is None or python.specifier != SpecifierSet(requires_python):
        found = "nothing" if python is None else repr(str(python))
        problems.append(
            f"python: pyproject.toml requires-python is {requires_python!r}; "
            f"environment.yml has {found}"
        )
    if conda.pop("pip", None) is None:
        problems.append("environment.yml lacks 'pip', which its pip: section needs")

    for name in sorted(wanted.keys() - conda.keys()):
        problems.append(
            f"missing from environment.yml: {name}{wanted[name].specifier} "
            f"(pyproject.toml has {str(wanted[name])!r})"
        )
    for name in sorted(conda.keys() - wanted.keys()):
        problems.append(f"missing from pyproject.toml: {str(conda[name])!r}")
    for name in sorted(wanted.keys() & conda.keys()):
        if wanted[name].specifier != conda[name].specifier:
            problems.append(
                f"specifiers disagree for {name}: pyproject.toml "
                f"{str(wanted[name].specifier) or 'any'}, environment.yml "
                f"{str(conda[name].specifier) or 'any'}"
            )

    if environment.get("pip") != ["-e ."]:
        problems.append(
            f"environment.yml pip: section should be exactly ['-e .'] (labkit itself, "
            f"its dependencies come from conda); got {environment.get('pip')!r}"
        )
    return problems


@pytest.fixture
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture
def environment_text() -> str:
    return (ROOT / "environment.yml").read_text(encoding="utf-8")


def test_environment_yml_agrees_with_pyproject(pyproject, environment_text):
    problems = disagreements(pyproject, read_environment(environment_text))
    assert not problems, "environment.yml and pyproject.toml disagree:\n" + "\n".join(
        problems
    )


def test_environment_yml_is_labkit_from_conda_forge(environment_text):
    environment = read_environment(environment_text)
    assert environment["name"] == "labkit"
    assert environment["channels"] == ["conda-forge"]
    assert environment["pip"] == ["-e ."]
    assert environment_text.startswith("#")
    assert "tests/test_environment.py" in environment_text.split("name:")[0]


def test_disagreements_are_each_named(pyproject, environment_text):
    altered = (
        environment_text.replace("  - pandas>=2.2\n", "")
        .replace("numpy>=1.26", "numpy>=1.25")
        .replace("uvicorn-standard>=0.30", "uvicorn>=0.30")
        .replace("python>=3.11", "python>=3.10")
        .replace("  - pip:\n", "  - polars>=1.0\n  - pip:\n")
        .replace("      - -e .\n", "      - -e .\n      - requests\n")
    )
    assert altered.count("\n") == environment_text.count("\n") + 1  # every edit applied

    assert disagreements(pyproject, read_environment(altered)) == [
        "python: pyproject.toml requires-python is '>=3.11'; "
        "environment.yml has 'python>=3.10'",
        "missing from environment.yml: pandas>=2.2 (pyproject.toml has 'pandas>=2.2')",
        "missing from environment.yml: uvicorn-standard>=0.30 "
        "(pyproject.toml has 'uvicorn[standard]>=0.30')",
        "missing from pyproject.toml: 'polars>=1.0'",
        "missing from pyproject.toml: 'uvicorn>=0.30'",
        "specifiers disagree for numpy: pyproject.toml >=1.26, environment.yml >=1.25",
        "environment.yml pip: section should be exactly ['-e .'] (labkit itself, "
        "its dependencies come from conda); got ['-e .', 'requests']",
    ]


def test_a_change_to_pyproject_alone_is_caught(pyproject, environment_text):
    changed = copy.deepcopy(pyproject)
    changed["project"]["optional-dependencies"]["test"].remove("pytest-timeout>=2.3")
    changed["project"]["dependencies"].append("rich>=13.0")

    assert disagreements(changed, read_environment(environment_text)) == [
        "missing from environment.yml: rich>=13.0 (pyproject.toml has 'rich>=13.0')",
        "missing from pyproject.toml: 'pytest-timeout>=2.3'",
    ]


def test_read_environment_reads_the_subset():
    text = (
        "# a comment\n"
        "name: demo\n"
        "channels:\n"
        "  - conda-forge\n"
        "dependencies:\n"
        "  - numpy>=1.26  # why this version\n"
        "  - pip\n"
        "  - pip:\n"
        "      - -e .\n"
        "  - scipy\n"
    )
    assert read_environment(text) == {
        "name": "demo",
        "channels": ["conda-forge"],
        "dependencies": ["numpy>=1.26", "pip", "scipy"],
        "pip": ["-e ."],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: demo\nvariables:\n  A: 1\n", r"line 3: '  A: 1' is outside"),
        ("dependencies: [numpy]\n", r"line 1: 'dependencies: \[numpy\]' is outside"),
        ("- numpy\n", r"line 1: '- numpy' is outside"),
    ],
)
def test_read_environment_refuses_yaml_it_does_not_understand(text, message):
    with pytest.raises(ValueError, match=message):
        read_environment(text)


def test_conda_specs_must_be_comparable():
    with pytest.raises(ValueError, match=r"such as 'numpy>=1.26'; got 'numpy=1.26'"):
        parse_conda_spec("numpy=1.26")
