"""Alert rules: K windows, hysteresis and cooldown turn a flapping measure into one alert per incident."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from labkit.monitoring.alerts import ALERT_COLUMNS, Rule, evaluate, post_alerts
from labkit.store import PredictionStore


def weeks(values, measure="accuracy") -> pd.DataFrame:
    return pd.DataFrame({"time": pd.date_range("2013-01-06", periods=len(values), freq="7D", tz="UTC"), measure: values})


# Accuracy wobbling around 0.6 for weeks 2-9, then clearly good, then a second, real drop.
FLAPPING = [0.72, 0.59, 0.61, 0.58, 0.62, 0.57, 0.61, 0.59, 0.60, 0.73, 0.74, 0.50, 0.49]


def test_a_naive_rule_fires_at_every_wobble():
    alerts = evaluate([Rule(name="low", measure="accuracy", below=0.6)], weeks(FLAPPING))

    assert len(alerts) == 5  # alert fatigue: five pages for what is one incident and a real second one
    assert list(alerts.columns) == ALERT_COLUMNS


def test_hysteresis_makes_one_incident_one_alert():
    rule = Rule(name="low", measure="accuracy", below=0.6, recover_at=0.7)

    alerts = evaluate([rule], weeks(FLAPPING))

    assert alerts["time"].dt.strftime("%Y-%m-%d").tolist() == ["2013-01-13", "2013-03-24"]
    assert alerts["value"].tolist() == [0.59, 0.50]
    assert alerts["message"].iloc[0] == "low: accuracy 0.59 is below 0.6"


def test_k_windows_in_a_row_are_needed_before_firing():
    rule = Rule(name="low", measure="accuracy", below=0.6, for_windows=2, recover_at=0.7)

    alerts = evaluate([rule], weeks(FLAPPING))

    # 0.59 then 0.61 breaks the run; the first two bad weeks in a row are the last two.
    assert alerts["time"].dt.strftime("%Y-%m-%d").tolist() == ["2013-03-31"]
    assert alerts["message"].iloc[0].endswith("for 2 windows")


def test_a_cooldown_keeps_quiet_after_an_incident():
    rule = Rule(name="slow", measure="latency_p95_ms", above=100.0, cooldown=timedelta(days=21))
    table = weeks([150, 90, 160, 95, 80, 170], measure="latency_p95_ms")

    alerts = evaluate([rule], table)

    # Fired in week 0; recovered in week 1; week 2 is inside the cooldown; week 5 is not.
    assert alerts["value"].tolist() == [150.0, 170.0]


def test_missing_measures_neither_fire_nor_end_an_incident():
    rule = Rule(name="low", measure="accuracy", below=0.6)
    alerts = evaluate([rule], weeks([0.5, float("nan"), 0.55, 0.7, float("nan"), 0.5]))
    assert alerts["value"].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "rule, message",
    [
        (Rule(name="x", measure="accuracy"), "expected a threshold as below= or above=, exactly one"),
        (Rule(name="x", measure="accuracy", below=0.6, above=0.9), "exactly one"),
        (Rule(name="x", measure="accuracy", below=0.6, recover_at=0.5), "expected recover_at at or above the threshold"),
        (Rule(name="x", measure="accuracy", below=0.6, for_windows=0), "expected for_windows to be a whole number"),
    ],
)
def test_a_rule_that_cannot_work_is_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        evaluate([rule], weeks(FLAPPING))


def test_a_measure_that_is_not_there_is_named():
    with pytest.raises(KeyError, match="expected a column 'f1' for rule 'x'"):
        evaluate([Rule(name="x", measure="f1", below=0.5)], weeks(FLAPPING))


def test_alerts_are_kept_once_in_the_store(tmp_path):
    alerts = evaluate([Rule(name="low", measure="accuracy", below=0.6, recover_at=0.7)], weeks(FLAPPING))
    store = PredictionStore(tmp_path / "monitor.db")

    assert store.add_alerts(alerts) == 2
    assert store.add_alerts(alerts) == 0  # the same period checked again pages no one twice
    kept = store.alerts()
    assert kept[ALERT_COLUMNS[1:]].equals(alerts[ALERT_COLUMNS[1:]])
    assert kept["time"].tolist() == alerts["time"].tolist()
    assert len(store.alerts(start="2013-02-01")) == 1


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alerts_are_posted_to_a_webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        alerts = evaluate([Rule(name="low", measure="accuracy", below=0.6, recover_at=0.7)], weeks(FLAPPING))
        status = post_alerts(f"http://127.0.0.1:{server.server_address[1]}/hook", alerts)
    finally:
        server.shutdown()
        server.server_close()

    assert status == 204
    [body] = server.received  # type: ignore[attr-defined]
    assert [a["message"] for a in body["alerts"]] == alerts["message"].tolist()
    assert body["alerts"][0]["time"] == "2013-01-13T00:00:00+00:00"
