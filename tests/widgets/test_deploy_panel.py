"""The deploy panel, driven without a browser: set .value, call .click()."""

from __future__ import annotations

import httpx

from labkit.widgets import DeployPanel


def test_deploy_and_stop_buttons_drive_a_real_deployment(weather_registry, weather_model, weather_split):
    train, _ = weather_split
    weather_registry.register(weather_model, name="weather", X=train[list(weather_model.feature_names_in_)])
    panel = DeployPanel(registry=weather_registry, name="weather")
    assert panel.version.options == (("version 1 (champion)", 1), ("version 2", 2))
    assert panel.stop_button.disabled

    panel.version.value = 2
    panel.deploy_button.click()
    try:
        assert panel.status.value == "running version 2"
        url = panel.deployment.url
        assert url in panel.url.value
        assert httpx.get(f"{url}/model").json()["version"] == 2
        assert not panel.stop_button.disabled
    finally:
        panel.stop_button.click()
    assert panel.status.value == "stopped"
    assert panel.deployment is None and panel.url.value == ""
    assert panel.stop_button.disabled


def test_redeploying_replaces_the_running_version(weather_registry, weather_model, weather_split):
    train, _ = weather_split
    weather_registry.register(weather_model, name="weather", X=train[list(weather_model.feature_names_in_)])
    panel = DeployPanel(registry=weather_registry, name="weather")
    panel.deploy_button.click()
    first = panel.deployment
    panel.version.value = 2
    panel.deploy_button.click()
    try:
        assert not first.running
        assert panel.status.value == "running version 2"
    finally:
        panel.stop_button.click()


def test_a_failed_deploy_is_shown_not_raised(weather_registry):
    panel = DeployPanel(registry=weather_registry, name="weather", deploy_options={"port": -1, "timeout": 30})
    panel.deploy_button.click()
    assert panel.status.value.startswith("failed: ")
    assert panel.deployment is None
    assert not panel.deploy_button.disabled


def test_refresh_lists_new_versions_and_aliases(weather_registry, weather_model, weather_split):
    train, _ = weather_split
    panel = DeployPanel(registry=weather_registry, name="weather")
    weather_registry.register(weather_model, name="weather", X=train[list(weather_model.feature_names_in_)])
    weather_registry.promote("weather", version=2, alias="challenger")
    panel.refresh()
    assert panel.version.options == (("version 1 (champion)", 1), ("version 2 (challenger)", 2))
