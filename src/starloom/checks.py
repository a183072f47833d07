"""Tests declared on models (unique, not_null, accepted_values, relationships), run on the
table a build produced before it is swapped in; results kept in starloom_test_results."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from starloom.errors import ModelError
from starloom.warehouse import Warehouse, quote_identifier

if TYPE_CHECKING:
    from starloom.models import Model


def tests_sql(wh: Warehouse, model: Model, table: str) -> list[tuple[str, str, str, str]]:
    """(test name, column, severity, SQL counting failing rows) for each declared test."""
    t = wh.qualified(table)
    out = []
    for column, spec in model.columns.items():
        col = quote_identifier(column)
        for test in (spec or {}).get("tests") or []:
            name, args = (test, {}) if isinstance(test, str) else next(iter(test.items()))
            args = args or {}
            severity = args.get("severity", "error") if isinstance(args, dict) else "error"
            if name == "unique":
                sql = (
                    f"SELECT count() FROM (SELECT {col} FROM {t} GROUP BY {col} HAVING count() > 1)"
                )
            elif name == "not_null":
                sql = f"SELECT countIf({col} IS NULL) FROM {t}"
            elif name == "accepted_values":
                values = ", ".join(
                    "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
                    for v in args["values"]
                )
                sql = f"SELECT countIf({col} NOT IN ({values})) FROM {t}"
            elif name == "relationships":
                other = wh.qualified(args["to"])
                sql = (
                    f"SELECT count() FROM {t} WHERE {col} NOT IN "
                    f"(SELECT {quote_identifier(args['field'])} FROM {other})"
                )
            else:
                raise ModelError(f"{model.path}: unknown test {name!r} on column {column}.")
            out.append((name, column, severity, sql))
    return out


def run_model_tests(wh, model: Model, table: str, run_id: str, shown_as: str | None = None) -> list:
    rows = []
    for test, column, severity, sql in tests_sql(wh, model, table):
        failures = int(wh.scalar(sql))
        rows.append(
            {
                "run_id": run_id,
                "model": shown_as or table,
                "test": test,
                "column": column,
                "severity": severity,
                "failures": failures,
                "status": "pass" if failures == 0 else ("fail" if severity == "error" else "warn"),
                "checked_at": dt.datetime.now(dt.UTC),
            }
        )
    failed = [r for r in rows if r["status"] == "fail"]
    if failed:
        record_results(wh, rows)
        lines = "; ".join(
            f"{r['test']} on {r['column']}: {r['failures']} failing rows" for r in failed
        )
        raise ModelError(
            f"Model {shown_as or table} ({model.path.name}) failed its tests: {lines}. "
            "The previous table was kept."
        )
    return rows


def record_results(wh: Warehouse, rows: list[dict]) -> None:
    wh.command(f"""CREATE TABLE IF NOT EXISTS {wh.qualified("starloom_test_results")} (
        run_id String, model String, test String, column String, severity String,
        failures UInt64, status String, checked_at DateTime64(3, 'UTC')
    ) ENGINE = MergeTree ORDER BY (model, checked_at)""")
    wh.insert_df("starloom_test_results", pd.DataFrame(rows))
