"""labkit app: the prediction form served to end users with Voilà."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest

import labkit as lk
from labkit.cli import main
from labkit.integration.webapp import serve_app


def test_an_unreachable_service_is_said_in_the_terminal_not_in_the_page(capsys):
    status = main(["app", "--url", "http://127.0.0.1:9", "--port", "0"])

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("labkit app: cannot reach the model service at http://127.0.0.1:9")
    assert "Traceback" not in err


def test_an_unknown_model_is_refused_before_anything_starts(weather_registry, capsys):
    status = main(["app", "--registry", str(weather_registry.root), "--model", "nope"])

    assert status == 1
    assert "expected a registered model name ('weather'); got 'nope'" in capsys.readouterr().err


def test_a_registry_needs_a_model_name(weather_registry, capsys):
    assert main(["app", "--registry", str(weather_registry.root)]) == 2
    assert "expected --model NAME with --registry" in capsys.readouterr().err


def test_url_and_registry_exclude_each_other(weather_registry, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["app", "--url", "http://127.0.0.1:9", "--registry", str(weather_registry.root), "--model", "weather"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match="expected either url= .* or registry= and name="):
        serve_app()


# In a real browser ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(champion_registry) -> Iterator[str]:
    """`labkit app` deploying the champion and serving the form, as a user would start it."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "app", "--registry", str(champion_registry.root), "--model", "weather",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        # Wait for the port, not for a page: every GET of the page starts a kernel and runs
        # the notebook, so polling it would start one kernel per poll.
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"labkit app did not listen on {url}"
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C, as a user stops it
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_app_answers_a_filled_in_form_in_a_browser(app, page, artifacts, champion_registry, weather_model):
    from playwright.sync_api import expect

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(app)
    predict = page.get_by_role("button", name="Predict")
    expect(predict).to_be_visible(timeout=90_000)  # Voilà runs the notebook before it shows the form

    page.locator(".widget-text:has(label:has-text('temp_max')) input").fill("45")
    page.locator(".widget-dropdown:has(label:has-text('weather')) select").select_option("sun")
    predict.click()
    answer = page.locator(".widget-label").filter(has_text="rain tomorrow")
    expect(answer).to_be_visible(timeout=30_000)
    screenshot = artifacts / "app-predict.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of labkit app after Predict: {screenshot}")

    # The answer is the model's, for the record the form sent: its start values with our two changes.
    info = {"schema": champion_registry.get("weather").meta["schema"], "profile": champion_registry.get("weather").profile}
    record = lk.form.record_from_values(info, {**lk.form.start_values(info), "temp_max": 45.0, "weather": "sun"})
    row = pd.DataFrame([record])
    expected = lk.form.answer_text(
        champion_registry.get("weather").meta["target"],
        {"prediction": weather_model.predict(row)[0], **{f"proba_{c}": p for c, p in zip(weather_model.classes_, weather_model.predict_proba(row)[0])}},
    )
    assert answer.inner_text().strip() == expected
    assert "never seen" in page.inner_text("body")  # 45 °C is outside 2012: a warning, not a refusal
    assert "Error displaying widget" not in page.inner_text("body")
    assert "Traceback" not in page.inner_text("body")
    # Voilà's template links Font Awesome from a CDN; the page works without it (offline here),
    # and it is the only thing asked of another host.
    elsewhere = {urlsplit(url).netloc for url in requested} - {urlsplit(app).netloc}
    assert elsewhere <= {"cdn.jsdelivr.net"}
    assert all("fontawesome" in url for url in requested if urlsplit(url).netloc == "cdn.jsdelivr.net")


def test_a_taken_port_is_said_before_anything_starts(weather_registry, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["app", "--registry", str(weather_registry.root), "--model", "weather", "--port", str(port)])

    assert status == 1
    out, err = capsys.readouterr()
    assert f"labkit app: expected to serve the page on 127.0.0.1:{port}" in err and "fix: pass another --port" in err
    assert "on http://" not in out  # nothing announced, nothing deployed
