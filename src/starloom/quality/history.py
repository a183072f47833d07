"""Volume and null-rate history with robust anomaly flags.

`record_stats` keeps, per run, the row count of each table, the rows per day of the fact
tables (`fct_*`, by their first Date column, or the model header's `date_column`) and the
null rate of each column (`starloom_table_stats`, `starloom_column_stats`). `anomalies`
compares the latest run's values with the previous `window` runs: a value is flagged when it
is further from their median than `k` times the scaled median absolute deviation
(1.4826 * MAD, floored at `min_rel` of the median and at `min_abs`), and only once at least
`min_history` earlier runs exist.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from starloom.errors import StarloomError
from starloom.project import Project
from starloom.runs import current_run_id
from starloom.settings import parse_run_date
from starloom.warehouse import Warehouse, quote_identifier, state

if TYPE_CHECKING:
    from starloom.models.definition import Model

TABLE_STATS = "starloom_table_stats"
COLUMN_STATS = "starloom_column_stats"


def _models(project: Project) -> dict[str, Model]:
    """The project's models; none when they cannot be read (their build says why)."""
    try:
        return project.models
    except StarloomError:
        return {}


def _default_tables(wh: Warehouse, project: Project, models: dict[str, Model]) -> list[str]:
    """The project's raw tables (sources/*.yml) and models (sql/) present in the warehouse."""
    wanted = set(project.raw_tables) | set(models)
    return [t for t in wh.tables() if t in wanted]


def _date_column(model: Model | None, columns: list[tuple[str, str]]) -> str | None:
    """The model header's `date_column`, else the first Date column of the table."""
    if model is not None and model.config.date_column:
        return model.config.date_column
    for name, ctype in columns:
        if ctype.replace("Nullable(", "").rstrip(")") in ("Date", "Date32"):
            return name
    return None


def record_stats(
    wh: Warehouse,
    tables: list[str] | None = None,
    *,
    run_date=None,
    run_id: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Record row counts, rows per day (fct_* tables) and null rates of `tables` (default:
    the project's raw tables and models) for the run `run_id` (default the current run's).
    Returns the recorded frames."""
    run_day = parse_run_date(run_date or "today")
    run_id = run_id or current_run_id()
    now = dt.datetime.now(dt.UTC)
    table_rows, column_rows = [], []
    project = Project(wh.settings)
    models = _models(project)
    with wh.session():
        state.ensure(wh)
        for table in tables if tables is not None else _default_tables(wh, project, models):
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
            date_col = (
                _date_column(models.get(table), columns) if table.startswith("fct_") else None
            )
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


def anomalies(wh: Warehouse, *, run_id: str | None = None, **kwargs) -> pd.DataFrame:
    """`flag_anomalies` over the warehouse's history (see there for the arguments)."""
    return flag_anomalies(metric_history(wh), run_id, **kwargs)
