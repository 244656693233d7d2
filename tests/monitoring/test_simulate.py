"""lk.simulate replays traffic on the simulated clock: the store keeps simulated times, labels follow."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError


@pytest.fixture
def logging_deployment(weather_registry, tmp_path):
    with lk.deploy(weather_registry, "weather", store=tmp_path / "monitor.db", max_rows=40) as dep:
        yield dep, lk.PredictionStore(tmp_path / "monitor.db")


def test_a_replay_stores_simulated_times_and_labels_after_their_delay(logging_deployment, weather_split, weather_model):
    dep, store = logging_deployment
    _, production = weather_split
    spring = production[production["date"].between("2013-03-01", "2013-05-31")]

    replay = lk.simulate(dep, spring, label_delay=timedelta(days=2), period="7D")

    frame = store.frame()
    assert len(frame) == len(spring) == len(replay.predictions)
    assert frame["event_time"].tolist() == spring["date"].dt.tz_localize("UTC").tolist()
    assert (frame["label_time"] - frame["event_time"] == pd.Timedelta(days=2)).all()
    assert frame["label"].tolist() == spring["rain_tomorrow"].tolist()
    assert frame["prediction"].tolist() == weather_model.predict(spring[list(lk.data.FEATURES)]).tolist()
    assert replay.labels_sent == len(spring)
    # What was known on 1 April: the labels due by then, and no later ones.
    known = frame[frame["label_time"] <= pd.Timestamp("2013-04-01", tz="UTC")]
    assert known["event_time"].max() == pd.Timestamp("2013-03-30", tz="UTC")


def test_a_replay_with_missing_labels_is_the_same_for_the_same_seed(weather_registry, weather_split, tmp_path):
    _, production = weather_split
    month = production[production["date"].between("2013-06-01", "2013-06-30")]
    sent = []
    for run in range(2):
        with lk.deploy(weather_registry, "weather", store=tmp_path / f"run{run}.db") as dep:
            lk.simulate(dep, month, label_fraction=0.6, seed=7)
        sent.append(lk.PredictionStore(tmp_path / f"run{run}.db").frame(labelled=True)["event_time"].tolist())

    assert sent[0] == sent[1]
    assert 0.4 * len(month) < len(sent[0]) < 0.8 * len(month)


def test_a_replay_needs_its_columns(logging_deployment, weather_split):
    dep, _ = logging_deployment
    _, production = weather_split
    with pytest.raises(DataError, match="expected an event-time column 'when'"):
        lk.simulate(dep, production.head(3), time_column="when")
    with pytest.raises(DataError, match="expected a label column 'truth'"):
        lk.simulate(dep, production.head(3), label_column="truth")


def test_a_replay_of_traffic_whose_index_repeats_sends_every_row_once(logging_deployment, weather_split):
    # Sampling with replacement, or concat, repeats index labels: each row is still one record.
    dep, store = logging_deployment
    train, _ = weather_split
    drawn = pd.concat([train.head(15), train.head(15)]).assign(date=pd.date_range("2013-01-01", periods=30))
    assert drawn.index.duplicated().any()

    replay = lk.simulate(dep, drawn, label_delay=timedelta(days=1), period="7D")

    frame = store.frame()
    assert len(frame) == len(replay.predictions) == 30
    assert frame["label"].tolist() == drawn["rain_tomorrow"].tolist()
    assert frame["wind"].tolist() == drawn["wind"].tolist()
