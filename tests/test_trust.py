"""The trust list: model files written by hand, as an attacker would, never build or run anything.

Each hostile file is a zip holding a hand-written ``schema.json``. Each is first shown to
be live (skops, told to trust its names, does what the attacker wanted), then placed in a
registered version with a matching checksum, and with its names added to the version's
``meta.json`` as an attacker who can write the folder would: labkit must refuse it
everywhere a model is loaded, and nothing may be written, imported or run.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
import sklearn
from skops.io.exceptions import UNTRUSTED_TYPE_REASONS
from sklearn.compose import make_column_transformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import labkit as lk
from labkit.cli import main
from labkit.errors import IntegrityError, UntrustedModelError
from labkit.deployment.service import ServiceSettings, create_app
from labkit.trust import TRUSTED_TYPES, check_types, load_model

IMPORT_BOMB = "labkit_test_import_bomb"


# A hand-written skops file -------------------------------------------------------------


def _protocol() -> int:
    """The protocol of the skops installed, as a file it writes declares it."""
    return json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(1))).read("schema.json"))["protocol"]


def node(loader: str, module: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": loader, **fields}


def value(content: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins", type(content).__name__, content=json.dumps(content), is_json=True)


def tuple_of(*items: dict) -> dict[str, Any]:
    return node("TupleNode", "builtins", "tuple", content=list(items))


def list_of(*items: dict) -> dict[str, Any]:
    return node("ListNode", "builtins", "list", content=list(items))


def dict_of(**items: dict) -> dict[str, Any]:
    key_types = list_of(*[node("TypeNode", "builtins", "str") for _ in items])
    return node("DictNode", "builtins", "dict", content=items, key_types=key_types)


def call(module: str, name: str, *args: dict) -> dict[str, Any]:
    """``module.name(*args)``, called when the file is loaded."""
    return node("ConstructorFromReduceNode", module, name, content=tuple_of(*args))


def function(module: str, name: str) -> dict[str, Any]:
    return node("FunctionNode", module, name)


def a_type(module: str, name: str) -> dict[str, Any]:
    return node("TypeNode", module, name)


def estimator(module: str, name: str, **attributes: dict) -> dict[str, Any]:
    return node("ObjectNode", module, name, content=dict_of(**attributes))


def skops_file(root: dict[str, Any], *, protocol: int | None = None) -> bytes:
    schema = {**root, "protocol": _protocol() if protocol is None else protocol, "_skops_version": skops.__version__}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return buffer.getvalue()


def plant(schema: Any, key: str, replacement: dict) -> bool:
    """Put ``replacement`` in place of the first attribute called ``key``, however deep."""
    if isinstance(schema, dict):
        content = schema.get("content")
        if schema.get("__loader__") == "DictNode" and isinstance(content, dict) and key in content:
            content[key] = replacement
            return True
        return any(plant(child, key, replacement) for child in schema.values())
    if isinstance(schema, list):
        return any(plant(child, key, replacement) for child in schema)
    return False


# The catalogue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A crafted file, the names it needs trusted, and how to tell that it got its way."""

    build: Callable[[Path], bytes]
    names: list[str]
    got_its_way: Callable[[Any, Path], bool]


def _wrote_a_file(loaded: Any, proofs: Path) -> bool:
    return any(proofs.iterdir())


def _code(proofs: Path) -> str:
    return f"open({str(proofs / 'ran')!r}, 'w').write('arbitrary code ran')"


def _hidden_in_a_real_pipeline(proofs: Path) -> bytes:
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    original = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model)))
    schema = json.loads(original.read("schema.json"))
    payload = call("numpy", "savetxt", value(str(proofs / "saved.txt")), list_of(value(1), value(2)))
    assert plant(schema, "tol", payload), "the pipeline has a LogisticRegression with a tol"
    arrays = {name: original.read(name) for name in original.namelist() if name != "schema.json"}
    return _zip(**arrays, **{"schema.json": json.dumps(schema).encode()})


HOSTILE = {
    "numpy.savetxt writes a file": Hostile(
        lambda proofs: skops_file(call("numpy", "savetxt", value(str(proofs / "saved.txt")), list_of(value(1), value(2)))),
        ["numpy.savetxt"],
        _wrote_a_file,
    ),
    "numpy runstring runs python": Hostile(
        lambda proofs: skops_file(call("numpy.testing._private.utils", "runstring", value(_code(proofs)), dict_of())),
        ["numpy.testing._private.utils.runstring"],
        _wrote_a_file,
    ),
    "numpy.memmap creates a file": Hostile(
        lambda proofs: skops_file(
            call("numpy", "memmap", value(str(proofs / "mapped")), value("uint8"), value("w+"), value(0), tuple_of(value(8)))
        ),
        ["numpy.memmap"],
        _wrote_a_file,
    ),
    "scipy.io.savemat writes a file": Hostile(
        lambda proofs: skops_file(call("scipy.io", "savemat", value(str(proofs / "saved.mat")), dict_of())),
        ["scipy.io.savemat"],
        _wrote_a_file,
    ),
    "sklearn dump_svmlight_file writes a file": Hostile(
        lambda proofs: skops_file(
            call(
                "sklearn.datasets", "dump_svmlight_file",
                list_of(list_of(value(1.0))), list_of(value(1.0)), value(str(proofs / "dumped.svm")),
            )
        ),
        ["sklearn.datasets.dump_svmlight_file"],
        _wrote_a_file,
    ),
    "os.system as a FunctionTransformer's func": Hostile(
        lambda proofs: skops_file(
            estimator(
                "sklearn.preprocessing._function_transformer", "FunctionTransformer",
                func=function("os", "system"), validate=value(False), _sklearn_version=value(sklearn.__version__),
            )
        ),
        ["os.system"],
        lambda loaded, proofs: loaded.func is os.system,
    ),
    "builtins.exec as a bare function": Hostile(
        lambda proofs: skops_file(function("builtins", "exec")),
        ["builtins.exec"],
        lambda loaded, proofs: loaded is exec,
    ),
    "a type whose module runs code on import": Hostile(
        lambda proofs: skops_file(a_type(IMPORT_BOMB, "Anything")),
        [f"{IMPORT_BOMB}.Anything"],
        _wrote_a_file,
    ),
    "numpy.savetxt hidden deep in a real pipeline": Hostile(
        _hidden_in_a_real_pipeline,
        ["numpy.savetxt"],
        _wrote_a_file,
    ),
    "numpy.savetxt declared as protocol 0": Hostile(
        lambda proofs: skops_file(
            call("numpy", "savetxt", value(str(proofs / "saved.txt")), list_of(value(1), value(2))), protocol=0
        ),
        ["numpy.savetxt"],
        _wrote_a_file,
    ),
}


@pytest.fixture
def proofs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder a payload writes into when it gets its way; and an importable import bomb."""
    folder = tmp_path / "proofs"
    folder.mkdir()
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{IMPORT_BOMB}.py").write_text(
        f"open({str(folder / 'imported')!r}, 'w').write('imported')\nAnything = object\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.delitem(sys.modules, IMPORT_BOMB, raising=False)
    return folder


def place(registry: lk.Registry, data: bytes, names: list[str]) -> None:
    """Put ``data`` in version 1 as an attacker who can write the folder would: checksum and trust to match."""
    version = registry.get("weather", version=1)
    (version.directory / "model.skops").write_bytes(data)
    meta = json.loads((version.directory / "meta.json").read_text(encoding="utf-8"))
    meta.update(sha256=hashlib.sha256(data).hexdigest(), trusted=names)
    (version.directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def assert_nothing_ran(proofs: Path) -> None:
    assert list(proofs.iterdir()) == []
    assert IMPORT_BOMB not in sys.modules


# The payloads are live ----------------------------------------------------------------


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_payload_gets_its_way_when_its_names_are_trusted(case, proofs):
    data = case.build(proofs)

    loaded = skops.io.loads(data, trusted=case.names)

    assert case.got_its_way(loaded, proofs), "the payload must be live for the refusals below to mean anything"


# ... and labkit refuses every one of them -------------------------------------------


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_load_refuses_it_and_nothing_runs(case, proofs, weather_registry):
    place(weather_registry, case.build(proofs), case.names)

    with pytest.raises(UntrustedModelError, match="expected a model file whose types are all trusted") as caught:
        weather_registry.load("weather", version=1)

    assert caught.value.types == case.names
    message = str(caught.value)
    assert all(f"  - {name}: not on the list of types known to be safe" in message for name in case.names)
    assert "version 1" in message
    assert_nothing_ran(proofs)


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_check_types_refuses_it_without_the_registry(case, proofs):
    with pytest.raises(UntrustedModelError) as caught:
        load_model(case.build(proofs))
    assert caught.value.types == case.names
    assert_nothing_ran(proofs)


def test_a_partial_around_a_function_names_both(proofs):
    payload = node(
        "PartialNode", "functools", "partial",
        content={
            "func": function("numpy", "savetxt"),
            "args": tuple_of(value(str(proofs / "saved.txt"))),
            "kwds": dict_of(),
            "namespace": value(None),
        },
    )
    with pytest.raises(UntrustedModelError) as caught:
        check_types(skops_file(payload))
    assert caught.value.types == ["functools.partial", "numpy.savetxt"]


def test_deploy_refuses_it_before_any_server_starts(proofs, weather_registry, monkeypatch):
    case = HOSTILE["numpy runstring runs python"]
    place(weather_registry, case.build(proofs), case.names)
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))

    with pytest.raises(UntrustedModelError, match="numpy.testing._private.utils.runstring: not on the list"):
        lk.deploy(weather_registry, "weather", version=1, timeout=30)

    assert started == []
    assert_nothing_ran(proofs)


def test_the_service_refuses_it_on_its_own(proofs, weather_registry):
    # Should the file change after deploy() checked it, the server's own load refuses it.
    case = HOSTILE["a type whose module runs code on import"]
    place(weather_registry, case.build(proofs), case.names)
    app = create_app(ServiceSettings(registry=str(weather_registry.root), name="weather", version=1))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - the model must never load

    with pytest.raises(UntrustedModelError, match=f"{IMPORT_BOMB}.Anything"):
        asyncio.run(start())

    assert_nothing_ran(proofs)


def test_labkit_serve_refuses_it_and_says_why(proofs, weather_registry, capfd):
    case = HOSTILE["numpy.savetxt hidden deep in a real pipeline"]
    place(weather_registry, case.build(proofs), case.names)

    status = main(["serve", "--registry", str(weather_registry.root), "--model", "weather", "--version", "1", "--port", "0"])

    out, err = capfd.readouterr()
    assert status == 1
    assert err.startswith("labkit serve: expected a model file whose types are all trusted")
    assert "numpy.savetxt: not on the list" in err and "Traceback" not in err
    assert "on http://" not in out
    assert_nothing_ran(proofs)


def test_trust_named_by_the_caller_is_what_lets_it_load(proofs, weather_registry):
    case = HOSTILE["builtins.exec as a bare function"]
    place(weather_registry, case.build(proofs), case.names)

    assert weather_registry.load("weather", version=1, trusted=["builtins.exec"]) is exec


# Files that are not skops files -------------------------------------------------------


def _zip(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _nested(depth: int) -> bytes:
    """Lists in lists, ``depth`` deep: written as text, since json.dumps would run out of stack too."""
    opening = '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    inner = opening * (depth - 1) + json.dumps(value(1)) + "]}" * (depth - 1)
    schema = opening[:-1] + f'[{inner}], "protocol": {_protocol()}}}'
    return _zip(**{"schema.json": schema.encode()})


MALFORMED = {
    "empty": b"",
    "text": b"not a model",
    "zip without schema.json": _zip(**{"model.bin": b"x"}),
    "schema.json not json": _zip(**{"schema.json": b"{"}),
    "schema.json a list": _zip(**{"schema.json": b"[]"}),
    "no protocol": _zip(**{"schema.json": json.dumps(value(1)).encode()}),
    "protocol true": skops_file(value(1), protocol=True),
    "protocol from the future": skops_file(value(1), protocol=99),
    "negative protocol": skops_file(value(1), protocol=-1),
    "unknown loader": skops_file(node("EvalNode", "builtins", "eval")),
    "content of the wrong shape": skops_file(node("ListNode", "builtins", "list", content="oops")),
    "nesting deeper than the stack": _nested(100_000),
    "a cached node pointing nowhere": skops_file(node("CachedNode", "builtins", "list", __id__=7)),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_anything_but_a_skops_file_is_an_integrity_error(data):
    with pytest.raises(IntegrityError, match=r"expected the model file to be a skops file; got a file starting with"):
        load_model(data)


def test_trusted_names_with_values_that_cannot_be_rebuilt_are_an_integrity_error():
    data = skops_file(node("DTypeNode", "numpy", "dtype", content=value("not an array")))
    with pytest.raises(IntegrityError, match="expected the model file to rebuild the objects it describes; got Attr"):
        load_model(data)


# The list itself ----------------------------------------------------------------------


def test_the_list_is_exactly_what_the_course_models_need(weather_split):
    train, _ = weather_split
    X, y = train[list(lk.data.FEATURES)], train["rain_tomorrow"]
    # Missing values are part of the course (the monitoring scenarios inject them), so
    # the numbers go through an imputer as a student's pipeline would.
    prepare = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), ["precipitation", "temp_max", "temp_min", "wind"]),
        (OneHotEncoder(handle_unknown="ignore"), ["weather"]),
    )
    needed = set()
    for final in [
        LogisticRegression(),
        DecisionTreeClassifier(max_depth=3),
        RandomForestClassifier(n_estimators=3, random_state=0),
        ExtraTreesClassifier(n_estimators=3, random_state=0),
        GradientBoostingClassifier(n_estimators=3, random_state=0),
        HistGradientBoostingClassifier(max_iter=3),
    ]:
        model = make_pipeline(prepare, final).fit(X, y)
        needed |= set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))

    # Nothing on the list that no course model needs; nothing needed that is not on it.
    assert needed == set(TRUSTED_TYPES)


def test_each_entry_says_why_and_what_it_risks():
    for name, entry in TRUSTED_TYPES.items():
        assert entry.needed_by and entry.risk, name
        if name in UNTRUSTED_TYPE_REASONS:
            # skops leaves these out on purpose; the risk it names must be stated here too.
            assert "without bounds checks" in entry.risk and "crash" in entry.risk
    assert not any(name.endswith(("*", ".")) for name in TRUSTED_TYPES)
    with pytest.raises(TypeError):
        TRUSTED_TYPES["numpy.savetxt"] = TRUSTED_TYPES["numpy.dtype"]


# Real models still work ---------------------------------------------------------------


@pytest.mark.parametrize(
    "final",
    [LogisticRegression(), RandomForestClassifier(n_estimators=20, random_state=0), HistGradientBoostingClassifier(max_iter=20)],
    ids=["logistic_regression", "random_forest", "hist_gradient_boosting"],
)
def test_course_models_round_trip_through_register_load_and_deploy(final, weather_split, tmp_path):
    train, production = weather_split
    X, y = train[list(lk.data.FEATURES)], train["rain_tomorrow"]
    rows = production[list(lk.data.FEATURES)].head(200)
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["precipitation", "temp_max", "temp_min", "wind"]),
            (OneHotEncoder(handle_unknown="ignore"), ["weather"]),
        ),
        final,
    ).fit(X, y)
    registry = lk.Registry(tmp_path / "registry")
    registry.register(model, name="weather", X=X, y=y)
    registry.promote("weather", version=1, alias="champion")

    loaded = registry.load("weather", alias="champion")
    with lk.deploy(registry, "weather") as dep:
        served = dep.predict(rows)

    expected = model.predict_proba(rows)
    np.testing.assert_array_equal(loaded.predict_proba(rows), expected)
    np.testing.assert_array_equal(served[["proba_False", "proba_True"]].to_numpy(), expected)
    assert served["prediction"].tolist() == model.predict(rows).tolist()
