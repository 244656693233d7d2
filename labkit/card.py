"""The model card: a short Markdown page that travels with every registered version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["model_card"]


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
    lines += ["", "## Built with", ""]
    lines += [f"- {package} {version}" for package, version in meta.get("environment", {}).items()]
    return "\n".join(lines) + "\n"
