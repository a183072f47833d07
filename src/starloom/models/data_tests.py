"""Tests declared on models, run on the table a build produced before it is swapped in.

In a model's header, each column may list tests, and the model may list tests of its own:

    columns:
      order_id: {tests: [unique, not_null]}
      status:
        tests: [{accepted_values: {values: [placed, shipped, cancelled]}}]
      customer_id:
        tests: [{relationships: {to: dim_customers, field: customer_id, severity: warn}}]
      quantity:
        tests: [{expression_is_true: {expression: "quantity >= 1"}}]
    tests:
      - expression_is_true: {expression: "line_revenue <= quantity * unit_price"}
      - sql: "SELECT * FROM {{ this }} WHERE order_date > today()"
        name: no_future_orders
        severity: warn

Every test is a query for the failing rows: the test fails when it returns any. `unique`
returns one row per duplicated value; NULLs pass `accepted_values` and `relationships` (add
`not_null` for them). `expression_is_true` takes a boolean SQL expression over the columns. A
custom `sql` test may name the table under test as `{{ this }}` and other models as
`{{ ref('name') }}`; it is project code, like the model's own SQL. `severity` is `error` (the
default: the build stops, naming model, test, failing count and a few failing rows) or `warn`
(the result is kept, the build goes on). A test whose query fails (a column renamed, a
custom test's SQL error) did not run: its status is `error`, counted with the failures,
and at `severity: error` it stops the build as a failure does. Results go to
`starloom_test_results` with the run id and the time. The declarations are read and checked
when the model loads (starloom.models.config); this module turns them into SQL and runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import jinja2
import pandas as pd

from starloom.errors import ModelError, WarehouseError, first_line
from starloom.ingestion.raw_names import raw_table
from starloom.models.definition import Model
from starloom.runs import ERRORED
from starloom.warehouse import Warehouse, quote_identifier, state

SAMPLE_ROWS = 5
RESULTS_TABLE = "starloom_test_results"


class TestFailure(ModelError):
    """An error-level model test failed; the build of that model stops."""

    __test__ = False  # not a pytest class


def _render_custom(sql: str, this: str, wh: Warehouse, where: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(sql).render(
            this=this,
            ref=wh.qualified,
            source=lambda s, t: wh.qualified(raw_table(s, t)),
        )
    except jinja2.TemplateError as exc:
        raise ModelError(f"{where}: template error in the test's SQL: {exc}") from None


def _check_target(model: Model, column: str, to: str, field: str, columns) -> None:
    """A relationships test's model and column exist (`columns`: the columns of `to`);
    else an error saying what to fix (ClickHouse would read a missing column as the outer
    one, or refuse the query with a message about correlated subqueries)."""
    names = [name for name, _ in columns]
    where = f"{model.path}: the relationships test of column {column}"
    if not names:
        raise ModelError(
            f"{where} reads {to!r}, which is not built: build it first "
            f"(`starloom build +{model.name}` builds what {model.name} reads), or fix `to:`."
        )
    if field not in names:
        raise ModelError(
            f"{where}: {to} has no column {field!r} (its columns: {', '.join(names)}). "
            "Fix `field:`."
        )


def tests_sql(wh: Warehouse, model: Model, table: str, run: dict | None = None) -> list[dict]:
    """Each declared test as {test, column, severity, sql, params}; `sql` selects the
    failing rows of `table` (the table under test, maybe built aside). `run` are the run's
    parameters (`{run_date:Date}`, `{lookback_start:Date}`), which an expression or a
    test's SQL may use as the model's SQL does."""
    run = dict(run or {})
    t = wh.qualified(table)
    out = []
    for column, spec in model.config.columns.items():
        col = quote_identifier(column)
        for i, test in enumerate(spec.tests):
            params: dict = {}
            if test.kind == "unique":
                sql = (
                    f"SELECT {col}, count() AS duplicates FROM {t} "
                    f"GROUP BY {col} HAVING count() > 1 ORDER BY duplicates DESC"
                )
            elif test.kind == "not_null":
                sql = f"SELECT * FROM {t} WHERE {col} IS NULL"
            elif test.kind == "accepted_values":
                params = {f"values_{i}": [str(v) for v in test.values]}
                sql = (
                    f"SELECT * FROM {t} WHERE {col} IS NOT NULL "
                    f"AND NOT has({{values_{i}:Array(String)}}, toString({col}))"
                )
            elif test.kind == "relationships":
                other = wh.qualified(test.to)
                field = "_to." + quote_identifier(test.field)  # never the outer column
                sql = (
                    f"SELECT * FROM {t} WHERE {col} IS NOT NULL AND {col} NOT IN "
                    f"(SELECT {field} FROM {other} AS _to WHERE {field} IS NOT NULL)"
                )
            else:  # expression_is_true
                sql = f"SELECT * FROM {t} WHERE NOT ({test.expression})"
                params = run
            out.append(
                {
                    "test": test.label,
                    "column": column,
                    "severity": test.severity,
                    "sql": sql,
                    "params": params,
                }
            )
    for test in model.config.tests:
        if test.kind == "sql":
            where = f"{model.path}: model tests"
            body = _render_custom(test.sql, t, wh, where).strip().rstrip(";")
            sql = f"SELECT * FROM (\n{body}\n)"
        else:  # expression_is_true
            sql = f"SELECT * FROM {t} WHERE NOT ({test.expression})"
        out.append(
            {"test": test.label, "column": "", "severity": test.severity, "sql": sql, "params": run}
        )
    return out


def _failing_rows(wh: Warehouse, sql: str, params: dict) -> pd.DataFrame:
    """The first failing rows of a test, a date as its day (2024-01-05) and a time as
    `2024-01-05 10:00:00`. pandas holds a Date as a timestamp at midnight, which the
    error, the sample kept with the result and the docs pages would all show as
    2024-01-05T00:00:00.000; which columns are dates comes from the engine, so that a
    DateTime at midnight stays a time."""
    df = wh.query_df(f"{sql} LIMIT {SAMPLE_ROWS}", params)
    days = {
        name
        for name, ctype, *_ in wh.query_rows(f"DESCRIBE (\n{sql}\n)", params)
        if _DATE.fullmatch(ctype)
    }
    for name in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[name]):
            shown = "%Y-%m-%d" if name in days else None
            df[name] = [
                None if pd.isna(v) else v.strftime(shown) if shown else v.isoformat(sep=" ")
                for v in df[name]
            ]
    return df


_DATE = re.compile(r"(?:LowCardinality\()?(?:Nullable\()?Date(?:32)?\)*")


def _sample_text(sample: pd.DataFrame) -> str:
    """The failing rows as `{column: value, ...}`; a missing value as NULL (as in SQL),
    whichever of None, NaN or NaT pandas holds it as."""
    rows = sample.astype(object).where(sample.notna(), None).to_dict(orient="records")
    return "; ".join(row_text(r) for r in rows)


def row_text(row: dict) -> str:
    """A failing row as `{column: value, ...}`, a missing value as NULL (as in SQL): in the
    error of a failed test and on the docs pages."""
    return "{" + ", ".join(f"{k}: {'NULL' if v is None else v}" for k, v in row.items()) + "}"


def run_model_tests(
    wh,
    model: Model,
    table: str,
    run_id: str,
    shown_as: str | None = None,
    record: bool = True,
    params: dict | None = None,
) -> list[dict]:
    """Run the model's tests on `table`; raise TestFailure if an error-level test fails.

    Returns one result row per test (see `record_results`); on failure the rows are
    recorded before raising (unless `record` is False: the caller records them, from the
    failure's `results`), so the failure is in the history too.
    """
    name = shown_as or table
    rows = []
    samples: dict[int, pd.DataFrame] = {}
    targets = [
        (column, test)
        for column, spec in model.config.columns.items()
        for test in spec.tests
        if test.kind == "relationships"
    ]
    if targets:
        columns = wh.columns_of(sorted({test.to for _, test in targets}))
        for column, test in targets:
            _check_target(model, column, test.to, test.field, columns[test.to])
    errors: dict[int, str] = {}
    for spec in tests_sql(wh, model, table, params):
        try:
            failures = int(wh.scalar(f"SELECT count() FROM ({spec['sql']})", spec["params"]))
        except WarehouseError as exc:  # the test did not run: never counted as a pass
            errors[len(rows)] = first_line(exc)[:300]  # short enough to keep with the result
            failures, status = 0, ERRORED
            sample = json.dumps([{"error": errors[len(rows)]}])
        else:
            sample = ""
            if failures:
                df = _failing_rows(wh, spec["sql"], spec["params"])
                samples[len(rows)] = df
                sample = df.to_json(orient="records", date_format="iso", default_handler=str)
            status = (
                "pass" if failures == 0 else ("fail" if spec["severity"] == "error" else "warn")
            )
        rows.append(
            {
                "run_id": run_id,
                "model": name,
                "test": spec["test"],
                "column": spec["column"],
                "severity": spec["severity"],
                "failures": failures,
                "status": status,
                "checked_at": dt.datetime.now(dt.UTC),
                "sample": sample,
            }
        )
    failed = [
        i
        for i, r in enumerate(rows)
        if r["status"] == "fail" or (r["status"] == ERRORED and r["severity"] == "error")
    ]
    if failed:
        if record:
            record_results(wh, rows)
        parts = []
        for i in failed:
            r = rows[i]
            on = f" on {r['column']}" if r["column"] else ""
            if i in errors:
                parts.append(f"{r['test']}{on}: its query failed, so it did not run: {errors[i]}")
                continue
            parts.append(
                f"{r['test']}{on}: {r['failures']} failing rows, e.g. {_sample_text(samples[i])}"
            )
        kept = " The previous table was kept." if shown_as else ""
        failure = TestFailure(
            f"Model {name} ({model.path.name}) failed its tests: {' | '.join(parts)}.{kept} "
            f"Fix the data or the model, or set `severity: warn` on the test in "
            f"{model.path.name}; the results are in {RESULTS_TABLE} (run_id {run_id})."
        )
        failure.results = rows
        raise failure
    return rows


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Test results as a frame with its columns even when there is none."""
    return pd.DataFrame(rows, columns=list(_RESULTS_COLUMNS))


_RESULTS_COLUMNS = {c.name: c.type for c in state.TABLES[RESULTS_TABLE].columns}


def record_results(wh: Warehouse, rows: list[dict]) -> None:
    """Append result rows to starloom_test_results."""
    if not rows:
        return
    with wh.session():
        state.ensure(wh)
        df = pd.DataFrame(rows)
        for column, ctype in _RESULTS_COLUMNS.items():
            if column not in df:
                df[column] = "" if ctype == "String" else 0
        wh.insert_df(RESULTS_TABLE, df[list(_RESULTS_COLUMNS)])


def latest_results(wh: Warehouse) -> pd.DataFrame:
    """The latest result of every (model, test, column), newest first."""
    if not wh.table_exists(RESULTS_TABLE):
        return pd.DataFrame(columns=list(_RESULTS_COLUMNS))
    state.ensure(wh)
    return wh.query_df(
        f"SELECT * FROM {wh.qualified(RESULTS_TABLE)} ORDER BY checked_at DESC "
        "LIMIT 1 BY model, test, column"
    )


def parse_sample(sample: str) -> list[dict]:
    """The failing rows kept with a result, as a list of dicts."""
    return json.loads(sample) if sample else []
