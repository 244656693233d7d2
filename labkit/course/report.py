"""The batch report: one HTML page an instructor reads after a batch run.

It shows how many runs ended in each status, the pass rate of every checkpoint (which
exercise the class found hard), the distribution of scores, the slowest runs, and every
run that did not pass with the cell where it stopped and its error. The page is
self-contained (the plot is an inline PNG) and escapes everything a student wrote.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter

from labkit.course.gradebook import STATUSES, Gradebook

__all__ = ["render", "pass_rates"]


def pass_rates(book: Gradebook) -> dict[str, tuple[int, int]]:
    """For each checkpoint: (runs that passed it, runs that had it).

    Examples
    --------
    >>> from labkit.course.gradebook import Row
    >>> book = Gradebook(rows=[Row("a", "n", "", "passed", 1, 1, 1.0, "", {"x": 1}),
    ...                        Row("b", "n", "", "failed", 0, 1, 1.0, "", {"x": 0})], checkpoints=["x"])
    >>> pass_rates(book)
    {'x': (1, 2)}
    """
    return {
        name: (
            sum(1 for row in book.rows if row.checkpoints.get(name, 0) > 0),
            sum(1 for row in book.rows if name in row.checkpoints),
        )
        for name in book.checkpoints
    }


def _histogram(book: Gradebook) -> str:
    from matplotlib.figure import Figure

    # A Figure made directly, not through pyplot: no global state, no GUI backend.
    figure = Figure(figsize=(6, 2.6), layout="constrained")
    axes = figure.subplots()
    fractions = [row.score / row.max_score * 100 if row.max_score else 100.0 for row in book.rows]
    axes.hist(fractions, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    axes.set_xlabel("score (% of the notebook's points)")
    axes.set_ylabel("runs")
    axes.set_xlim(0, 100)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _who(row) -> str:
    parts = [row.student, row.notebook, row.params]
    return html.escape(" / ".join(part for part in parts if part))


def render(book: Gradebook, records: list[dict], *, slowest: int = 10) -> str:
    """The report as an HTML page.

    Parameters
    ----------
    book
        The gradebook.
    records
        One dict per run as ``results.json`` holds them (the failing cell's index, source
        and traceback), in the gradebook's order.
    slowest
        How many of the slowest runs to list.
    """
    statuses = Counter(row.status for row in book.rows)
    summary = ", ".join(f"{statuses[status]} {status}" for status in STATUSES if statuses[status])
    rates = [
        [html.escape(name), f"{passed} / {total}", f"{passed / total:.0%}" if total else "-"]
        for name, (passed, total) in pass_rates(book).items()
    ]
    by_time = sorted(book.rows, key=lambda row: row.runtime_s, reverse=True)[:slowest]
    slow = [[_who(row), html.escape(row.status), f"{row.runtime_s:.1f}"] for row in by_time]
    failing = []
    for row, record in zip(book.rows, records):
        if row.status == "passed":
            continue
        cell = record.get("failing_cell")
        detail = ""
        if record.get("failing_source"):
            detail += f"<pre>{html.escape(record['failing_source'][:2000])}</pre>"
        if record.get("traceback"):
            detail += f"<details><summary>traceback</summary><pre>{html.escape(record['traceback'])}</pre></details>"
        failing.append([
            _who(row), html.escape(row.status), f"{row.score:g} / {row.max_score:g}",
            "" if cell is None else str(cell + 1), html.escape(row.error), detail,
        ])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>labkit batch report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
pre {{ background: #f6f6f6; padding: 4px; max-height: 20em; overflow: auto; white-space: pre-wrap; }}
</style></head><body>
<h1>labkit batch report</h1>
<p>{len(book.rows)} runs: {html.escape(summary) or "none"}.</p>
<h2>Pass rate per checkpoint</h2>
{_table(["checkpoint", "passed", "rate"], rates)}
<h2>Score distribution</h2>
<img alt="histogram of scores" src="data:image/png;base64,{_histogram(book)}">
<h2>Slowest runs</h2>
{_table(["run", "status", "seconds"], slow)}
<h2>Runs that did not pass</h2>
{_table(["run", "status", "score", "cell", "error", "the cell"], failing) if failing else "<p>None.</p>"}
</body></html>
"""
