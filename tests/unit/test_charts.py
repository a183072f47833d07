"""The charts of the quality report: readable whatever the scale of what they show."""

from __future__ import annotations

import datetime as dt

import matplotlib
import pandas as pd
import pytest

from starloom.publish import charts

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_tests_line_says_all_passed_or_counts_the_others():
    passing = pd.DataFrame({"status": ["pass"] * 54})
    assert charts.tests_line(passing) == "all 54 tests passed"
    mixed = pd.DataFrame({"status": ["pass", "warn", "fail", "pass"]})
    assert charts.tests_line(mixed) == "4 tests, 2 not passing"


def test_test_results_chart_has_a_bar_per_model_and_status():
    results = pd.DataFrame(
        {"model": ["a", "a", "b"], "status": ["pass", "fail", "pass"], "test": ["t"] * 3}
    )
    fig = charts.plot_test_results(results)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.patches) == 4  # two models x two statuses (one of them empty)
    assert charts.plot_test_results(results.iloc[0:0]) is None


def test_a_fresh_table_is_seen_on_the_freshness_chart():
    freshness = pd.DataFrame(
        {
            "source": ["shop", "events"],
            "table": ["orders", "events"],
            "age_hours": [0.002, 30.0],
            "warn_after_hours": [24.0, 24.0],
            "error_after_hours": [72.0, None],
        }
    )
    fig = charts.plot_freshness(freshness, "2024-01-07")
    ax = fig.axes[0]
    # the age is a marker with its value written beside it, not a bar too thin to see
    ages = [line.get_xdata()[0] for line in ax.get_lines()]
    assert ages == [0.002, 30.0]
    assert [t.get_text() for t in ax.texts] == ["0.002 h", "30 h"]
    assert ax.get_xlim()[1] >= 72.0
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["fresh", "past warn_after", "past error_after"]
    assert charts.plot_freshness(freshness.assign(age_hours=None), "2024-01-07") is None


def _daily(table: str, rows: list[int]) -> pd.DataFrame:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(len(rows))]
    return pd.DataFrame({"table": table, "partition_date": days, "rows": rows})


def test_rows_per_day_give_each_table_its_own_scale():
    tables = pd.concat(
        [
            _daily("fct_orders", [2800, 3000, 2900]),
            _daily("fct_events_daily", [5, 5, 4]),
            pd.DataFrame({"table": ["fct_orders"], "partition_date": [None], "rows": [8700]}),
        ]
    )
    fig = charts.plot_rows_per_day(tables)
    small, large = fig.axes
    assert (small.get_title(loc="left"), large.get_title(loc="left")) == (
        "fct_events_daily",
        "fct_orders",
    )
    assert [p.get_height() for p in small.patches] == [5, 5, 4]
    assert small.get_ylim()[1] < 10  # the small table fills its panel
    assert 3000 < large.get_ylim()[1] < 4000  # the total row (no day) is left out
    assert charts.plot_rows_per_day(tables[tables.partition_date.isna()]) is None


def test_row_counts_chart_needs_two_runs():
    one = pd.DataFrame(
        {"run_id": "r1", "recorded_at": pd.Timestamp("2024-01-01"), "table": ["a", "b"],
         "metric": "rows", "value": [1.0, 1000.0]}
    )  # fmt: skip
    assert charts.plot_row_counts(one) is None
    two = pd.concat([one, one.assign(run_id="r2", recorded_at=pd.Timestamp("2024-01-02"))])
    ax = charts.plot_row_counts(two).axes[0]
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 2
