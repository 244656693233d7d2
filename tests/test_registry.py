"""Tests for labkit.registry: versions, aliases, history, loading under the trust policy."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops
import skops.io
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

import labkit._files
import labkit.registry
from labkit.card import model_card
from labkit.clock import SimulatedClock
from labkit.errors import (
    IntegrityError,
    NotFoundError,
    RegistryError,
    SchemaError,
    UntrustedModelError,
)
from labkit.profile import training_profile
from labkit.registry import ModelVersion, Registry
from labkit.trust import TRUSTED_TYPES
from labkit.schema import Schema

CUSTOM_MODULE = "labkit_test_custom_shift"
CUSTOM_TYPE = f"{CUSTOM_MODULE}.Shift"


def make_data(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Weather-like training data: floats (one missing), an integer and a categorical string."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "wind": rng.normal(3.0, 1.0, size=n),
            "temp": rng.normal(10.0, 5.0, size=n),
            "month": rng.integers(1, 13, size=n),
            "weather": rng.choice(["sun", "rain", "fog"], size=n),
        }
    )
    X.loc[3, "wind"] = np.nan
    y = pd.Series((X["temp"] + rng.normal(size=n)) < 10.0, name="rain_tomorrow")
    return X, y


def make_model(X: pd.DataFrame, y: pd.Series, C: float = 1.0) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), ["wind", "temp", "month"]),
            ("weather", OneHotEncoder(handle_unknown="ignore"), ["weather"]),
        ]
    )
    return make_pipeline(prepare, LogisticRegression(C=C)).fit(X, y)


def numeric(X: pd.DataFrame) -> pd.DataFrame:
    return X[["temp", "month"]]


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_data()


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


@pytest.fixture
def two_versions(reg: Registry, data: tuple[pd.DataFrame, pd.Series]) -> Registry:
    """A registry holding 'weather' versions 1 and 2, which predict differently."""
    X, y = data
    reg.register(make_model(X, y, C=1.0), name="weather", X=X, y=y, notes="first")
    reg.register(make_model(X, y, C=0.01), name="weather", X=X, y=y, notes="second")
    return reg


@pytest.fixture
def custom_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A module outside sklearn/numpy/scipy holding a small transformer, importable by name."""
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / f"{CUSTOM_MODULE}.py").write_text(
        textwrap.dedent(
            """
            from sklearn.base import BaseEstimator, TransformerMixin


            class Shift(TransformerMixin, BaseEstimator):
                def __init__(self, by=1.0):
                    self.by = by

                def fit(self, X, y=None):
                    self.n_features_in_ = X.shape[1]
                    return self

                def transform(self, X):
                    return X + self.by
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, CUSTOM_MODULE, raising=False)
    return importlib.import_module(CUSTOM_MODULE)


def custom_pipeline(module, X: pd.DataFrame, y: pd.Series) -> Pipeline:
    return make_pipeline(module.Shift(by=2.0), LogisticRegression()).fit(numeric(X), y)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_meta(version: ModelVersion, **changes) -> None:
    path = version.directory / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(changes)
    path.write_text(json.dumps(meta), encoding="utf-8")


def leftovers(folder: Path) -> list[str]:
    """Hidden files or folders (staging folders, temporary alias files) under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*") if p.name != ".lock")


# register -----------------------------------------------------------------------------


def test_register_numbers_versions_from_one(reg, data):
    X, y = data
    first = reg.register(make_model(X, y), name="weather", X=X, y=y)
    second = reg.register(make_model(X, y, C=0.1), name="weather", X=X, y=y)
    other = reg.register(make_model(X, y), name="other", X=X, y=y)

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert [v.version for v in reg.versions("weather")] == [1, 2]
    assert reg.get("weather").version == 2
    assert reg.get("weather", version=1).sha256 == first.sha256
    assert reg.models() == ["other", "weather"]
    assert sorted(p.name for p in first.directory.iterdir()) == ["card.md", "meta.json", "model.skops", "reference.npz"]
    assert first.directory == reg.root / "weather" / "versions" / "1"
    assert repr(first) == "ModelVersion(name='weather', version=1)"


def test_register_records_meta(reg, data):
    X, y = data
    version = reg.register(
        make_model(X, y), name="weather", X=X, y=y, metrics={"accuracy": 0.8125, "n_folds": 5}, notes="baseline"
    )
    meta = version.meta

    assert meta["sha256"] == sha256_of(version.directory / "model.skops") == version.sha256
    assert meta["name"] == "weather" and meta["version"] == 1
    assert meta["model_class"] == "sklearn.pipeline.Pipeline"
    assert meta["training_rows"] == 80
    assert meta["notes"] == "baseline"
    assert meta["trusted"] == []
    assert meta["metrics"] == {"accuracy": 0.8125, "n_folds": 5.0}
    assert isinstance(version.metrics["n_folds"], float)
    columns = {c["name"]: c for c in meta["schema"]["columns"]}
    assert list(columns) == ["wind", "temp", "month", "weather"]
    assert {name: c["kind"] for name, c in columns.items()} == {
        "wind": "float",
        "temp": "float",
        "month": "integer",
        "weather": "string",
    }
    assert columns["weather"]["categories"] == ["fog", "rain", "sun"]
    assert columns["wind"]["categories"] is None
    assert columns["wind"]["nullable"] is True
    assert columns["temp"]["nullable"] is False
    assert version.schema == Schema.infer(X)
    assert meta["profile"] == version.profile == training_profile(X)
    assert meta["target"] == {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]}
    environment = meta["environment"]
    assert environment["scikit-learn"] == sklearn.__version__
    assert environment["skops"] == skops.__version__
    assert environment["numpy"] == np.__version__
    assert environment["pandas"] == pd.__version__
    assert set(environment) >= {"labkit", "python"}
    on_disk = json.loads((version.directory / "meta.json").read_text(encoding="utf-8"))
    assert on_disk == dict(meta)


def test_register_records_string_classes_and_no_target(reg, data):
    X, y = data
    labels = pd.Series(np.where(y, "wet", "dry"), name="sky")
    with_classes = reg.register(make_model(X, labels), name="sky", X=X, y=labels)
    without = reg.register(make_model(X, y), name="plain", X=X)

    assert with_classes.meta["target"]["classes"] == ["dry", "wet"]
    assert with_classes.meta["target"]["name"] == "sky"
    assert without.meta["target"] is None
    assert "No target was given at registration." in without.card


def test_meta_json_holds_no_nan_where_training_values_were_missing(reg, data):
    X, y = data
    X = X.assign(gust=np.nan)
    model = make_pipeline(
        ColumnTransformer([("numbers", SimpleImputer(), ["temp", "month"])]), LogisticRegression()
    ).fit(X, y)
    version = reg.register(model, name="weather", X=X, y=y)

    def refuse(constant: str) -> None:
        raise AssertionError(f"meta.json holds {constant}, which is not JSON")

    meta = json.loads((version.directory / "meta.json").read_text(encoding="utf-8"), parse_constant=refuse)
    assert meta["profile"]["columns"]["wind"]["missing"] == 1
    assert meta["profile"]["columns"]["gust"]["mean"] is None


def test_a_version_registered_before_profiles_has_none(two_versions):
    version = two_versions.get("weather", version=1)
    meta = json.loads((version.directory / "meta.json").read_text(encoding="utf-8"))
    del meta["profile"]
    (version.directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    assert two_versions.get("weather", version=1).profile is None
    assert two_versions.get("weather", version=2).profile is not None


def test_register_writes_model_card(reg, data):
    X, y = data
    version = reg.register(make_model(X, y), name="weather", X=X, y=y, metrics={"accuracy": 0.8125}, notes="baseline")
    card = version.card

    assert card == (version.directory / "card.md").read_text(encoding="utf-8")
    assert card == model_card(version.meta)
    assert card.startswith("# weather, version 1\n")
    for column in ("wind", "temp", "month", "weather"):
        assert f"| {column} |" in card
    assert "fog, rain, sun" in card
    assert "| accuracy | 0.8125 |" in card
    assert "baseline" in card
    assert version.sha256 in card


# promote, rollback, history -----------------------------------------------------------


def test_promote_rollback_and_history(two_versions):
    reg = two_versions
    assert reg.promote("weather", version=1, alias="champion", reason="first deploy").version == 1
    assert reg.promote("weather", version=2, alias="champion", reason="better").version == 2
    assert reg.aliases("weather") == {"champion": 2}
    assert reg.get("weather", alias="champion").version == 2

    back = reg.rollback("weather", alias="champion", reason="complaints")

    assert back.version == 1
    assert reg.aliases("weather") == {"champion": 1}
    assert reg.get("weather", alias="champion").version == 1
    history = reg.history("weather")
    assert list(history.columns) == ["time", "event", "version", "alias", "previous", "reason"]
    assert history["event"].tolist() == ["register", "register", "promote", "promote", "rollback"]
    assert history["version"].tolist() == [1, 2, 1, 2, 1]
    assert history["alias"].tolist()[2:] == ["champion"] * 3
    assert history["previous"].isna().tolist() == [True, True, True, False, False]
    assert history["previous"].tolist()[3:] == [1, 2]
    assert history["reason"].tolist() == ["first", "second", "first deploy", "better", "complaints"]
    assert history["time"].tolist() == sorted(history["time"])


def test_rollback_without_earlier_version_names_the_alias(two_versions):
    reg = two_versions
    reg.promote("weather", version=1, alias="champion")
    reg.promote("weather", version=2, alias="champion")
    reg.rollback("weather", alias="champion")

    with pytest.raises(RegistryError, match=r"alias 'champion' of model 'weather' to have an earlier version"):
        reg.rollback("weather", alias="champion")
    assert reg.aliases("weather") == {"champion": 1}


def test_rollback_of_unknown_alias(two_versions):
    with pytest.raises(RegistryError, match=r"alias 'staging' of model 'weather'.*does not exist"):
        two_versions.rollback("weather", alias="staging")


def test_promote_to_the_current_version_changes_nothing(two_versions):
    reg = two_versions
    reg.promote("weather", version=1, alias="champion")
    reg.promote("weather", version=1, alias="champion")

    assert reg.history("weather")["event"].tolist() == ["register", "register", "promote"]
    with pytest.raises(RegistryError, match="holds version 1 and has no earlier one left"):
        reg.rollback("weather", alias="champion")


def test_aliases_are_independent(two_versions):
    reg = two_versions
    reg.promote("weather", version=1, alias="champion")
    reg.promote("weather", version=2, alias="challenger")

    assert reg.aliases("weather") == {"champion": 1, "challenger": 2}


def test_promote_unknown_version_is_not_found(two_versions):
    with pytest.raises(NotFoundError, match=r"version of model 'weather' \(1, 2\); got 7"):
        two_versions.promote("weather", version=7, alias="champion")
    assert two_versions.aliases("weather") == {}


@pytest.mark.parametrize("version", ["1", 1.0, True, None])
def test_promote_rejects_non_integer_versions(two_versions, version):
    with pytest.raises(RegistryError, match="expected a version number"):
        two_versions.promote("weather", version=version, alias="champion")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("1", "not a number"),
        ("42", "not a number"),
        ("../x", "alias of letters, digits"),
        ("", "alias of letters, digits"),
        (".hidden", "alias of letters, digits"),
        ("a/b", "alias of letters, digits"),
        ("x" * 65, "alias of letters, digits"),
        (None, "alias of letters, digits"),
    ],
)
def test_promote_rejects_bad_alias_names(two_versions, alias, message):
    with pytest.raises(RegistryError, match=message):
        two_versions.promote("weather", version=1, alias=alias)
    assert two_versions.aliases("weather") == {}


def test_get_by_unknown_alias(two_versions):
    with pytest.raises(NotFoundError, match=r"got 'champion' \(aliases: none yet\).*reg.promote"):
        two_versions.get("weather", alias="champion")


def test_get_refuses_alias_and_version_together(two_versions):
    with pytest.raises(RegistryError, match="expected alias or version, not both"):
        two_versions.get("weather", alias="champion", version=1)


@pytest.mark.parametrize("method", ["get", "versions", "aliases", "history", "load"])
def test_unknown_model_is_not_found(two_versions, method):
    with pytest.raises(NotFoundError, match=r"registered model name \('weather'\); got 'wether'"):
        getattr(two_versions, method)("wether")


@pytest.mark.parametrize("method", ["promote", "rollback"])
def test_moving_an_alias_of_an_unknown_model_is_not_found_and_creates_nothing(two_versions, method):
    reg = two_versions
    arguments = {"version": 1, "alias": "champion"} if method == "promote" else {"alias": "champion"}

    with pytest.raises(NotFoundError, match=r"registered model name \('weather'\); got 'typo'"):
        getattr(reg, method)("typo", **arguments)

    assert reg.models() == ["weather"]
    assert not (reg.root / "typo").exists()


def test_empty_registry(tmp_path):
    reg = Registry(tmp_path / "nowhere")

    assert reg.models() == []
    assert repr(reg) == f"Registry({str(tmp_path / 'nowhere')!r})"
    with pytest.raises(NotFoundError, match="none yet"):
        reg.get("weather")


def test_history_skips_a_line_cut_short(two_versions):
    reg = two_versions
    with open(reg.root / "weather" / "history.jsonl", "a", encoding="utf-8") as file:
        file.write('{"time": "2013-01-01T00:00:00+00:00", "ev')

    assert reg.history("weather")["event"].tolist() == ["register", "register"]


def test_history_keeps_events_logged_after_a_line_cut_short(two_versions):
    reg = two_versions
    with open(reg.root / "weather" / "history.jsonl", "a", encoding="utf-8") as file:
        file.write('{"time": "2013-01-01T00:00:00+00:00", "ev')

    reg.promote("weather", version=1, alias="champion")

    assert reg.history("weather")["event"].tolist() == ["register", "register", "promote"]


# load ---------------------------------------------------------------------------------


def test_rollback_restores_bit_identical_predictions(reg, data):
    X, y = data
    frame = numeric(make_data(n=200, seed=1)[0])  # fixed rows none of the models saw
    first = RandomForestClassifier(n_estimators=20, random_state=0).fit(numeric(X), y)
    second = RandomForestClassifier(n_estimators=20, max_depth=2, random_state=1).fit(numeric(X), y)
    v1 = reg.register(first, name="forest", X=numeric(X), y=y)
    v1_bytes = (v1.directory / "model.skops").read_bytes()
    reg.register(second, name="forest", X=numeric(X), y=y)
    reg.promote("forest", version=1, alias="champion")
    reg.promote("forest", version=2, alias="champion")
    serving = reg.load("forest", alias="champion")
    assert not np.array_equal(serving.predict(frame), first.predict(frame))
    assert not np.array_equal(serving.predict_proba(frame), first.predict_proba(frame))

    reg.rollback("forest", alias="champion")

    restored = reg.load("forest", alias="champion")
    assert np.array_equal(restored.predict(frame), first.predict(frame))
    assert np.array_equal(restored.predict_proba(frame), first.predict_proba(frame))
    champion_file = reg.get("forest", alias="champion").directory / "model.skops"
    assert sha256_of(champion_file) == v1.sha256 == hashlib.sha256(v1_bytes).hexdigest()
    assert champion_file.read_bytes() == v1_bytes


@pytest.mark.parametrize(
    "estimator",
    [RandomForestClassifier(n_estimators=10, random_state=0), HistGradientBoostingClassifier(max_iter=10)],
    ids=["random_forest", "hist_gradient_boosting"],
)
def test_load_trusts_sklearn_tree_internals(reg, data, estimator):
    X, y = data
    model = estimator.fit(numeric(X), y)
    version = reg.register(model, name="trees", X=numeric(X), y=y)
    path = version.directory / "model.skops"
    # skops alone refuses these files: the trust comes from labkit's exact list.
    assert set(skops.io.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.load(path)
    assert version.meta["trusted"] == []

    loaded = reg.load("trees", version=1)

    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(numeric(X)), model.predict(numeric(X)))
    assert np.array_equal(loaded.predict_proba(numeric(X)), model.predict_proba(numeric(X)))


def test_load_chooses_by_alias_version_or_latest(two_versions, data):
    reg = two_versions
    X, _ = data
    reg.promote("weather", version=1, alias="champion")
    first, second = (reg.load("weather", version=n).predict_proba(X) for n in (1, 2))

    assert not np.array_equal(first, second)
    assert np.array_equal(reg.load("weather", alias="champion").predict_proba(X), first)
    assert np.array_equal(reg.load("weather").predict_proba(X), second)


# tampering ----------------------------------------------------------------------------


def test_load_refuses_a_changed_byte(two_versions):
    path = two_versions.get("weather", version=1).directory / "model.skops"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))

    with pytest.raises(IntegrityError, match=r"sha256 [0-9a-f]{64} as registered; got [0-9a-f]{64}"):
        two_versions.load("weather", version=1)
    assert two_versions.load("weather", version=2) is not None


def test_load_refuses_a_missing_file(two_versions):
    (two_versions.get("weather", version=1).directory / "model.skops").unlink()

    with pytest.raises(IntegrityError, match="expected the model file .*model.skops; got nothing there"):
        two_versions.load("weather", version=1)


class _Payload:
    """Unpickling this creates ``marker``: what a malicious pickle would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_load_refuses_a_pickle_with_matching_sha256(two_versions, tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof))).close()
    assert proof.exists(), "the payload must be live for this test to mean anything"
    marker = tmp_path / "marker"
    version = two_versions.get("weather", version=1)
    path = version.directory / "model.skops"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    rewrite_meta(version, sha256=sha256_of(path))

    expected = r"to be a skops file; got a file starting with b'\\x80.*looks like a pickle"
    with pytest.raises(IntegrityError, match=expected):
        two_versions.load("weather", version=1)
    assert not marker.exists()


# trust --------------------------------------------------------------------------------


def test_register_refuses_untrusted_custom_types(reg, data, custom_module):
    X, y = data
    model = custom_pipeline(custom_module, X, y)

    with pytest.raises(UntrustedModelError, match=rf"(?s)names 1 that is not:\n  - {CUSTOM_TYPE}: .*trusted=\['{CUSTOM_TYPE}'\] to reg.register and to every reg.load") as caught:
        reg.register(model, name="shifted", X=numeric(X), y=y)

    assert caught.value.types == [CUSTOM_TYPE]
    assert list((reg.root / "shifted" / "versions").iterdir()) == []


def test_register_refuses_a_numpy_function_that_is_not_on_the_list(reg, data):
    # numpy.absolute is a ufunc, on skops' list; numpy.clip is a plain function, which a file
    # could make load call with any arguments: being from NumPy does not make it trusted.
    X, y = data
    fine = make_pipeline(FunctionTransformer(np.absolute), LogisticRegression()).fit(numeric(X), y)
    assert reg.register(fine, name="logged", X=numeric(X), y=y).meta["trusted"] == []

    clipped = make_pipeline(FunctionTransformer(np.clip, kw_args={"a_min": 0, "a_max": 20}), LogisticRegression())
    with pytest.raises(UntrustedModelError, match=r"(?s)numpy.clip: not on the list.*trusted=\['numpy.clip'\]"):
        reg.register(clipped.fit(numeric(X), y), name="clipped", X=numeric(X), y=y)
    assert reg.models() == ["logged"]


def test_register_and_load_trusted_custom_types(reg, data, custom_module):
    X, y = data
    model = custom_pipeline(custom_module, X, y)

    version = reg.register(model, name="shifted", X=numeric(X), y=y, trusted=[CUSTOM_TYPE])

    assert version.meta["trusted"] == [CUSTOM_TYPE]
    assert f"trusted=['{CUSTOM_TYPE}']" in version.card
    loaded = reg.load("shifted", trusted=[CUSTOM_TYPE])
    assert type(loaded[0]).__module__ == CUSTOM_MODULE
    assert np.array_equal(loaded.predict_proba(numeric(X)), model.predict_proba(numeric(X)))
    # The type itself works as well as its name.
    fresh = Registry(reg.root).load("shifted", version=1, trusted=[custom_module.Shift])
    assert np.array_equal(fresh.predict_proba(numeric(X)), model.predict_proba(numeric(X)))


def test_load_never_takes_trust_from_the_version_folder(reg, data, custom_module):
    X, y = data
    model = custom_pipeline(custom_module, X, y)
    reg.register(model, name="shifted", X=numeric(X), y=y, trusted=[CUSTOM_TYPE])

    # Recorded at registration, but meta.json is as easy to edit as the model file,
    # so every load must be told again.
    with pytest.raises(UntrustedModelError, match=rf"names 1 that is not:\n  - {CUSTOM_TYPE}: not on the list") as caught:
        reg.load("shifted")
    assert caught.value.types == [CUSTOM_TYPE]
    assert rf"trusted=['{CUSTOM_TYPE}'] to reg.register and to every reg.load" in str(caught.value)
    with pytest.raises(UntrustedModelError):
        reg.verify("shifted")
    assert reg.verify("shifted", trusted=[CUSTOM_TYPE]).version == 1


@pytest.mark.parametrize("bad", ["labkit_test_custom_shift", "sklearn", "numpy.*", "", 3])
def test_trusted_takes_exact_type_names_only(reg, data, custom_module, bad):
    X, y = data
    reg.register(custom_pipeline(custom_module, X, y), name="shifted", X=numeric(X), y=y, trusted=[CUSTOM_TYPE])

    with pytest.raises(RegistryError, match=r"expected trusted= to hold exact type names such as 'mymodule.MyClass'"):
        reg.load("shifted", trusted=[bad])


def test_trusted_takes_one_name_given_bare(reg, data, custom_module):
    X, y = data
    reg.register(custom_pipeline(custom_module, X, y), name="shifted", X=numeric(X), y=y, trusted=CUSTOM_TYPE)

    assert reg.load("shifted", trusted=CUSTOM_TYPE) is not None


# refusals -----------------------------------------------------------------------------


def test_register_refuses_an_unfitted_model(reg, data):
    X, y = data
    with pytest.raises(RegistryError, match="expected a fitted model; got an unfitted LogisticRegression"):
        reg.register(LogisticRegression(), name="weather", X=X, y=y)
    assert not reg.root.exists()


def test_register_refuses_a_non_estimator(reg, data):
    X, y = data
    with pytest.raises(RegistryError, match="expected a scikit-learn estimator; got dict"):
        reg.register({"weights": [1, 2]}, name="weather", X=X, y=y)
    assert not reg.root.exists()


def test_register_refuses_a_non_dataframe(reg, data):
    X, y = data
    model = LogisticRegression().fit(numeric(X).to_numpy(), y)
    with pytest.raises(SchemaError, match="expected X to be a pandas DataFrame with named columns; got ndarray"):
        reg.register(model, name="weather", X=numeric(X).to_numpy(), y=y)
    assert not reg.root.exists()


@pytest.mark.parametrize("columns", [["month", "temp"], ["temp"], ["temp", "month", "wind"]])
def test_register_refuses_columns_other_than_fitted(reg, data, columns):
    X, y = data
    model = LogisticRegression().fit(numeric(X), y)
    with pytest.raises(RegistryError, match=r"columns the model was fitted on, \['temp', 'month'\]"):
        reg.register(model, name="weather", X=X[columns], y=y)
    assert not reg.root.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf, "0.9", True, None])
def test_register_refuses_non_finite_metrics(reg, data, value):
    X, y = data
    with pytest.raises(RegistryError, match=r"expected each metric to be a finite number; got accuracy="):
        reg.register(make_model(X, y), name="weather", X=X, y=y, metrics={"accuracy": value})
    assert not reg.root.exists()


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "-dash", "a b", "a/b", "x" * 65, 7, None])
def test_register_refuses_invalid_names(reg, data, name):
    X, y = data
    with pytest.raises(RegistryError, match="model name of letters, digits"):
        reg.register(make_model(X, y), name=name, X=X, y=y)
    assert not reg.root.exists()


def test_register_accepts_names_with_dots_dashes_and_underscores(reg, data):
    X, y = data
    assert reg.register(make_model(X, y), name="Weather_v2.1-b", X=X, y=y).name == "Weather_v2.1-b"
    assert reg.models() == ["Weather_v2.1-b"]


# atomicity ----------------------------------------------------------------------------


def _failing_dump(model, file, *args, **kwargs):
    Path(file).write_bytes(b"PK\x03\x04 half a file")
    raise OSError("disk full")


def test_failed_registration_leaves_no_version(two_versions, data, monkeypatch):
    reg = two_versions
    X, y = data
    monkeypatch.setattr(skops.io, "dump", _failing_dump)

    with pytest.raises(OSError, match="disk full"):
        reg.register(make_model(X, y), name="weather", X=X, y=y)

    assert [v.version for v in reg.versions("weather")] == [1, 2]
    assert leftovers(reg.root) == []
    assert reg.history("weather")["event"].tolist() == ["register", "register"]
    monkeypatch.undo()
    assert reg.register(make_model(X, y), name="weather", X=X, y=y).version == 3


def test_failed_first_registration_leaves_no_model(reg, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(skops.io, "dump", _failing_dump)

    with pytest.raises(OSError, match="disk full"):
        reg.register(make_model(X, y), name="weather", X=X, y=y)

    assert leftovers(reg.root) == []
    with pytest.raises(NotFoundError, match="'weather'"):
        reg.get("weather")
    assert reg.models() == []


def test_failed_promotion_keeps_the_aliases(two_versions, monkeypatch):
    reg = two_versions
    reg.promote("weather", version=1, alias="champion")
    before = (reg.root / "weather" / "aliases.json").read_bytes()
    replace = os.replace

    def failing_replace(source, destination, *args, **kwargs):
        if Path(destination).name == "aliases.json":
            raise OSError("power cut")
        return replace(source, destination, *args, **kwargs)

    monkeypatch.setattr(labkit._files.os, "replace", failing_replace)

    with pytest.raises(OSError, match="power cut"):
        reg.promote("weather", version=2, alias="champion")

    monkeypatch.undo()
    assert (reg.root / "weather" / "aliases.json").read_bytes() == before
    assert reg.aliases("weather") == {"champion": 1}
    assert leftovers(reg.root) == []
    assert reg.history("weather")["event"].tolist() == ["register", "register", "promote"]


# crashes ------------------------------------------------------------------------------

# The attacker's target: workers that register, promote and roll back on a real registry
# until they are killed. The script runs in a fresh interpreter (started with subprocess,
# never a fork of pytest) that imports once, then forks one worker per round, so thirty
# kills do not cost thirty imports of sklearn. Each worker writes what it is about to do,
# and what it did, to a journal, so the test knows which move was in flight at the kill.
_KILL_SCRIPT = """
import itertools, json, os, random, signal, sys
from pathlib import Path
import numpy as np, pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression
import labkit.registry
from labkit.registry import Registry

rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
y = X["a"] + rng.normal(size=60) > 0
MODELS = [LogisticRegression(C=c).fit(X, y) for c in (0.01, 0.1, 1.0, 10.0)]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def plant(point):
    # Kill this worker at one chosen step of the next operation.
    when = point.split(":")[1]
    replace, dump = os.replace, skops.io.dump
    if when == "staging":
        def dump_then_die(model, file, *args, **kwargs):
            dump(model, file, *args, **kwargs)
            die()
        skops.io.dump = dump_then_die
    elif when in ("before-commit", "after-commit"):
        def replace_around_death(source, destination, *args, **kwargs):
            destination = Path(destination)
            committing = destination.name == "aliases.json" or destination.name.isdigit()
            if committing and when == "before-commit":
                die()
            replace(source, destination, *args, **kwargs)
            if committing:
                die()
        os.replace = replace_around_death
    elif when == "mid-append":
        def half_then_die(path, line):
            with open(path, "ab") as file:
                file.write(line.encode()[: len(line) // 2])
            die()
        labkit.registry.append_line = half_then_die


def operate(reg, name, kind, rng, step):
    # One move, and the history row it must leave: (event, version, alias, previous).
    path = reg.root / name / "aliases.json"
    aliases = json.loads(path.read_text()) if path.exists() else {}
    latest = reg.get(name).version
    movable = [alias for alias, entry in aliases.items() if entry["previous"]]
    if kind == "rollback" and movable:
        alias = rng.choice(movable)
        entry = aliases[alias]
        expected = ["rollback", entry["previous"][-1], alias, entry["version"]]
        return expected, lambda: reg.rollback(name, alias=alias, reason=f"step {step}")
    if kind == "register":
        model = MODELS[step % len(MODELS)]
        expected = ["register", latest + 1, None, None]
        return expected, lambda: reg.register(model, name=name, X=X, y=y, notes=f"step {step}")
    alias = rng.choice(["champion", "champion", "challenger"])
    current = aliases.get(alias, {}).get("version")
    version = rng.choice([n for n in range(1, latest + 1) if n != current])
    expected = ["promote", version, alias, current]
    return expected, lambda: reg.promote(name, version=version, alias=alias, reason=f"step {step}")


def work(root, name, journal, seed, point):
    reg = Registry(root)
    rng = random.Random(seed)
    if point:
        plant(point)
    with open(journal, "a") as log:
        for step in itertools.count():
            if point and step:
                return
            kind = point.split(":")[0] if point else rng.choices(["register", "promote", "rollback"], [3, 4, 3])[0]
            expected, move = operate(reg, name, kind, rng, step)
            log.write(json.dumps({"start": expected}) + "\\n")
            log.flush()
            move()
            log.write(json.dumps({"done": expected}) + "\\n")
            log.flush()


for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            work(**json.loads(line))
            code = 3  # the planted kill never came
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 4
        os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


class Killer:
    """Drives the worker process: starts a round, kills it, waits until it is gone."""

    def __init__(self, script: Path) -> None:
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )

    def start(self, root: Path, journal: Path, *, seed: int = 0, point: str = "") -> int:
        command = {"root": str(root), "name": "weather", "journal": str(journal), "seed": seed, "point": point}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait(self) -> int:
        """How the round's worker ended: the raw status from os.waitpid."""
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def killer(tmp_path_factory):
    if not hasattr(os, "fork"):
        pytest.skip("SIGKILL and fork are POSIX only")
    script = tmp_path_factory.mktemp("killer") / "worker.py"
    script.write_text(_KILL_SCRIPT, encoding="utf-8")
    driver = Killer(script)
    yield driver
    driver.close()


def small_data() -> tuple[pd.DataFrame, pd.Series]:
    """The worker's training frame, rebuilt the same way."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return X, X["a"] + rng.normal(size=60) > 0


def history_rows(reg: Registry, name: str = "weather") -> list[list]:
    """The history as (event, version, alias, previous) rows, with None for missing values."""
    frame = reg.history(name)[["event", "version", "alias", "previous"]].astype(object)
    return [[None if pd.isna(value) else value for value in row] for row in frame.itertuples(index=False)]


def logged_rows(reg: Registry, name: str = "weather") -> list[dict]:
    """What history.jsonl itself holds, skipping a line cut short."""
    rows = []
    for line in (reg.root / name / "history.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def assert_consistent(reg: Registry, X: pd.DataFrame, name: str = "weather") -> None:
    """Every invariant a crash must keep, checked from the outside."""
    aliases_file = json.loads((reg.root / name / "aliases.json").read_text(encoding="utf-8"))
    numbers = [v.version for v in reg.versions(name)]
    assert numbers == list(range(1, len(numbers) + 1))
    for number in numbers:
        folder = reg.root / name / "versions" / str(number)
        assert sorted(p.name for p in folder.iterdir()) == ["card.md", "meta.json", "model.skops", "reference.npz"]
    for alias in aliases_file:
        reg.verify(name, alias=alias)
    assert reg.load(name, alias="champion").predict(X).shape == (len(X),)

    # Replaying the history's moves must give the alias file, stacks included: a move
    # that took effect without its row, or a row without its move, would show here.
    rows = history_rows(reg, name)
    assert [version for event, version, _, _ in rows if event == "register"] == numbers
    replayed: dict[str, dict] = {}
    for event, version, alias, previous in rows:
        if event == "register":
            continue
        entry = replayed.setdefault(alias, {"version": None, "previous": []})
        assert previous == entry["version"], rows
        if event == "promote":
            if entry["version"] is not None:
                entry["previous"].append(entry["version"])
        else:
            assert entry["previous"].pop() == version, rows
        entry["version"] = version
    assert {alias: (e["version"], e["previous"]) for alias, e in aliases_file.items()} == {
        alias: (e["version"], e["previous"]) for alias, e in replayed.items()
    }


def journal_round(journal: Path) -> tuple[list[list], list | None]:
    """The moves a worker finished, and the one it had started when it was killed."""
    done, started = [], None
    lines = journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []  # killed before a move
    for line in lines:
        record = json.loads(line)
        if "start" in record:
            started = record["start"]
        else:
            done.append(record["done"])
            started = None
    return done, started


def set_up_weather(root: Path) -> tuple[Registry, pd.DataFrame]:
    """'weather' versions 1 and 2, champion moved 1 -> 2, so a rollback is possible."""
    X, y = small_data()
    reg = Registry(root)
    reg.register(LogisticRegression(C=0.01).fit(X, y), name="weather", X=X, y=y, notes="first")
    reg.register(LogisticRegression(C=1.0).fit(X, y), name="weather", X=X, y=y, notes="second")
    reg.promote("weather", version=1, alias="champion")
    reg.promote("weather", version=2, alias="champion")
    return reg, X


KILLS = 30


def test_registry_survives_sigkill_at_random_moments(killer, tmp_path):
    reg, X = set_up_weather(tmp_path / "registry")
    rng = np.random.default_rng(8)
    rows = history_rows(reg)
    mid_move = 0
    for kill in range(KILLS):
        journal = tmp_path / f"journal-{kill}"
        pid = killer.start(reg.root, journal, seed=kill)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        status = killer.wait()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"kill {kill}: worker ended {status}"

        assert_consistent(reg, X)
        now = history_rows(reg)
        assert now[: len(rows)] == rows, f"kill {kill}: the history changed what it showed before"
        done, in_flight = journal_round(journal)
        # Every move the worker finished is there, in order; the one in flight is there
        # only if it took effect, which the replay in assert_consistent has checked.
        assert now[len(rows) :] in (done, done + [in_flight]), f"kill {kill}"
        rows = now
        mid_move += in_flight is not None
    assert mid_move >= KILLS // 2, "most kills should land in the middle of a move, or this tests little"

    # A normal writer afterwards is not blocked, and clears what the kills left.
    champion = reg.aliases("weather")["champion"]
    X_new, y_new = small_data()
    version = reg.register(LogisticRegression(C=0.5).fit(X_new, y_new), name="weather", X=X_new, y=y_new).version
    reg.promote("weather", version=version, alias="champion")

    assert leftovers(reg.root) == []
    assert_consistent(reg, X)
    expected = rows + [["register", version, None, None], ["promote", version, "champion", champion]]
    assert history_rows(reg) == expected
    assert [[r["event"], r["version"], r["alias"], r["previous"]] for r in logged_rows(reg)] == expected


# Where a kill hurts most, and what it leaves: whether the move took effect, and the
# hidden file or folder a killed writer leaves for the next writer to remove.
WORST_POINTS = {
    "register:staging": (False, ".staging-"),  # the model file staged, the rest not yet
    "register:before-commit": (False, ".staging-"),  # staged, under the lock, not yet renamed
    "register:after-commit": (True, None),  # renamed into place, no history line
    "register:mid-append": (True, None),  # half a history line
    "promote:before-commit": (False, ".aliases.json."),  # the new alias file written, not renamed
    "promote:after-commit": (True, None),
    "promote:mid-append": (True, None),
    "rollback:after-commit": (True, None),
    "rollback:mid-append": (True, None),
}


@pytest.mark.parametrize("point", list(WORST_POINTS))
def test_registry_survives_sigkill_at_the_worst_points(killer, tmp_path, point):
    took_effect, left = WORST_POINTS[point]
    reg, X = set_up_weather(tmp_path / "registry")
    before, aliases = history_rows(reg), reg.aliases("weather")
    journal = tmp_path / "journal"

    killer.start(reg.root, journal, point=point)
    status = killer.wait()

    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"worker ended {status}, not killed"
    assert_consistent(reg, X)
    done, in_flight = journal_round(journal)
    assert done == [] and in_flight is not None
    assert history_rows(reg) == before + ([in_flight] if took_effect else [])
    if took_effect:
        assert len(logged_rows(reg)) == len(before), "the kill came before the line was written"
    else:
        assert reg.aliases("weather") == aliases
        assert [p.name for p in reg.root.rglob(f"{left}*")], f"a kill at {point} should leave {left}*"

    reg.promote("weather", version=1, alias="challenger")

    assert leftovers(reg.root) == []
    assert_consistent(reg, X)
    expected = before + ([in_flight] if took_effect else []) + [["promote", 1, "challenger", None]]
    assert history_rows(reg) == expected
    assert [[r["event"], r["version"], r["alias"], r["previous"]] for r in logged_rows(reg)] == expected
    X_new, y_new = small_data()
    latest = len(reg.versions("weather"))
    assert reg.register(LogisticRegression().fit(X_new, y_new), name="weather", X=X_new, y=y_new).version == latest + 1


def test_a_live_staging_folder_is_never_removed(two_versions, data):
    reg = two_versions
    with labkit.registry._staging_folder(reg.root / "weather" / "versions") as staging:
        (staging / "model.skops").write_bytes(b"being written")

        reg.promote("weather", version=1, alias="champion")  # a writer clears what killed writers left

        assert (staging / "model.skops").read_bytes() == b"being written"
    assert leftovers(reg.root) == []


# concurrency --------------------------------------------------------------------------

# Each process registers a few times in a row, so the two are sure to overlap.
ATTEMPTS = 4

_REGISTER_SCRIPT = f"""
ATTEMPTS = {ATTEMPTS}
import sys, time
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from labkit import Registry

root, go, ready, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
X = pd.DataFrame({{"a": rng.normal(size=50), "b": rng.normal(size=50)}})
y = X["a"] + rng.normal(size=50) > 0
model = LogisticRegression().fit(X, y)
ready.touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.005)
registry = Registry(root)
for attempt in range(ATTEMPTS):
    print(registry.register(model, name="shared", X=X, y=y, notes=f"seed {{seed}}").version, flush=True)
"""


def test_two_processes_register_at_once(tmp_path):
    script = tmp_path / "register.py"
    script.write_text(_REGISTER_SCRIPT, encoding="utf-8")
    root, go = tmp_path / "registry", tmp_path / "go"
    readies = [tmp_path / f"ready-{seed}" for seed in (1, 2)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(go), str(ready), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, ready in zip((1, 2), readies)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for ready in readies):
            assert time.monotonic() < deadline, "the registering processes never got ready"
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [p.returncode for p in processes] == [0, 0], outputs
    everything = list(range(1, 2 * ATTEMPTS + 1))
    assert sorted(int(line) for out, _ in outputs for line in out.split()) == everything
    reg = Registry(root)
    versions = reg.versions("shared")
    assert [v.version for v in versions] == everything
    assert sorted(v.meta["notes"] for v in versions) == ["seed 1"] * ATTEMPTS + ["seed 2"] * ATTEMPTS
    for version in versions:
        assert sha256_of(version.directory / "model.skops") == version.sha256
        assert reg.load("shared", version=version.version) is not None
    history = reg.history("shared")
    assert history["event"].tolist() == ["register"] * 2 * ATTEMPTS
    assert history["version"].tolist() == everything
    assert leftovers(root) == []


# clock --------------------------------------------------------------------------------


def test_simulated_clock_gives_deterministic_times(tmp_path, data):
    X, y = data
    reg = Registry(tmp_path / "registry", clock=SimulatedClock(start="2013-01-01", step=timedelta(hours=1)))

    version = reg.register(make_model(X, y), name="weather", X=X, y=y)
    reg.promote("weather", version=1, alias="champion")

    assert version.meta["created_at"] == "2013-01-01T00:00:00+00:00"
    assert "- Registered: 2013-01-01T00:00:00+00:00" in version.card
    assert reg.history("weather")["time"].tolist() == ["2013-01-01T01:00:00+00:00", "2013-01-01T02:00:00+00:00"]


def test_a_version_keeps_its_training_frame_as_reference(reg, data):
    X, y = data
    version = reg.register(make_model(X, y), name="weather", X=X, y=y)

    pd.testing.assert_frame_equal(version.reference, X)
    assert version.meta["reference"]["rows"] == len(X)
    assert version.meta["reference"]["sha256"] == hashlib.sha256((version.directory / "reference.npz").read_bytes()).hexdigest()


def test_a_changed_reference_sample_is_refused(reg, data):
    X, y = data
    version = reg.register(make_model(X, y), name="weather", X=X, y=y)
    path = version.directory / "reference.npz"
    with np.load(path, allow_pickle=False) as archive:
        arrays = dict(archive)
    arrays["0"] = arrays["0"] + 10  # the wind column, moved: a reference that would hide drift
    np.savez(path, **arrays)

    with pytest.raises(IntegrityError, match=r"reference.npz to have sha256 [0-9a-f]{64} as registered; got"):
        version.reference
    path.unlink()
    with pytest.raises(IntegrityError, match="expected the reference sample .*reference.npz; got nothing there"):
        version.reference


def test_a_version_registered_without_a_reference_says_so(reg, data):
    X, y = data
    version = reg.register(make_model(X, y), name="weather", X=X, y=y)
    meta = json.loads((version.directory / "meta.json").read_text())
    del meta["reference"]
    (version.directory / "meta.json").write_text(json.dumps(meta))

    with pytest.raises(NotFoundError, match="registered before labkit kept one, so it has none; fix: register"):
        reg.get("weather", version=1).reference


def test_lineage_is_kept_with_the_version_and_shown_in_its_card(reg, data):
    X, y = data
    lineage = {"parent": 1, "trained_at": "2014-01-01T00:00:00+00:00", "rows": {"production": 3, "original": 0, "total": 3},
               "reason": "accuracy fell"}
    first = reg.register(make_model(X, y), name="weather", X=X, y=y)
    second = reg.register(make_model(X, y), name="weather", X=X, y=y, lineage=lineage)

    assert first.lineage is None
    assert reg.get("weather", version=2).lineage == lineage
    assert "Retrained from version 1." in second.card


def test_lineage_that_is_not_json_is_refused_before_anything_is_written(reg, data):
    X, y = data
    with pytest.raises(RegistryError, match="expected lineage to hold only JSON values"):
        reg.register(make_model(X, y), name="weather", X=X, y=y, lineage={"trained_at": pd.Timestamp("2014-01-01")})
    assert reg.models() == []
