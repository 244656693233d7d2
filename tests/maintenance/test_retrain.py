"""Tests for labkit.maintenance.retrain: a fresh copy of the champion, fitted on what was known, never on the future."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.maintenance import Decision, retrain, training_rows

NOW = pd.Timestamp("2013-03-01", tz="UTC")


@pytest.fixture()
def planted(log, store):
    """Rows a retrain at NOW with window='30D', holdout='7D' may use, and rows it must not.

    Each group has its own wind values, so the version's reference sample (every training
    row) shows exactly which rows it learned from.
    """
    groups = {
        "usable": (pd.date_range("2013-01-31", "2013-02-21", freq="D"), NOW),  # labelled by NOW
        "too old": (pd.date_range("2013-01-19", "2013-01-29", freq="D"), NOW),  # before NOW - 30 days
        "held out": (pd.date_range("2013-02-22", "2013-02-28", freq="D"), NOW),
        "label after now": (pd.date_range("2013-02-10", "2013-02-12", freq="D") + pd.Timedelta(hours=12),
                            NOW + pd.Timedelta(seconds=1)),
        "event after now": (pd.date_range("2013-03-01", "2013-03-05", freq="D"), NOW),  # a replay's future
        "unlabelled": (pd.date_range("2013-02-01", "2013-02-03", freq="D") + pd.Timedelta(hours=6), None),
    }
    ids = {}
    for number, (group, (days, label_at)) in enumerate(groups.items()):
        wind = 100 * number + np.arange(len(days), dtype=float)
        labels = (np.arange(len(days)) % 2 == 0) if label_at is not None else None
        ids[group] = log(store, days=days, wind=wind, labels=labels, label_at=label_at, prefix=f"{group}-")
    return ids


def test_training_rows_are_exactly_the_known_ones(store, planted):
    rows = training_rows(store, now=NOW, window="30D", holdout="7D")

    assert rows["request_id"].tolist() == planted["usable"]


def test_retrain_learns_from_those_rows_only(wind_registry, store, planted):
    version = retrain(wind_registry, "wind", store=store, now=NOW, window="30D", holdout="7D")

    assert sorted(version.reference["wind"]) == list(np.arange(22.0))  # the usable group's winds, 0 to 21
    assert version.lineage["rows"] == {"production": 22, "original": 0, "total": 22}
    assert version.lineage["request_ids_sha256"] == hashlib.sha256("\n".join(sorted(planted["usable"])).encode()).hexdigest()


def test_expanding_window_takes_everything_since(wind_registry, store, planted):
    version = retrain(wind_registry, "wind", store=store, now=NOW, since="2013-01-01", holdout="7D")

    assert version.lineage["rows"]["production"] == 22 + 11  # the usable rows and the older ones
    assert version.lineage["window"] == {"kind": "expanding", "span": None, "start": "2013-01-01T00:00:00+00:00",
                                         "end": "2013-03-01T00:00:00+00:00"}


def test_holdout_as_a_pair_of_times(store, planted):
    rows = training_rows(store, now=NOW, window="30D", holdout=("2013-01-31", "2013-02-10"))

    assert len(rows) == 22 - 10 + 7  # ten usable days held out, the last week back in


def test_original_training_data_is_mixed_in(wind_registry, store, planted):
    original = pd.DataFrame({"wind": [-1.0, -2.0, 50.5]}), pd.Series([False, False, True])

    version = retrain(wind_registry, "wind", store=store, now=NOW, window="30D", holdout="7D", original=original)

    assert version.lineage["rows"] == {"production": 22, "original": 3, "total": 25}
    assert sorted(version.reference["wind"])[:2] == [-2.0, -1.0] and 50.5 in set(version.reference["wind"])


def test_a_fresh_clone_of_the_champion_registered_as_challenger(wind_registry, store, planted):
    champion = wind_registry.load("wind", alias="champion")

    version = retrain(wind_registry, "wind", store=store, now=NOW, window="30D", holdout="7D", reason="February changed")
    fresh = wind_registry.load("wind", version=version.version)

    assert fresh is not champion and fresh.get_params() == champion.get_params()
    assert not np.allclose(fresh.coef_, champion.coef_)
    assert wind_registry.aliases("wind") == {"champion": 1, "challenger": 2}
    assert wind_registry.history("wind")["reason"].iloc[-1] == "retrained from version 1: February changed"
    assert version.meta["target"]["name"] == "rain"  # named as the parent's target, not "label"


def test_lineage_records_the_trigger_and_shows_in_the_card(wind_registry, store, planted):
    decision = Decision(retrain=True, reason="retrain: accuracy fell", policy="PerformancePolicy(accuracy low)",
                        now=NOW, incident="accuracy low since 2013-02-01T00:00:00+00:00")

    version = retrain(wind_registry, "wind", store=store, now=NOW, window="30D", holdout="7D", decision=decision)

    assert version.lineage["parent"] == 1
    assert version.lineage["trained_at"] == "2013-03-01T00:00:00+00:00"
    assert version.lineage["holdout"] == ["2013-02-22T00:00:00+00:00", "2013-03-01T00:00:00+00:00"]
    assert version.lineage["trigger"] == decision.trigger()
    assert version.lineage["reason"] == "retrain: accuracy fell"
    assert "- Why: retrain: accuracy fell" in version.card
    assert "- Rows: 22 from production and 0 from the original training data, 22 in all." in version.card


def test_retrain_the_weather_pipeline_on_2013(weather_registry, weather_store, weather_split):
    train, _ = weather_split
    original = train[list(lk.data.FEATURES)], train["rain_tomorrow"]

    version = retrain(weather_registry, "weather", store=weather_store, now="2013-12-01", window="180D",
                      holdout="30D", original=original)

    assert version.lineage["rows"] == {"production": 150, "original": 366, "total": 516}
    assert version.meta["target"]["name"] == "rain_tomorrow"
    assert list(version.schema.names) == list(lk.data.FEATURES)


def test_errors_say_what_to_do(wind_registry, store, planted):
    with pytest.raises(DataError, match="expected window= .* or since= .*, exactly one; got window='30D', since='2013-01-01'"):
        retrain(wind_registry, "wind", store=store, now=NOW, window="30D", since="2013-01-01")
    with pytest.raises(DataError, match="expected labelled rows of model 'wind' with events from 2012-11-01"):
        retrain(wind_registry, "wind", store=store, now="2012-12-01", window="30D")
    with pytest.raises(DataError, match="expected the holdout to end after it starts"):
        training_rows(store, now=NOW, window="30D", holdout=("2013-02-10", "2013-02-01"))
    with pytest.raises(DataError, match="expected since= before now"):
        training_rows(store, now=NOW, since="2013-04-01")
    with pytest.raises(DataError, match="expected the original X to hold the model's input columns"):
        retrain(wind_registry, "wind", store=store, now=NOW, window="30D", original=(pd.DataFrame({"gust": [1.0]}), [True]))
    with pytest.raises(DataError, match="expected decision to be a Decision"):
        retrain(wind_registry, "wind", store=store, now=NOW, window="30D", decision="retrain please")


def test_rows_without_the_parents_columns_are_refused(wind_registry, store):
    store.log([{"request_id": "x", "event_time": "2013-02-01", "model_name": "wind", "model_version": 1,
                "inputs": {"gust": 3.0}, "prediction": True, "probabilities": None, "latency_ms": 1.0}])
    store.add_labels(["x"], [True], at="2013-02-02")

    with pytest.raises(DataError, match=r"expected the logged inputs to hold the columns version 1 learned from, \['wind'\]; got \['gust'\]"):
        retrain(wind_registry, "wind", store=store, now=NOW, window="30D")
