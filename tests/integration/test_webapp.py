"""labkit app: the prediction form served to end users with Voilà."""

from __future__ import annotations

import pytest

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
