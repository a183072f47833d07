"""Charts shared by the notebooks (the quality report) and the docs site: test results,
freshness, rows per table per run, rows per day. Each returns a matplotlib figure, or None
when there is nothing to draw yet.
"""

from __future__ import annotations

import pandas as pd

STATUS_COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df"}


def tests_line(results: pd.DataFrame) -> str:
    """One line on the latest model tests: how many, and how many are not passing."""
    failing = int((results.status != "pass").sum())
    if not failing:
        return f"all {len(results)} tests passed"
    return f"{len(results)} tests, {failing} not passing"


def plot_test_results(results: pd.DataFrame):
    """Stacked bars: the latest tests of each model by status. None without results."""
    import matplotlib.pyplot as plt

    summary = results.groupby(["model", "status"]).size().unstack(fill_value=0)
    if summary.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(summary) + 1.2))
    summary.plot.barh(
        stacked=True, ax=ax, color=[STATUS_COLORS.get(c, "grey") for c in summary.columns]
    )
    ax.set_title("Latest test results per model")
    ax.set_xlabel("tests")
    ax.set_ylabel("")
    ax.legend(title="status", loc="lower right")
    return fig


def plot_freshness(freshness: pd.DataFrame, run_date):
    """Per source table, the age of its newest row as a dot with its value, over bands for
    fresh, past warn_after and past error_after. None when no age is known."""
    import matplotlib.pyplot as plt

    f = freshness.dropna(subset=["age_hours"]).reset_index(drop=True)
    if f.empty:
        return None
    limits = pd.concat([f.age_hours, f.warn_after_hours, f.error_after_hours]).dropna()
    right = float(limits.max()) * 1.15 or 1.0
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(f) + 1.4))
    labelled: set[str] = set()
    for y, row in f.iterrows():
        warn = row.warn_after_hours if pd.notna(row.warn_after_hours) else None
        error = row.error_after_hours if pd.notna(row.error_after_hours) else None
        start = 0.0
        for end, color, label in (
            (warn, "#dafbe1", "fresh"),
            (error, "#fff8c5", "past warn_after"),
            (right, "#ffebe9", "past error_after"),
        ):
            if end is None:
                continue
            shown = None if label in labelled else label
            ax.barh(y, end - start, left=start, height=0.7, color=color, label=shown)
            labelled.add(label)
            start = end
        ax.plot(row.age_hours, y, "o", color="#0969da", markersize=9, clip_on=False)
        ax.annotate(
            f"{row.age_hours:.3g} h", (row.age_hours, y), xytext=(8, 0),
            textcoords="offset points", va="center", fontsize=9,
        )  # fmt: skip
    ax.set_yticks(range(len(f)), f.source + "." + f.table)
    ax.set_xlim(0, right)
    ax.set_xlabel("hours since the newest row")
    ax.set_title(f"Age of the newest row at the end of {run_date}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def plot_row_counts(history: pd.DataFrame):
    """Rows of each table, per run (`metric_history`), on a log scale with a colour per
    table. None before the second run."""
    import matplotlib.pyplot as plt

    rows = history[history.metric == "rows"]
    if rows.run_id.nunique() < 2:
        return None
    pivot = rows.pivot_table(index="recorded_at", columns="table", values="value")
    fig, ax = plt.subplots(figsize=(9, 4))
    pivot.plot(ax=ax, marker=".", logy=True, colormap="tab20", title="Rows per table, per run")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=7)
    ax.set_xlabel("")
    return fig


def plot_rows_per_day(tables: pd.DataFrame):
    """Rows per day of each fact table (`record_stats(...)["tables"]`), one small panel per
    table with its own scale, so a small table is as readable as a large one. None if none."""
    import matplotlib.pyplot as plt

    daily = tables.dropna(subset=["partition_date"])
    if daily.empty:
        return None
    names = sorted(daily.table.unique())
    fig, axes = plt.subplots(
        len(names), 1, figsize=(9, 1.7 * len(names) + 0.6), sharex=True, squeeze=False
    )
    for ax, name in zip(axes[:, 0], names):
        rows = daily[daily.table == name].sort_values("partition_date")
        days = pd.to_datetime(rows.partition_date.astype(str))
        ax.bar(days, rows.rows, width=0.8, color="#0969da")
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_ylim(0, max(float(rows.rows.max()), 1.0) * 1.15)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].tick_params(axis="x", labelrotation=45)
    fig.suptitle("Rows per day in the fact tables (this run)")
    fig.tight_layout()
    return fig


def plot_table_trend(history: pd.DataFrame, table: str, metric: str = "rows"):
    """One table's `metric` per run (`metric_history`), for its page of the docs site.
    None before the second run."""
    import matplotlib.pyplot as plt

    series = history[(history.table == table) & (history.metric == metric)]
    if len(series) < 2:
        return None
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.plot(pd.to_datetime(series.recorded_at), series.value, marker="o")
    ax.set_title(f"{table}: {metric} per run")
    fig.autofmt_xdate()
    return fig
