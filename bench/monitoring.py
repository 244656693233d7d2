"""Serving with logging on vs off in one run: what committing every prediction costs.

Issue 7 asks that a service started with a prediction store (``labkit.deploy(...,
store=PATH)``, ``labkit serve --store``), which commits every request's predictions to
SQLite before it answers, stay fast:

- single-row requests with logging on at least 0.85x the requests/s of logging off, and
  at least level with the bare FastAPI app (``bench/bare_app.py``);
- 1000-row requests with logging on at least 150,000 rows/s.

This script starts the three servers of ``bench/serving.py`` (labkit with logging off,
the same with logging on, and the bare app) and measures them the same way, interleaved
in one run so that the machine's load weighs on all alike: everything but the verdict is
``serving.py``'s own code, imported. It then prints the table, each target with the
figure that meets it or not, and checks that the store holds at least every record the
logging server answered (wrk counts answers; a request still in flight when wrk stops is
stored but not counted).

Run it from the repository root::

    .venv/bin/python bench/monitoring.py --repeats 7 --duration 5 --json bench-monitoring.json

The markdown goes to standard output, progress to standard error; the exit status is 1
if the store holds fewer records than were answered. Timing is measured here and never
asserted in a test.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import serving

# Issue 7's targets.
SINGLE_ROW_VS_OFF = 0.85
SINGLE_ROW_VS_BARE = 1.0
ROWS_PER_S_AT_1000 = 150_000


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the servers, print the table and the verdicts; return the exit status."""
    arguments = serving.parse(serving.parser(__doc__.splitlines()[0]), argv)
    measured = serving.measure(arguments, serving.SERVERS)
    summary = serving.medians(measured.runs)
    print(serving.markdown(summary, arguments, measured.machine))
    print()
    print("\n".join(verdicts(summary, measured)))
    serving.write_json(arguments, measured, summary)
    return 0 if (measured.stored_rows or 0) >= measured.answered_rows else 1


def verdicts(summary: dict[str, dict[str, dict[str, float | None]]], measured: serving.Measured) -> list[str]:
    """One line per target of issue 7 that this run's payloads measure, and the store's count."""
    lines = []
    if "1" in summary:
        single = {server: summary["1"][server]["requests_per_s"] or 0.0 for server in serving.SERVERS}
        on_off, on_bare = single["logged"] / single["labkit"], single["logged"] / single["bare"]
        lines += [
            f"- 1 row, logging on / off: {on_off:.2f} (target {SINGLE_ROW_VS_OFF:.2f}): {_met(on_off >= SINGLE_ROW_VS_OFF)}",
            f"- 1 row, logging on / bare: {on_bare:.2f} (target {SINGLE_ROW_VS_BARE:.2f}): "
            f"{_met(on_bare >= SINGLE_ROW_VS_BARE)}",
        ]
    if "1000" in summary:
        rows_per_s = summary["1000"]["logged"]["rows_per_s"] or 0.0
        off = summary["1000"]["labkit"]["rows_per_s"] or 0.0
        lines.append(
            f"- 1000 rows, logging on: {rows_per_s:,.0f} rows/s (target {ROWS_PER_S_AT_1000:,}; "
            f"logging off: {off:,.0f}, ratio {rows_per_s / off:.2f}): {_met(rows_per_s >= ROWS_PER_S_AT_1000)}"
        )
    lines.append(
        f"- store: {measured.stored_rows:,} records committed, {measured.answered_rows:,} answered: "
        f"{'none lost' if (measured.stored_rows or 0) >= measured.answered_rows else 'SOME LOST'}"
    )
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


if __name__ == "__main__":
    sys.exit(main())
