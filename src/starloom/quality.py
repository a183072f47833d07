"""Data quality beyond model tests: source freshness, and volume and null-rate history with
robust anomaly flags.

Freshness is declared on a source table in sources/<source>.yml:

    tables:
      events:
        freshness:
          column: event_at            # default _loaded_at (when the row was loaded)
          warn_after: {hours: 24}     # hours, minutes or days
          error_after: {hours: 72}

The age of a table is `reference - max(column)` over its raw table. The reference is the end
of the run date (midnight UTC after `run_date`) when a run date is given, otherwise the
current time: a run for a past day is judged against that day, so backfills are not all stale.
Results go to `starloom_freshness`.

History: `record_stats` keeps, per run, the row count of each table, the rows per day of the
fact tables (`fct_*`, by their first Date column, or the model header's `date_column`) and the
null rate of each column (`starloom_table_stats`, `starloom_column_stats`). `anomalies`
compares the latest run's values with the previous `window` runs: a value is flagged when it
is further from their median than `k` times the scaled median absolute deviation
(1.4826 * MAD, floored at `min_rel` of the median and at `min_abs`), and only once at least
`min_history` earlier runs exist.

Charts for the quality report (notebooks/06_check_quality.ipynb): `plot_test_results`,
`plot_freshness`, `plot_row_counts`, `plot_rows_per_day`, and `tests_line` in words.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd

from starloom.errors import StarloomError
from starloom.sources import load_sources
from starloom.warehouse import Warehouse, quote_identifier

FRESHNESS_TABLE = "starloom_freshness"
TABLE_STATS = "starloom_table_stats"
COLUMN_STATS = "starloom_column_stats"
DEFAULT_LOADED_AT = "_loaded_at"


class FreshnessError(StarloomError):
    """A source table is older than its error_after."""


# -- freshness -------------------------------------------------------------------------------


def freshness_specs(project_dir: Path) -> list[dict]:
    """The freshness declarations of the project's sources: one dict per table that has one."""
    return [
        {
            "source": e.source,
            "table": e.name,
            "raw_table": e.raw_table,
            "column": e.freshness.column,
            "warn_after_hours": e.freshness.warn_after_hours,
            "error_after_hours": e.freshness.error_after_hours,
        }
        for src in load_sources(Path(project_dir)).values()
        for e in src.entities
        if e.freshness
    ]


def reference_time(run_date=None, now: dt.datetime | None = None) -> dt.datetime:
    """End of run_date (midnight UTC after it) when given, else now (UTC)."""
    if run_date is not None and run_date != "":
        day = dt.date.fromisoformat(str(run_date)[:10])
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return now or dt.datetime.now(dt.UTC)


def check_freshness(
    wh: Warehouse, run_date=None, *, run_id: str | None = None, now: dt.datetime | None = None
) -> pd.DataFrame:
    """Check every declared freshness; record and return one row per table.

    status: pass, warn, error, or missing (the raw table or its rows do not exist yet, an error).
    """
    specs = freshness_specs(wh.settings.project_dir)
    reference = reference_time(run_date, now)
    run_id = run_id or uuid.uuid4().hex[:12]
    rows = []
    with wh.session():
        for spec in specs:
            latest = None
            if wh.table_exists(spec["raw_table"]):
                latest = wh.scalar(
                    f"SELECT toTimeZone(max({quote_identifier(spec['column'])}), 'UTC') "
                    f"FROM {wh.qualified(spec['raw_table'])}"
                )
            if latest is not None and pd.isna(latest):
                latest = None
            if latest is not None:
                latest = pd.Timestamp(latest)
                latest = latest.tz_localize("UTC") if latest.tzinfo is None else latest
                age = (pd.Timestamp(reference) - latest).total_seconds() / 3600
            else:
                age = None
            if age is None:
                status = "missing"
            elif spec["error_after_hours"] is not None and age > spec["error_after_hours"]:
                status = "error"
            elif spec["warn_after_hours"] is not None and age > spec["warn_after_hours"]:
                status = "warn"
            else:
                status = "pass"
            rows.append(
                {
                    "run_id": run_id,
                    "source": spec["source"],
                    "table": spec["table"],
                    "column": spec["column"],
                    "latest_at": latest.to_pydatetime() if latest is not None else None,
                    "reference_at": reference,
                    "age_hours": round(age, 3) if age is not None else None,
                    "warn_after_hours": spec["warn_after_hours"],
                    "error_after_hours": spec["error_after_hours"],
                    "status": status,
                    "checked_at": dt.datetime.now(dt.UTC),
                }
            )
        df = pd.DataFrame(
            rows,
            columns=[
                "run_id", "source", "table", "column", "latest_at", "reference_at", "age_hours",
                "warn_after_hours", "error_after_hours", "status", "checked_at",
            ],
        )  # fmt: skip
        if len(df):
            wh.command(f"""CREATE TABLE IF NOT EXISTS {wh.qualified(FRESHNESS_TABLE)} (
                run_id String, source String, `table` String, `column` String,
                latest_at Nullable(DateTime64(3, 'UTC')), reference_at DateTime64(3, 'UTC'),
                age_hours Nullable(Float64), warn_after_hours Nullable(Float64),
                error_after_hours Nullable(Float64), status String,
                checked_at DateTime64(3, 'UTC')
            ) ENGINE = MergeTree ORDER BY (source, `table`, checked_at)""")
            wh.insert_df(FRESHNESS_TABLE, df)
    return df


def raise_on_stale(freshness: pd.DataFrame) -> None:
    """Raise FreshnessError naming every table in error or missing."""
    bad = freshness[freshness.status.isin(["error", "missing"])]
    if len(bad):
        parts = [
            f"{r.source}.{r.table} ({r.status}: "
            + (
                f"latest {r.column} {r.latest_at:%Y-%m-%d %H:%M} UTC is {r.age_hours:.1f} h old, "
                f"error after {r.error_after_hours:g} h)"
                if r.status == "error"
                else f"no rows in raw_{r.source}__{r.table})"
            )
            for r in bad.itertuples()
        ]
        raise FreshnessError(
            "Stale sources: " + "; ".join(parts) + ". Check that the sources delivered and "
            "the ingest ran for this run date, or relax `freshness` in sources/*.yml."
        )


# -- history ---------------------------------------------------------------------------------


def _ensure_history(wh: Warehouse) -> None:
    wh.command(f"""CREATE TABLE IF NOT EXISTS {wh.qualified(TABLE_STATS)} (
        run_id String, run_date Date32, recorded_at DateTime64(3, 'UTC'), `table` String,
        partition_date Nullable(Date32), `rows` UInt64
    ) ENGINE = MergeTree ORDER BY (`table`, recorded_at)""")
    wh.command(f"""CREATE TABLE IF NOT EXISTS {wh.qualified(COLUMN_STATS)} (
        run_id String, run_date Date32, recorded_at DateTime64(3, 'UTC'), `table` String,
        `column` String, `rows` UInt64, nulls UInt64, null_rate Float64
    ) ENGINE = MergeTree ORDER BY (`table`, `column`, recorded_at)""")


def _default_tables(wh: Warehouse) -> list[str]:
    """The project's raw tables (sources/*.yml) and models (sql/) present in the warehouse."""
    from starloom.lineage import source_tables

    project = wh.settings.project_dir
    wanted = set(source_tables(project))
    if (project / "sql").is_dir():
        wanted |= {p.stem for p in (project / "sql").rglob("*.sql")}
    return [t for t in wh.tables() if t in wanted]


def _date_column(wh: Warehouse, table: str, columns: list[tuple[str, str]]) -> str | None:
    """The model header's `date_column`, else the first Date column of the table."""
    sql = wh.settings.project_dir / "sql"
    if sql.is_dir():
        from starloom.models import load_models

        try:
            model = load_models(sql).get(table)
        except StarloomError:
            model = None
        if model is not None and model.meta.get("date_column"):
            return str(model.meta["date_column"])
    for name, ctype in columns:
        if ctype.replace("Nullable(", "").rstrip(")") in ("Date", "Date32"):
            return name
    return None


def record_stats(
    wh: Warehouse, run_id: str, run_date, tables: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Record row counts, rows per day (fct_* tables) and null rates of `tables` (default:
    the project's raw tables and models). Returns the recorded frames."""
    run_day = dt.date.fromisoformat(str(run_date)[:10])
    now = dt.datetime.now(dt.UTC)
    table_rows, column_rows = [], []
    with wh.session():
        _ensure_history(wh)
        for table in tables if tables is not None else _default_tables(wh):
            columns = wh.query_rows(
                "SELECT name, type FROM system.columns WHERE database = {d:String} "
                "AND table = {t:String} ORDER BY position",
                {"d": wh.database, "t": table},
            )
            if not columns:
                continue
            q = wh.qualified(table)
            counts = ", ".join(f"countIf({quote_identifier(c)} IS NULL)" for c, _ in columns)
            values = wh.query_rows(f"SELECT count(), {counts} FROM {q}")[0]
            total = int(values[0])
            base = {"run_id": run_id, "run_date": run_day, "recorded_at": now, "table": table}
            table_rows.append({**base, "partition_date": None, "rows": total})
            for (column, _), nulls in zip(columns, values[1:]):
                column_rows.append(
                    {
                        **base,
                        "column": column,
                        "rows": total,
                        "nulls": int(nulls),
                        "null_rate": float(nulls) / total if total else 0.0,
                    }
                )
            date_col = _date_column(wh, table, columns) if table.startswith("fct_") else None
            if date_col:
                c = quote_identifier(date_col)
                for day, rows in wh.query_rows(
                    f"SELECT toDate32({c}) AS d, count() FROM {q} WHERE {c} IS NOT NULL "
                    "GROUP BY d ORDER BY d"
                ):
                    table_rows.append({**base, "partition_date": day, "rows": int(rows)})
        tdf = pd.DataFrame(
            table_rows,
            columns=["run_id", "run_date", "recorded_at", "table", "partition_date", "rows"],
        )
        cdf = pd.DataFrame(
            column_rows,
            columns=[
                "run_id", "run_date", "recorded_at", "table", "column", "rows", "nulls",
                "null_rate",
            ],
        )  # fmt: skip
        if len(tdf):
            tdf["partition_date"] = tdf["partition_date"].astype(object)
            wh.insert_df(TABLE_STATS, tdf)
        if len(cdf):
            wh.insert_df(COLUMN_STATS, cdf)
    return {"tables": tdf, "columns": cdf}


def metric_history(wh: Warehouse) -> pd.DataFrame:
    """Every recorded metric as (run_id, run_date, recorded_at, table, metric, value).

    Metrics: `rows`, `rows_on_run_date` (rows of the day partition equal to the run date, for
    fact tables) and `null_rate:<column>`.
    """
    cols = ["run_id", "run_date", "recorded_at", "table", "metric", "value"]
    if not wh.table_exists(TABLE_STATS):
        return pd.DataFrame(columns=cols)
    return wh.query_df(
        f"""SELECT run_id, run_date, recorded_at, `table`, 'rows' AS metric,
                   toFloat64(`rows`) AS value
            FROM {wh.qualified(TABLE_STATS)} WHERE partition_date IS NULL
            UNION ALL
            SELECT run_id, run_date, recorded_at, `table`, 'rows_on_run_date',
                   toFloat64(`rows`)
            FROM {wh.qualified(TABLE_STATS)} WHERE partition_date = run_date
            UNION ALL
            SELECT run_id, run_date, recorded_at, `table`, concat('null_rate:', `column`),
                   null_rate
            FROM {wh.qualified(COLUMN_STATS)}
            ORDER BY recorded_at"""
    )[cols]


def flag_anomalies(
    history: pd.DataFrame,
    run_id: str | None = None,
    *,
    window: int = 14,
    k: float = 4.0,
    min_history: int = 5,
    min_rel: float = 0.02,
    min_abs: float = 0.01,
) -> pd.DataFrame:
    """Compare each metric of run `run_id` (default: the latest run) with its previous
    `window` runs; one row per metric with median, MAD, threshold and `is_anomaly`."""
    out_cols = [
        "table", "metric", "value", "median", "mad", "threshold", "history", "is_anomaly",
        "run_id",
    ]  # fmt: skip
    if history.empty:
        return pd.DataFrame(columns=out_cols)
    runs = history.groupby("run_id")["recorded_at"].max().sort_values()
    run_id = run_id or runs.index[-1]
    earlier = list(runs[runs < runs[run_id]].index[-window:])
    today = history[history.run_id == run_id]
    past = history[history.run_id.isin(earlier)]
    rows = []
    for (table, metric), group in today.groupby(["table", "metric"], sort=True):
        value = float(group.value.iloc[-1])
        series = past[(past.table == table) & (past.metric == metric)]
        values = series.groupby("run_id").value.last().astype(float)
        n = len(values)
        median = float(values.median()) if n else float("nan")
        mad = float((values - median).abs().median()) if n else float("nan")
        threshold = k * max(1.4826 * mad, min_rel * abs(median), min_abs) if n else float("nan")
        flagged = n >= min_history and abs(value - median) > threshold
        rows.append([table, metric, value, median, mad, threshold, n, bool(flagged), run_id])
    return pd.DataFrame(rows, columns=out_cols)


def anomalies(wh: Warehouse, run_id: str | None = None, **kwargs) -> pd.DataFrame:
    """`flag_anomalies` over the warehouse's history (see there for the arguments)."""
    return flag_anomalies(metric_history(wh), run_id, **kwargs)


# -- charts for the quality report -----------------------------------------------------------
STATUS_COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}


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
