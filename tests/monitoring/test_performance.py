"""Tests for labkit.monitoring.performance: windowed metrics with their labelled counts and bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

import labkit as lk
from labkit.errors import DataError
from labkit.monitoring.performance import performance_over_time


def _frame(days, predictions, labels, probabilities=None) -> pd.DataFrame:
    """Logged predictions as the store returns them: tz-aware times, labels with gaps."""
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(days))],
            "event_time": pd.to_datetime(days).tz_localize("UTC"),
            "prediction": predictions,
            "label": pd.Series(labels, dtype=object),
        }
    )
    if probabilities is not None:
        frame["proba_True"] = probabilities
        frame["proba_False"] = 1 - np.asarray(probabilities)
    return frame


def _values(table: pd.DataFrame, metric: str) -> list[float]:
    return table[table["metric"] == metric]["value"].tolist()


def test_windows_count_only_labelled_rows():
    # Window 1: 3 labelled rows, 2 right; 2 unlabelled rows that are wrong and must not count.
    # Window 2 (a week later): nothing labelled yet.
    frame = _frame(
        ["2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04", "2013-01-05", "2013-01-09"],
        [True, False, True, True, False, True],
        [True, False, False, None, "", None],
    )

    table = performance_over_time(frame, window="7D", metrics=["accuracy"])

    assert table["start"].tolist() == [pd.Timestamp("2013-01-01", tz="UTC"), pd.Timestamp("2013-01-08", tz="UTC")]
    assert table["end"].tolist() == [pd.Timestamp("2013-01-08", tz="UTC"), pd.Timestamp("2013-01-15", tz="UTC")]
    assert table["n_labelled"].tolist() == [3, 0]
    assert table["value"].iloc[0] == pytest.approx(2 / 3)
    assert table.iloc[1][["value", "std_error", "lower", "upper"]].isna().all()


def test_an_empty_week_shows_as_a_window_with_no_labels():
    frame = _frame(["2013-01-01", "2013-01-20"], [True, True], [True, True])

    table = performance_over_time(frame, window="7D", metrics=["accuracy"])

    assert table["n_labelled"].tolist() == [1, 0, 1]
    assert np.isnan(table["value"].iloc[1])


def test_every_n_predictions_makes_count_windows():
    days = pd.date_range("2013-01-01", periods=7, freq="D").strftime("%Y-%m-%d").tolist()
    frame = _frame(days, [True] * 7, [True, True, False, None, True, True, True])

    table = performance_over_time(frame, window=3, metrics=["accuracy"])

    assert table["n_labelled"].tolist() == [3, 2, 1]
    assert _values(table, "accuracy") == pytest.approx([2 / 3, 1.0, 1.0])
    # A count window runs from its first row's time to its last row's.
    assert table["start"].iloc[1] == pd.Timestamp("2013-01-04", tz="UTC")
    assert table["end"].iloc[1] == pd.Timestamp("2013-01-06", tz="UTC")


def test_classification_values_are_scikit_learns():
    rng = np.random.default_rng(0)
    n = 80
    truth = rng.random(n) < 0.4
    probability = np.clip(truth * 0.3 + rng.random(n) * 0.7, 0.01, 0.99)
    prediction = probability > 0.5
    frame = _frame(pd.date_range("2013-01-01", periods=n, freq="h").astype(str), prediction, truth, probability)
    frame["event_time"] = pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC")

    table = performance_over_time(frame, window="30D").set_index("metric")

    expected = {
        "accuracy": skm.accuracy_score(truth, prediction),
        "precision": skm.precision_score(truth, prediction),
        "recall": skm.recall_score(truth, prediction),
        "f1": skm.f1_score(truth, prediction),
        "roc_auc": skm.roc_auc_score(truth, probability),
        "log_loss": skm.log_loss(truth, probability),
    }
    for metric, value in expected.items():
        assert table.loc[metric, "value"] == pytest.approx(value), metric
        assert table.loc[metric, "lower"] <= value <= table.loc[metric, "upper"], metric
        assert table.loc[metric, "std_error"] > 0, metric
    assert (table["n_labelled"] == n).all()


def test_accuracy_band_is_the_wilson_interval_and_stays_open_when_all_are_right():
    frame = _frame(["2013-01-01", "2013-01-02", "2013-01-03"], [True, False, True], [True, False, True])

    row = performance_over_time(frame, window="7D", metrics=["accuracy"]).iloc[0]

    wilson = stats.binomtest(3, 3).proportion_ci(confidence_level=0.95, method="wilson")
    assert row["value"] == 1.0
    assert row["lower"] == pytest.approx(wilson.low)
    assert row["upper"] == pytest.approx(1.0)
    assert row["lower"] < 0.5  # three right answers are weak evidence, and the band says so


def test_precision_and_recall_count_their_own_denominators():
    # 4 labelled: predicted positive 3 (2 right), actual positive 2 (2 found).
    frame = _frame(
        ["2013-01-01"] * 4, [True, True, True, False], [True, True, False, False]
    )

    table = performance_over_time(frame, window="7D", metrics=["precision", "recall"]).set_index("metric")

    precision_ci = stats.binomtest(2, 3).proportion_ci(method="wilson")
    assert table.loc["precision", "value"] == pytest.approx(2 / 3)
    assert table.loc["precision", "std_error"] == pytest.approx(np.sqrt(2 / 3 * 1 / 3 / 3))
    assert table.loc["precision", "lower"] == pytest.approx(precision_ci.low)
    assert table.loc["recall", "value"] == 1.0
    assert table.loc["recall", "lower"] == pytest.approx(stats.binomtest(2, 2).proportion_ci(method="wilson").low)


def test_undefined_metrics_are_nan_not_zero():
    # Only one class among the labels: ROC AUC is undefined. No positive prediction: precision too.
    frame = _frame(["2013-01-01", "2013-01-02"], [False, False], [True, True], [0.3, 0.4])

    table = performance_over_time(frame, window="7D", metrics=["roc_auc", "precision", "recall"]).set_index("metric")

    assert np.isnan(table.loc["roc_auc", "value"])
    assert np.isnan(table.loc["precision", "value"])
    assert table.loc["recall", "value"] == 0.0
    assert (table["n_labelled"] == 2).all()


def test_smaller_windows_get_wider_bands():
    rng = np.random.default_rng(1)
    n = 400
    truth = rng.random(n) < 0.5
    prediction = np.where(rng.random(n) < 0.8, truth, ~truth)
    frame = _frame(["2013-01-01"] * n, prediction, truth)
    frame["event_time"] = pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC")

    small = performance_over_time(frame, window=20, metrics=["accuracy", "f1"])
    large = performance_over_time(frame, window=400, metrics=["accuracy", "f1"])

    for metric in ("accuracy", "f1"):
        small_width = (small["upper"] - small["lower"])[small["metric"] == metric].mean()
        large_width = (large["upper"] - large["lower"])[large["metric"] == metric].mean()
        assert small_width > 2 * large_width, metric


def test_regression_values_and_standard_errors():
    truth = np.array([10.0, 12.0, 9.0, 15.0, 11.0])
    predicted = np.array([11.0, 12.5, 7.0, 14.0, 11.0])
    frame = _frame(["2013-01-01"] * 5, predicted, truth)

    table = performance_over_time(frame, task="regression", window="7D").set_index("metric")

    errors = truth - predicted
    assert table.loc["mae", "value"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert table.loc["mae", "std_error"] == pytest.approx(np.abs(errors).std(ddof=1) / np.sqrt(5))
    rmse = skm.root_mean_squared_error(truth, predicted)
    assert table.loc["rmse", "value"] == pytest.approx(rmse)
    assert table.loc["rmse", "std_error"] == pytest.approx((errors**2).std(ddof=1) / np.sqrt(5) / (2 * rmse))
    assert table.loc["r2", "value"] == pytest.approx(skm.r2_score(truth, predicted))
    assert table.loc["r2", "std_error"] > 0
    assert table.loc["mae", "lower"] >= 0  # an MAE band never goes below 0
    assert table.loc["r2", "upper"] <= 1


def test_bootstrap_bands_repeat_with_the_seed():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=30)
    frame = _frame(["2013-01-01"] * 30, truth + rng.normal(size=30), truth)

    first = performance_over_time(frame, task="regression", metrics=["r2"], seed=3)
    again = performance_over_time(frame, task="regression", metrics=["r2"], seed=3)
    other = performance_over_time(frame, task="regression", metrics=["r2"], seed=4)

    pd.testing.assert_frame_equal(first, again)
    assert first["std_error"].iloc[0] != other["std_error"].iloc[0]


def test_one_labelled_row_has_a_value_but_no_band():
    frame = _frame(["2013-01-01"], [11.0], [10.0])

    row = performance_over_time(frame, task="regression", metrics=["mae"]).iloc[0]

    assert row["value"] == 1.0
    assert np.isnan(row["lower"]) and np.isnan(row["upper"])


def test_the_running_example_by_month(weather_split, weather_model):
    _, test = weather_split
    features = test[list(lk.data.FEATURES)]
    frame = pd.DataFrame(
        {
            "event_time": test["date"].dt.tz_localize("UTC"),
            "prediction": weather_model.predict(features),
            "proba_True": weather_model.predict_proba(features)[:, 1],
            "label": test["rain_tomorrow"].astype(object),
        }
    )
    frame.loc[frame.index[-20:], "label"] = None  # the last labels have not arrived

    table = performance_over_time(frame, window="30D", metrics=["accuracy"])

    first = frame[frame["event_time"] < pd.Timestamp("2013-01-31", tz="UTC")]
    assert table["value"].iloc[0] == pytest.approx(skm.accuracy_score(first["label"].astype(bool), first["prediction"]))
    assert table["n_labelled"].sum() == len(frame) - 20


def test_missing_column_is_named():
    frame = _frame(["2013-01-01"], [True], [True]).drop(columns="label")

    with pytest.raises(DataError, match=r"missing \['label'\].*fix: add them"):
        performance_over_time(frame, metrics=["accuracy"])


def test_a_probability_metric_needs_its_probability_column():
    frame = _frame(["2013-01-01"], [True], [True])

    with pytest.raises(DataError, match=r"missing \['proba_True'\]"):
        performance_over_time(frame, metrics=["roc_auc"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking"}, r"expected task to be 'classification' or 'regression'; got 'ranking'"),
        ({"metrics": ["mae"]}, r"expected metrics for classification among .*got \['mae'\]"),
        ({"window": 0}, r"expected window to be a positive number of rows; got 0"),
        ({"window": "fortnight"}, r"expected window to be a pandas offset .*got 'fortnight'"),
        ({"confidence": 95}, r"expected confidence between 0 and 1; got 95"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, message):
    frame = _frame(["2013-01-01"], [True], [True], [0.9])

    with pytest.raises(DataError, match=message):
        performance_over_time(frame, **kwargs)


def test_times_must_be_datetimes():
    frame = _frame(["2013-01-01"], [True], [True])
    frame["event_time"] = "2013-01-01"

    with pytest.raises(DataError, match=r"expected frame\['event_time'\] to hold datetimes; got dtype"):
        performance_over_time(frame, metrics=["accuracy"])



def test_late_labels_in_one_window_leave_the_next_windows_band_alone():
    rng = np.random.default_rng(5)
    n = 60
    truth = rng.random(n) < 0.5
    frame = _frame(["2013-01-01"] * n, np.where(rng.random(n) < 0.8, truth, ~truth), truth)
    frame["event_time"] = pd.date_range("2013-01-01", periods=n, freq="D", tz="UTC")
    fewer = frame.copy()
    fewer.loc[:9, "label"] = None  # the first month's labels are still arriving

    now = performance_over_time(fewer, window="30D", metrics=["f1"])
    later = performance_over_time(frame, window="30D", metrics=["f1"])

    assert now["n_labelled"].iloc[0] != later["n_labelled"].iloc[0]
    assert now["std_error"].iloc[1] == later["std_error"].iloc[1]


def test_an_empty_store_gives_an_empty_table():
    # What PredictionStore.frame() returns before the first prediction: no proba_ columns yet.
    empty = pd.DataFrame(
        columns=["request_id", "event_time", "arrival_time", "model_name", "model_version", "prediction",
                 "latency_ms", "label", "label_time"]
    )

    table = performance_over_time(empty)

    assert table.empty
    assert list(table.columns) == ["start", "end", "metric", "value", "n_labelled", "std_error", "lower", "upper"]
