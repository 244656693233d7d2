"""Tests for labkit.card: the Markdown model card written for every version."""

from __future__ import annotations

from typing import Any

from labkit.card import model_card


def make_meta(**changes: Any) -> dict[str, Any]:
    meta = {
        "name": "weather",
        "version": 3,
        "model_class": "sklearn.pipeline.Pipeline",
        "created_at": "2013-01-01T00:00:00+00:00",
        "notes": "retrained on 2013",
        "sha256": "ab" * 32,
        "metrics": {"accuracy": 0.812345, "log_loss": 0.4},
        "schema": {
            "columns": [
                {"name": "wind", "kind": "float", "dtype": "float64", "nullable": True, "categories": None},
                {"name": "weather", "kind": "string", "dtype": "str", "nullable": False, "categories": ["rain", "sun"]},
            ]
        },
        "target": {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]},
        "training_rows": 365,
        "environment": {"scikit-learn": "1.9.1", "python": "3.11.7"},
    }
    meta.update(changes)
    return meta


def section(card: str, heading: str) -> list[str]:
    """The non-empty lines under ``## heading``, up to the next heading."""
    lines = card.splitlines()
    start = lines.index(f"## {heading}") + 1
    body = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line:
            body.append(line)
    return body


def test_card_header_lists_model_time_rows_and_checksum():
    card = model_card(make_meta())

    assert card.splitlines()[:6] == [
        "# weather, version 3",
        "",
        "- Model: `sklearn.pipeline.Pipeline`",
        "- Registered: 2013-01-01T00:00:00+00:00",
        "- Trained on: 365 rows",
        f"- File checksum (sha256): `{'ab' * 32}`",
    ]
    assert card.endswith("\n")


def test_card_notes():
    assert section(model_card(make_meta()), "Notes") == ["retrained on 2013"]
    assert section(model_card(make_meta(notes="")), "Notes") == ["_None given._"]


def test_card_input_table():
    assert section(model_card(make_meta()), "Input") == [
        "| column | kind | missing values allowed | allowed values |",
        "|---|---|---|---|",
        "| wind | float | yes | any |",
        "| weather | string | no | rain, sun |",
    ]


def test_card_output_with_and_without_classes():
    assert section(model_card(make_meta()), "Output") == ["Predicts `rain_tomorrow` (boolean), one of [False, True]."]
    regression = make_meta(target={"name": "temp_max", "kind": "float", "classes": None})
    assert section(model_card(regression), "Output") == ["Predicts `temp_max` (float)."]
    assert section(model_card(make_meta(target=None)), "Output") == ["No target was given at registration."]


def test_card_metrics_table():
    assert section(model_card(make_meta()), "Metrics") == [
        "| metric | value |",
        "|---|---|",
        "| accuracy | 0.8123 |",
        "| log_loss | 0.4 |",
    ]
    assert section(model_card(make_meta(metrics={})), "Metrics") == ["_None recorded._"]


def test_card_environment():
    assert section(model_card(make_meta()), "Built with") == ["- scikit-learn 1.9.1", "- python 3.11.7"]


def test_card_sections_in_order():
    headings = [line for line in model_card(make_meta()).splitlines() if line.startswith("## ")]

    assert headings == ["## Notes", "## Input", "## Output", "## Metrics", "## Built with"]
