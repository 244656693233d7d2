"""The course notebooks in JupyterLab, in a real browser: run, widgets rendered, the form answers.

A notebook can pass nbval and still show "Error displaying widget" to a student, so the
notebooks with widgets are opened in JupyterLab in Debian's chromium (the shared
``browser`` fixture skips, saying why, where chromium is missing), run as a student runs
them, and their widgets used by clicking.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import labkit as lk

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """JupyterLab on a copy of notebooks/ (autosave must not touch the checkout): its URL and folder."""
    root = tmp_path_factory.mktemp("lab")
    course = root / "notebooks"
    shutil.copytree(NOTEBOOKS, course, ignore=shutil.ignore_patterns("workspace", ".ipynb_checkpoints"))
    settings = root / "settings"
    # Every cell stays in the page (no virtual scrolling), and no news pop-up covers it.
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    port = _free_port()
    environment = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--IdentityProvider.token=", "--ServerApp.ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={course}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root otherwise; CI runs as root
    with open(root / "lab.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=course)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (root / "lab.log").read_text()
            try:
                if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start:\n" + (root / "lab.log").read_text()
            time.sleep(0.3)
        yield url, course
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _open(page: Any, url: str, notebook: str) -> None:
    page.goto(f"{url}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?reset")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
        timeout=120_000,
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=120_000,
    )


def _run_until_idle(page: Any, command: str, timeout_ms: int) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute('{command}')")
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
        " && ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('[*]'))",
        timeout=timeout_ms,
        polling=500,
    )


def _select_cell(page: Any, containing: str, *, exact: bool = False) -> None:
    """Make the first cell whose source holds ``containing`` (or is exactly it) the active one."""
    found = page.evaluate(
        """([text, exact]) => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            const index = notebook.widgets.findIndex(cell => {
                const source = cell.model.sharedModel.getSource();
                return exact ? source === text : source.includes(text);
            });
            if (index >= 0) { notebook.activeCellIndex = index; }
            return index;
        }""",
        [containing, exact],
    )
    assert found >= 0, f"no cell holds {containing!r}"


def _problems_shown(page: Any) -> list[str]:
    body = page.inner_text("#main")
    shown = [marker for marker in ("Error displaying widget", "Traceback") if marker in body]
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return shown + [text for text in errors if re.search(r"Error|Exception", text)]


def test_notebook_02_runs_and_its_form_answers_a_click(lab, page, artifacts):
    from playwright.sync_api import expect

    url, course = lab
    _open(page, url, "02_integration.ipynb")
    # Everything above the last cell (which stops the service), so the form still has a service.
    _select_cell(page, "dep.stop()\ndep")
    _run_until_idle(page, "notebook:run-all-above", timeout_ms=300_000)

    form = page.locator(".jupyter-widgets.widget-hbox").filter(has=page.get_by_role("button", name="Predict")).first
    expect(form).to_be_visible(timeout=30_000)
    form.locator(".widget-text:has(label:has-text('temp_max')) input").fill("21")
    form.locator(".widget-text:has(label:has-text('precipitation')) input").fill("12")
    form.locator(".widget-dropdown:has(label:has-text('weather')) select").select_option("rain")
    form.get_by_role("button", name="Predict").click()
    # The cell that drives the form from code left "under 1%" there; wait for a new answer.
    answer = form.locator(".widget-label").filter(has_text="rain tomorrow")
    expect(answer).not_to_have_text(re.compile("under 1%"), timeout=30_000)
    screenshot = artifacts / "notebook-02-form.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of notebook 02's form after Predict: {screenshot}")

    # The answer is the champion's, for the values the form holds after the clicks above.
    registry = lk.Registry(course / "workspace" / "02_integration" / "registry")
    model, meta = registry.load("weather", alias="champion"), registry.get("weather", alias="champion").meta
    record = {"precipitation": 12.0, "temp_max": 21.0, "weather": "rain"}
    values = {name: form.locator(f".widget-text:has(label:has-text('{name}')) input").input_value()
              for name in ("temp_min", "wind")}
    row = pd.DataFrame([{**record, **{name: float(value) for name, value in values.items()}}])[list(lk.data.FEATURES)]
    expected = lk.form.answer_text(
        meta["target"],
        {"prediction": model.predict(row)[0], **dict(zip((f"proba_{c}" for c in model.classes_), model.predict_proba(row)[0]))},
    )
    assert answer.inner_text().strip() == expected
    assert _problems_shown(page) == []

    # Then the rest, as a student would: the service stops, and nothing fails.
    _run_until_idle(page, "notebook:run-all-cells", timeout_ms=300_000)
    assert _problems_shown(page) == []
    assert page.locator(".jupyter-widgets").count() > 0


def test_notebook_01s_deploy_panel_renders(lab, page):
    url, _ = lab
    _open(page, url, "01_deployment.ipynb")
    _run_until_idle(page, "notebook:run-all-cells", timeout_ms=300_000)

    panel_buttons = [page.get_by_role("button", name=name) for name in ("Deploy", "Stop")]
    assert all(button.first.is_visible() for button in panel_buttons)
    assert _problems_shown(page) == []


def test_notebook_03s_dashboard_and_drift_lab_react_to_clicks(lab, page, artifacts):
    from playwright.sync_api import expect

    url, course = lab
    _open(page, url, "03_monitoring.ipynb")
    _select_cell(page, "dep.stop()\ndep")
    _run_until_idle(page, "notebook:run-all-above", timeout_ms=300_000)

    # The dashboard: a weekly window, then Refresh; its summary is the store's last week.
    dashboard = page.locator(".jupyter-widgets.widget-vbox").filter(has=page.get_by_role("button", name="Refresh")).first
    expect(dashboard).to_be_visible(timeout=30_000)
    dashboard.locator(".widget-dropdown:has(label:has-text('Window')) select").select_option("7D")
    dashboard.get_by_role("button", name="Refresh").click()
    store = lk.PredictionStore(course / "workspace" / "03_monitoring" / "monitor.db")
    weekly = lk.monitoring.performance_over_time(store.frame(), window="7D", metrics=["accuracy"]).dropna(subset=["value"])
    last = weekly.iloc[-1]
    expected = f"last window: accuracy {last['value']:.2f} on {int(last['n_labelled'])} labels"
    expect(dashboard.locator(".widget-label").filter(has_text="predictions")).to_contain_text(expected, timeout=30_000)
    image = dashboard.locator(".widget-image").first
    assert image.evaluate("img => img.naturalWidth") > 0

    # The drift lab: noise on wind; the table flags wind, as it was and with the drift.
    lab_widget = page.locator(".jupyter-widgets.widget-vbox").filter(has=page.get_by_role("button", name="Replay")).first
    lab_widget.locator(".widget-dropdown:has(label:has-text('Scenario')) select").select_option("noise")
    lab_widget.locator(".widget-dropdown:has(label:has-text('Feature')) select").select_option("wind")
    lab_widget.get_by_role("button", name="Replay").click()
    status = lab_widget.locator(".widget-html").filter(has_text="predictions")
    expect(status).to_contain_text("added to wind from 2014-07-01", timeout=60_000)
    expect(status).to_contain_text("1 of 5 features drifted from then on (0 without the injection)")
    wind_row = lab_widget.locator("tr").filter(has_text="wind")
    assert wind_row.locator("td").nth(3).inner_text().endswith("✱")
    assert not wind_row.locator("td").nth(2).inner_text().endswith("✱")
    screenshot = artifacts / "notebook-03-drift-lab.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of notebook 03 after the drift lab's replay: {screenshot}")
    assert _problems_shown(page) == []


def test_notebook_04s_maintenance_panel_answers_its_buttons(lab, page):
    from playwright.sync_api import expect

    url, course = lab
    _open(page, url, "04_maintenance.ipynb")
    _select_cell(page, "dep.stop()\ndep", exact=True)
    _run_until_idle(page, "notebook:run-all-above", timeout_ms=300_000)

    panel = page.locator(".jupyter-widgets.widget-vbox").filter(has=page.get_by_role("button", name="Rollback")).first
    expect(panel).to_be_visible(timeout=30_000)
    panel.get_by_role("button", name="Compare").click()
    # The challenger (version 2) against the champion (version 2, since its promotion): the summary names it.
    expect(panel.locator(".widget-html").filter(has_text="the challenger (version 2) has accuracy")).to_be_visible(timeout=60_000)
    panel.get_by_role("button", name="Rollback").click()
    expect(panel.locator(".widget-html").filter(has_text="rolled back: the champion is version 1 again")).to_be_visible(
        timeout=30_000)
    registry = lk.Registry(course / "workspace" / "04_maintenance" / "registry")
    assert registry.aliases("weather")["champion"] == 1
    assert "rolled back from the maintenance panel" in panel.inner_text()
    assert _problems_shown(page) == []
