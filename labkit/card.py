"""Model cards: short Markdown pages about a registered version, one per audience.

:func:`model_card` is for the people who build and run models: class, checksum, schema,
metrics, packages. It is written next to every version as ``card.md``.
:func:`user_card` is for the people who *use* the answers: what the model is for, what
to give it, how often it was right, and when not to trust it, in plain words. The
service serves it in ``/model``, so any front end can show it; :func:`card_html` turns
either card into HTML that is safe to show whatever the names in it say.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from labkit.profile import seen_in_training

__all__ = ["card_html", "model_card", "user_card"]


def model_card(meta: Mapping[str, Any]) -> str:
    """Write the Markdown model card of one registered version.

    Parameters
    ----------
    meta
        The version's metadata, as the registry stores it in ``meta.json``.

    Returns
    -------
    str
        Markdown: what the model is, what it needs as input, how well it did, and
        what it was built with.

    Examples
    --------
    >>> meta = {"name": "weather", "version": 1, "model_class": "sklearn.pipeline.Pipeline",
    ...         "created_at": "2013-01-01T00:00:00+00:00", "notes": "first try",
    ...         "sha256": "ab" * 32, "metrics": {"accuracy": 0.75},
    ...         "schema": {"columns": [{"name": "wind", "kind": "float", "dtype": "float64",
    ...                                 "nullable": False, "categories": None}]},
    ...         "target": {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]},
    ...         "training_rows": 365, "environment": {"python": "3.11.7"}}
    >>> print(model_card(meta).splitlines()[0])
    # weather, version 1
    """
    lines = [
        f"# {meta['name']}, version {meta['version']}",
        "",
        f"- Model: `{meta['model_class']}`",
        f"- Registered: {meta['created_at']}",
        f"- Trained on: {meta['training_rows']} rows",
        f"- File checksum (sha256): `{meta['sha256']}`",
    ]
    if meta.get("trusted"):
        # The card is for people: the registry never reads this back to decide what to trust.
        lines.append(f"- Loading needs: `trusted={meta['trusted']!r}` (code outside labkit's trust list)")
    lines += [
        "",
        "## Notes",
        "",
        meta.get("notes") or "_None given._",
        "",
        "## Input",
        "",
        "| column | kind | missing values allowed | allowed values |",
        "|---|---|---|---|",
    ]
    for column in meta["schema"]["columns"]:
        allowed = ", ".join(column["categories"]) if column.get("categories") else "any"
        nullable = "yes" if column["nullable"] else "no"
        lines.append(f"| {column['name']} | {column['kind']} | {nullable} | {allowed} |")
    target = meta.get("target")
    lines += ["", "## Output", ""]
    if target:
        classes = target.get("classes")
        lines.append(f"Predicts `{target['name']}` ({target['kind']})" + (f", one of {classes}." if classes else "."))
    else:
        lines.append("No target was given at registration.")
    lines += ["", "## Metrics", ""]
    if meta.get("metrics"):
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" for key, value in meta["metrics"].items()]
    else:
        lines.append("_None recorded._")
    if meta.get("lineage"):
        lines += ["", "## Lineage", ""]
        lines += [f"- {line}" for line in _lineage(meta["lineage"])]
    lines += ["", "## Built with", ""]
    lines += [f"- {package} {version}" for package, version in meta.get("environment", {}).items()]
    return "\n".join(lines) + "\n"


def user_card(meta: Mapping[str, Any]) -> str:
    """Write the Markdown card of one version for the people who use its answers.

    Parameters
    ----------
    meta
        The version's metadata, as the registry stores it in ``meta.json``, or a
        service's ``/model`` answer. Anything missing (a profile, metrics, the number of
        training rows, from versions or services older than this card) is said to be
        unknown rather than guessed.

    Returns
    -------
    str
        Markdown with four sections: what it is for, what it needs (each input with the
        range seen in training), how often it was right (from the registered metrics
        ``accuracy``, ``baseline_accuracy`` and ``mae``, optionally suffixed with where
        they were measured, such as ``accuracy_2013``), and when not to trust it.

    Examples
    --------
    >>> meta = {"name": "weather", "version": 1, "created_at": "2013-01-01T08:00:00",
    ...         "training_rows": 366, "metrics": {"accuracy_2013": 0.62},
    ...         "target": {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]},
    ...         "schema": {"columns": [{"name": "temp_max", "kind": "float", "dtype": "float64",
    ...                                 "nullable": False, "categories": None}]},
    ...         "profile": {"rows": 366, "columns": {"temp_max": {
    ...             "missing": 0, "min": -1.1, "max": 34.4, "mean": 15.3, "std": 7.1,
    ...             "quantiles": {"1%": 2.0, "5%": 5.0, "25%": 9.0, "50%": 14.7,
    ...                           "75%": 21.1, "95%": 28.3, "99%": 32.0}}}}}
    >>> card = user_card(meta)
    >>> print(card.split("## ")[2])
    What it needs
    <BLANKLINE>
    - **temp_max**: a number. In training it went from -1.1 to 34.4, and 9 times in 10 from 5 to 28.3.
    <BLANKLINE>
    <BLANKLINE>
    >>> print(card.split("## ")[3].splitlines()[2])
    - When checked on 2013, it was right about 62 times in 100.
    """
    target = meta.get("target")
    profile = meta.get("profile")
    columns = list((meta.get("schema") or {}).get("columns", []))
    lines = [f"# {meta.get('name', 'This model')}: a guide for its users", "", "## What it is for", ""]
    lines.append(_purpose(target))
    if meta.get("notes"):
        lines += ["", f"Its makers' note: {meta['notes']}"]
    lines += ["", "## What it needs", ""]
    lines += [f"- **{column['name']}**: {_needs(column, profile)}" for column in columns]
    lines += ["", "## How often it was right", ""]
    lines += [f"- {sentence}" for sentence in _performance(meta.get("metrics") or {})]
    lines += ["", "## When not to trust it", ""]
    lines += [f"- {sentence}" for sentence in _cautions(meta, columns, profile)]
    return "\n".join(lines) + "\n"


def card_html(markdown: str) -> str:
    """Render a card's Markdown as HTML, escaping every piece of text.

    Only what the cards use is understood: ``#`` and ``##`` headings, ``-`` lists,
    paragraphs, ``**bold**`` and ```code```. Everything else is shown as text, so a
    model or column named ``<script>`` is shown, never run.

    Parameters
    ----------
    markdown
        A card from :func:`user_card` or :func:`model_card`.

    Returns
    -------
    str
        An HTML fragment.

    Examples
    --------
    >>> print(card_html("\\n".join(["# weather", "", "- **wind** <b>: a `number`"])))
    <h3>weather</h3>
    <ul>
    <li><b>wind</b> &lt;b&gt;: a <code>number</code></li>
    </ul>
    """
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{' '.join(paragraph)}</p>")
            paragraph.clear()
        if items:
            out.extend(["<ul>", *(f"<li>{item}</li>" for item in items), "</ul>"])
            items.clear()

    for line in markdown.splitlines():
        if line.startswith("## "):
            flush()
            out.append(f"<h4>{_inline(line[3:])}</h4>")
        elif line.startswith("# "):
            flush()
            out.append(f"<h3>{_inline(line[2:])}</h3>")
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(_inline(line[2:]))
        elif not line.strip():
            flush()
        else:
            if items:
                flush()
            paragraph.append(_inline(line))
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    # Escape first, then add the only tags allowed: what a name holds stays text.
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _lineage(lineage: Mapping[str, Any]) -> list[str]:
    """The card's lines about where a retrained version came from: parent, data, rows, trigger."""
    lines = []
    if lineage.get("parent") is not None:
        lines.append(f"Retrained from version {lineage['parent']}.")
    window = lineage.get("window") or {}
    if window:
        how = f"the last {window['span']}" if window.get("kind") == "sliding" else "a growing window"
        lines.append(
            f"Production data: events from {window.get('start')} to {window.get('end')} ({how}), "
            f"labels known by {lineage.get('trained_at')}."
        )
    if lineage.get("holdout"):
        lines.append(f"Held out for comparison: events from {lineage['holdout'][0]} to {lineage['holdout'][1]}.")
    rows = lineage.get("rows") or {}
    if rows:
        lines.append(
            f"Rows: {rows.get('production', 0)} from production and {rows.get('original', 0)} from the original "
            f"training data, {rows.get('total', 0)} in all."
        )
    if lineage.get("reason"):
        lines.append(f"Why: {lineage['reason']}")
    return lines


def _words(name: str) -> str:
    return name.replace("_", " ")


def _purpose(target: Mapping[str, Any] | None) -> str:
    if not target:
        return (
            "It makes a prediction from the inputs below. What it predicts was not recorded when it was "
            "registered: ask its makers before using it."
        )
    what = _words(str(target["name"]))
    classes = target.get("classes")
    if target.get("kind") == "boolean":
        return f"It tells you how likely **{what}** is, from the inputs below, as a percentage."
    if classes:
        return (
            f"It picks the most likely **{what}** ({_one_of([str(c) for c in classes])}) from the inputs "
            "below, and says how sure it is, as a percentage."
        )
    return f"It estimates **{what}** from the inputs below."


def _needs(column: Mapping[str, Any], profile: Mapping[str, Any] | None) -> str:
    name, kind = column["name"], column["kind"]
    entry = ((profile or {}).get("columns") or {}).get(name)
    seen = seen_in_training(profile, name)
    empty = " It may be left empty." if column.get("nullable") else ""
    if kind in ("float", "integer"):
        what = "a whole number" if kind == "integer" else "a number"
        if seen is None:
            return f"{what}. The range seen in training was not recorded for this version.{empty}"
        quantiles = entry.get("quantiles") or {}
        usual = ""
        if quantiles.get("5%") is not None:
            usual = f", and 9 times in 10 from {_rounded(quantiles['5%'])} to {_rounded(quantiles['95%'])}"
        return f"{what}. In training it went from {seen}{usual}.{empty}"
    if kind == "boolean":
        values = [item["value"] for item in (entry or {}).get("counts", []) if item["count"] > 0]
        always = f" In training it was always {'yes' if values[0] else 'no'}." if len(values) == 1 else ""
        return f"yes or no.{always}{empty}"
    if kind == "datetime":
        when = f" In training from {seen}." if seen else ""
        return f"a date, such as 2014-03-01.{when}{empty}"
    categories = column.get("categories")
    if not categories:
        return f"any text.{empty}"
    text = f"one of {_one_of(list(categories))}."
    counts = (entry or {}).get("counts")
    if counts:
        text += f" In training it was most often {counts[0]['value']}."
        never = [item["value"] for item in counts if item["count"] == 0]
        if never:
            text += f" It never saw {_one_of(never)} in training."
    return text + empty


# The metrics a user card can put in words, optionally followed by where they were
# measured: "accuracy_2013" was measured on 2013.
_METRIC = re.compile(r"(baseline_accuracy|accuracy|mae|mean_absolute_error)(?:_(.+))?")


def _performance(metrics: Mapping[str, float]) -> list[str]:
    found: dict[str, list[tuple[str, float]]] = {"accuracy": [], "baseline_accuracy": [], "mae": []}
    other = []
    for key, value in metrics.items():
        match = _METRIC.fullmatch(key)
        kind = {"mean_absolute_error": "mae"}.get(match[1], match[1]) if match else None
        if kind is None or (kind != "mae" and not 0 <= value <= 1):
            other.append(key)
        else:
            found[kind].append((match[2] or "", value))
    sentences = [
        f"{_checked(where)}, it was right about {round(value * 100)} times in 100." for where, value in found["accuracy"]
    ]
    sentences += [
        f"{_checked(where)}, always giving the most common answer would have been right about "
        f"{round(value * 100)} times in 100: the model is worth asking only where it does better."
        for where, value in found["baseline_accuracy"]
    ]
    sentences += [
        f"{_checked(where)}, its estimates were off by about {_rounded(value)} on average." for where, value in found["mae"]
    ]
    if other:
        sentences.append(
            f"Its makers also recorded measures for specialists ({', '.join(other)}); the technical model card lists them."
        )
    return sentences or ["This was not recorded for this version: ask its makers before relying on its answers."]


def _checked(where: str) -> str:
    return f"When checked on {_words(where)}" if where else "When checked"


def _cautions(meta: Mapping[str, Any], columns: list[Mapping[str, Any]], profile: Mapping[str, Any] | None) -> list[str]:
    sentences = []
    if profile:
        if any(c["kind"] in ("float", "integer", "datetime") for c in columns):
            sentences.append(
                "When an input lies outside the range it saw in training (given above for each input): "
                "it was never shown such a case, and its answer there is a guess."
            )
    elif columns:
        sentences.append(
            "The values it saw in training were not recorded for this version, so nobody can tell you when "
            "an input is unusual for it: be most careful with extreme values."
        )
    for column in columns:
        if column.get("categories"):
            counts = (((profile or {}).get("columns") or {}).get(column["name"]) or {}).get("counts")
            known = [item["value"] for item in counts if item["count"] > 0] if counts else list(column["categories"])
            sentences.append(
                f"When the real **{column['name']}** is none of {_one_of(known)}: those are all it knows, "
                "and choosing the nearest one makes its answer a guess."
            )
    rows = meta.get("training_rows")
    learned = f"It learned from {rows} examples" if rows else "It learned from examples"
    registered = f" gathered before {str(meta['created_at'])[:10]}" if meta.get("created_at") else ""
    sentences.append(
        f"When conditions are unlike those it learned from. {learned}{registered}; if things have changed since "
        "(another season or place, a new way of measuring), its answers can be wrong without any warning."
    )
    return sentences


def _one_of(values: list[Any]) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _rounded(value: float) -> str:
    """A number rounded for people: three significant digits, no exponent."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
