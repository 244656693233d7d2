"""Tests for labkit.card: the Markdown model card written for every version."""

from __future__ import annotations

from typing import Any

import pandas as pd

from labkit.card import card_html, model_card, user_card
from labkit.profile import training_profile


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


# user_card -------------------------------------------------------------------------------


def user_meta(**changes: Any) -> dict[str, Any]:
    """A version's metadata with a training profile, as the registry writes it."""
    X = pd.DataFrame({
        "wind": [1.0, 2.0, 3.0, 4.0, None, 9.5] * 10,
        "weather": ["rain", "rain", "sun", "rain", "sun", "rain"] * 10,
    })
    defaults = {"metrics": {"accuracy_2013": 0.6183, "baseline_accuracy_2013": 0.55}, "training_rows": 60}
    return make_meta(profile=training_profile(X), **{**defaults, **changes})


def test_user_card_sections_in_order():
    card = user_card(user_meta())
    headings = [line for line in card.splitlines() if line.startswith("#")]

    assert headings == [
        "# weather: a guide for its users",
        "## What it is for",
        "## What it needs",
        "## How often it was right",
        "## When not to trust it",
    ]
    assert card.endswith("\n")


def test_user_card_says_what_the_model_is_for():
    assert section(user_card(user_meta()), "What it is for") == [
        "It tells you how likely **rain tomorrow** is, from the inputs below, as a percentage.",
        "Its makers' note: retrained on 2013",
    ]
    sky = user_meta(target={"name": "sky", "kind": "object", "classes": ["dry", "wet"]}, notes="")
    assert section(user_card(sky), "What it is for") == [
        "It picks the most likely **sky** (dry or wet) from the inputs below, and says how sure it is, as a percentage."
    ]
    regression = user_meta(target={"name": "temp_max_tomorrow", "kind": "float", "classes": None}, notes="")
    assert section(user_card(regression), "What it is for") == ["It estimates **temp max tomorrow** from the inputs below."]
    assert section(user_card(user_meta(target=None, notes="")), "What it is for")[0].startswith(
        "It makes a prediction from the inputs below. What it predicts was not recorded"
    )


def test_user_card_gives_each_input_with_the_range_seen_in_training():
    assert section(user_card(user_meta()), "What it needs") == [
        "- **wind**: a number. In training it went from 1 to 9.5, and 9 times in 10 from 1 to 9.5. It may be left empty.",
        "- **weather**: one of rain or sun. In training it was most often rain.",
    ]


def test_user_card_describes_every_kind_of_input():
    X = pd.DataFrame({
        "month": [1, 12, 6], "windy": [False, False, False],
        "day": pd.to_datetime(["2012-01-01", "2012-06-01", "2012-12-31"]),
        "weather": pd.Categorical(["sun", "sun", "rain"], categories=["rain", "snow", "sun"]),
        "station": ["a", "b", "c"],
    })
    columns = [
        {"name": "month", "kind": "integer", "dtype": "int64", "nullable": False, "categories": None},
        {"name": "windy", "kind": "boolean", "dtype": "bool", "nullable": False, "categories": None},
        {"name": "day", "kind": "datetime", "dtype": "datetime64[ns]", "nullable": False, "categories": None},
        {"name": "weather", "kind": "string", "dtype": "category", "nullable": False,
         "categories": ["rain", "snow", "sun"]},
        {"name": "station", "kind": "string", "dtype": "str", "nullable": False, "categories": None},
    ]
    card = user_card(make_meta(schema={"columns": columns}, profile=training_profile(X)))

    assert section(card, "What it needs") == [
        "- **month**: a whole number. In training it went from 1 to 12, and 9 times in 10 from 1.5 to 11.4.",
        "- **windy**: yes or no. In training it was always no.",
        "- **day**: a date, such as 2014-03-01. In training from 2012-01-01T00:00:00 to 2012-12-31T00:00:00.",
        "- **weather**: one of rain, snow or sun. In training it was most often sun. It never saw snow in training.",
        "- **station**: any text.",
    ]


def test_user_card_without_a_profile_says_the_ranges_are_unknown():
    card = user_card(make_meta())

    assert section(card, "What it needs") == [
        "- **wind**: a number. The range seen in training was not recorded for this version. It may be left empty.",
        "- **weather**: one of rain or sun.",
    ]
    assert section(card, "When not to trust it")[0] == (
        "- The values it saw in training were not recorded for this version, so nobody can tell you when "
        "an input is unusual for it: be most careful with extreme values."
    )


def test_user_card_says_how_often_the_model_was_right_in_words():
    assert section(user_card(user_meta()), "How often it was right") == [
        "- When checked on 2013, it was right about 62 times in 100.",
        "- When checked on 2013, always giving the most common answer would have been right about 55 times in 100: "
        "the model is worth asking only where it does better.",
    ]
    plain = user_meta(metrics={"accuracy": 0.8, "mae_last_year": 2.345, "roc_auc": 0.7, "accuracy_pct": 81.0})
    assert section(user_card(plain), "How often it was right") == [
        "- When checked, it was right about 80 times in 100.",
        "- When checked on last year, its estimates were off by about 2.35 on average.",
        "- Its makers also recorded measures for specialists (roc_auc, accuracy_pct); the technical model card lists them.",
    ]
    assert section(user_card(user_meta(metrics={})), "How often it was right") == [
        "- This was not recorded for this version: ask its makers before relying on its answers."
    ]


def test_user_card_says_when_not_to_trust_the_model():
    assert section(user_card(user_meta()), "When not to trust it") == [
        "- When an input lies outside the range it saw in training (given above for each input): "
        "it was never shown such a case, and its answer there is a guess.",
        "- When the real **weather** is none of rain or sun: those are all it knows, "
        "and choosing the nearest one makes its answer a guess.",
        "- When conditions are unlike those it learned from. It learned from 60 examples gathered before 2013-01-01; "
        "if things have changed since (another season or place, a new way of measuring), "
        "its answers can be wrong without any warning.",
    ]


def test_user_card_copes_with_what_an_older_service_answers():
    info = {key: make_meta()[key] for key in ("name", "version", "model_class", "schema", "target", "metrics")}

    card = user_card(info)

    assert "The range seen in training was not recorded" in card
    assert "It learned from examples; if things have changed" in card


# card_html -------------------------------------------------------------------------------


def test_card_html_renders_headings_lists_and_paragraphs():
    markdown = "# Title\n\n## Part\n\nSome **bold** text\nwith `code`.\n\n- one\n- two\nafter\n"

    assert card_html(markdown).splitlines() == [
        "<h3>Title</h3>",
        "<h4>Part</h4>",
        "<p>Some <b>bold</b> text with <code>code</code>.</p>",
        "<ul>", "<li>one</li>", "<li>two</li>", "</ul>",
        "<p>after</p>",
    ]


def test_card_html_shows_names_as_text_never_as_html():
    columns = [{"name": "<img src=x onerror=alert(1)>", "kind": "string", "dtype": "str", "nullable": False,
                "categories": ["<script>alert(1)</script>", "sun"]}]
    html = card_html(user_card(make_meta(name="<b>weather</b>", schema={"columns": columns})))

    assert "<script>" not in html and "<img" not in html and "<b>weather</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<li><b>&lt;img src=x onerror=alert(1)&gt;</b>: one of" in html


def test_card_html_of_a_whole_user_card_leaves_no_markdown():
    html = card_html(user_card(user_meta()))

    assert "**" not in html and "\n- " not in html and "##" not in html
    assert html.count("<h4>") == 4


def test_card_lineage_says_parent_data_rows_and_why():
    lineage = {
        "parent": 1, "trained_at": "2014-01-01T00:00:00+00:00",
        "window": {"kind": "sliding", "span": "90 days", "start": "2013-10-03T00:00:00+00:00",
                   "end": "2014-01-01T00:00:00+00:00"},
        "holdout": ["2013-12-01T00:00:00+00:00", "2014-01-01T00:00:00+00:00"],
        "rows": {"production": 60, "original": 366, "total": 426},
        "reason": "accuracy low: accuracy 0.55 is below 0.6",
    }
    lines = section(model_card(make_meta(lineage=lineage)), "Lineage")

    assert lines == [
        "- Retrained from version 1.",
        "- Production data: events from 2013-10-03T00:00:00+00:00 to 2014-01-01T00:00:00+00:00 (the last 90 days), "
        "labels known by 2014-01-01T00:00:00+00:00.",
        "- Held out for comparison: events from 2013-12-01T00:00:00+00:00 to 2014-01-01T00:00:00+00:00.",
        "- Rows: 60 from production and 366 from the original training data, 426 in all.",
        "- Why: accuracy low: accuracy 0.55 is below 0.6",
    ]
    assert "## Lineage" not in model_card(make_meta())
