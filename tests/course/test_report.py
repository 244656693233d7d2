"""The batch report: pass rates, the score distribution, the slowest and the failing runs, escaped."""

from __future__ import annotations

from labkit.course.gradebook import Gradebook, Row
from labkit.course.report import pass_rates, render


def test_the_report_shows_rates_plot_slowest_and_failures_escaped():
    book = Gradebook(
        rows=[
            Row("ana", "lab.ipynb", "", "passed", 3, 3, 4.0, "", {"a": 1, "b": 2}),
            Row("<script>", "lab.ipynb", "", "failed", 1, 3, 9.5, "cell 4: ValueError: <b>boom</b>", {"a": 1, "b": 0}),
            Row("eve", "lab.ipynb", "", "timeout", 0, 3, 60.0, "timed out after 60 s in cell 6", {"a": 0, "b": 0}),
        ],
        checkpoints=["a", "b"],
    )
    records = [
        {},
        {"failing_cell": 3, "failing_source": "raise ValueError('<b>boom</b>')", "traceback": "Traceback <here>"},
        {"failing_cell": 5, "failing_source": "while True:\n    pass", "traceback": ""},
    ]

    page = render(book, records)

    assert pass_rates(book) == {"a": (2, 3), "b": (1, 3)}
    assert "3 runs: 1 passed, 1 failed, 1 timeout." in page
    assert "<td>a</td><td>2 / 3</td><td>67%</td>" in page
    assert 'src="data:image/png;base64,' in page
    assert page.index("eve / lab.ipynb") < page.index("&lt;script&gt; / lab.ipynb") < page.index("ana / lab.ipynb")
    assert "<script>" not in page and "<b>boom</b>" not in page
    assert "cell 4: ValueError: &lt;b&gt;boom&lt;/b&gt;" in page and "Traceback &lt;here&gt;" in page
    assert "<td>6</td>" in page  # the cell where eve's run stopped, counted from 1
