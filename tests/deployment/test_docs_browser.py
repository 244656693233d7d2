"""/docs works in a real browser, offline: every operation renders, and "Try it out" on /predict answers 200.

A page can answer 200 and still show nothing but "Unable to render this definition" (a
Swagger UI older than 5 does that with FastAPI's OpenAPI 3.1), so the page is opened in
Debian's chromium and read as a person would see it. The browser comes from the shared
``browser`` fixture in tests/conftest.py, which skips, saying why, where chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import labkit as lk

OPERATIONS = ["/health", "/model", "/predict", "/invocations"]


@pytest.fixture(scope="module")
def deployment(champion_registry: lk.Registry) -> Iterator[lk.Deployment]:
    with lk.deploy(champion_registry, "weather") as running:
        yield running


def test_docs_render_offline_and_try_it_out_predicts(deployment: lk.Deployment, page: Any, artifacts: Path):
    from playwright.sync_api import expect

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{deployment.url}/docs")
    operations = page.locator(".opblock")
    expect(operations).to_have_count(len(OPERATIONS), timeout=30_000)
    listed = page.locator(".opblock .opblock-summary-path").all_inner_texts()
    predict = operations.filter(has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/predict$")))
    predict.locator(".opblock-summary").click()
    predict.get_by_role("button", name="Try it out").click()
    # The body is the example the document builds from the served schema; Execute sends it as it is.
    predict.get_by_role("button", name="Execute").click()
    status = predict.locator(".live-responses-table tbody .response-col_status")
    expect(status).to_have_text(re.compile(r"\d{3}"), timeout=30_000)
    screenshot = artifacts / "docs-predict.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of /docs after Execute on /predict: {screenshot}")

    assert sorted(listed) == sorted(OPERATIONS)
    assert "Unable to render" not in page.inner_text("body")
    assert status.inner_text().strip() == "200"
    service = urlsplit(deployment.url)
    elsewhere = [url for url in requested if urlsplit(url)[:2] != (service.scheme, service.netloc)]
    assert elsewhere == [], "the page asked for something the service does not serve"
    assert f"{deployment.url}/predict" in requested  # Execute really went to the service
