"""Model tests on real chdb: every kind of test, severities, failing rows, recorded results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from starloom.models import Model, data_tests
from starloom.models.config import parse_config
from starloom.models.data_tests import TestFailure


def _model(header: dict, name: str = "fct_sales") -> Model:
    path = Path(f"sql/marts/{name}.sql")
    return Model(name, path, "marts", "SELECT 1", parse_config(header, str(path)))


@pytest.fixture
def tables(wh):
    with wh.session():
        wh.command(
            f"CREATE TABLE {wh.qualified('dim_shop')} (shop_id Int64, name String) "
            "ENGINE = MergeTree ORDER BY shop_id"
        )
        wh.command(f"INSERT INTO {wh.qualified('dim_shop')} VALUES (1, 'a'), (2, 'b')")
        wh.command(
            f"CREATE TABLE {wh.qualified('fct_sales')} (sale_id Nullable(Int64), "
            "shop_id Nullable(Int64), status String, qty Int64) ENGINE = MergeTree ORDER BY tuple()"
        )
        wh.command(
            f"INSERT INTO {wh.qualified('fct_sales')} VALUES "
            "(1, 1, 'open', 1), (2, 2, 'shut', 2), (2, 9, 'lost', 0), (NULL, NULL, 'open', 3)"
        )
    return wh


def _run(wh, meta):
    return data_tests.run_model_tests(wh, _model(meta), "fct_sales", "run1")


CASES = [
    ("sale_id", "unique", 1),
    ("sale_id", "not_null", 1),
    ("status", {"accepted_values": {"values": ["open", "shut"]}}, 1),
    ("shop_id", {"relationships": {"to": "dim_shop", "field": "shop_id"}}, 1),
    ("qty", {"expression_is_true": {"expression": "qty >= 1"}}, 1),
]


@pytest.mark.parametrize("column,test,failing", CASES)
def test_each_column_test_counts_its_failing_rows(tables, column, test, failing):
    kind = test if isinstance(test, str) else next(iter(test))
    with pytest.raises(TestFailure) as info:
        _run(tables, {"columns": {column: {"tests": [test]}}})
    msg = str(info.value)
    assert "fct_sales" in msg and kind in msg and f"{failing} failing rows" in msg
    # the same test as a warning does not stop, and keeps the count and the sample
    warn = test if isinstance(test, str) else {kind: {**test[kind], "severity": "warn"}}
    if isinstance(warn, str):
        warn = {warn: {"severity": "warn"}}
    (row,) = _run(tables, {"columns": {column: {"tests": [warn]}}})
    assert (row["status"], row["failures"], row["test"]) == ("warn", failing, kind)
    assert data_tests.parse_sample(row["sample"])


def test_passing_tests_pass(tables):
    rows = _run(
        tables,
        {
            "columns": {
                "status": {
                    "tests": ["not_null", {"accepted_values": {"values": ["open", "shut", "lost"]}}]
                },
                "qty": {"tests": [{"expression_is_true": {"expression": "qty >= 0"}}]},
            },
            "tests": [{"sql": "SELECT * FROM {{ this }} WHERE qty > 100", "name": "no_bulk"}],
        },
    )
    assert [r["status"] for r in rows] == ["pass"] * 4
    assert rows[-1]["test"] == "no_bulk" and rows[-1]["column"] == ""


def test_failure_message_shows_failing_rows(tables):
    with pytest.raises(TestFailure) as info:
        _run(
            tables,
            {
                "columns": {
                    "shop_id": {
                        "tests": [{"relationships": {"to": "dim_shop", "field": "shop_id"}}]
                    }
                }
            },
        )
    msg = str(info.value)
    assert "relationships on shop_id" in msg
    assert "shop_id: 9" in msg and "status: lost" in msg  # the failing row itself


def test_custom_sql_test_with_ref_fails_and_is_recorded(tables):
    meta = {
        "tests": [
            {
                "sql": "SELECT s.* FROM {{ this }} AS s "
                "LEFT JOIN {{ ref('dim_shop') }} AS d ON d.shop_id = s.shop_id "
                "WHERE d.name = 'b'",
                "name": "no_sales_in_shop_b",
            },
            {"expression_is_true": {"expression": "qty < 3", "severity": "warn"}},
        ]
    }
    with pytest.raises(TestFailure, match="no_sales_in_shop_b: 1 failing rows"):
        _run(tables, meta)
    got = tables.query_df(
        "SELECT test, status, failures, run_id FROM starloom_test_results ORDER BY test"
    )
    assert got.to_dict(orient="records") == [
        {"test": "expression_is_true", "status": "warn", "failures": 1, "run_id": "run1"},
        {"test": "no_sales_in_shop_b", "status": "fail", "failures": 1, "run_id": "run1"},
    ]
    latest = data_tests.latest_results(tables)
    assert set(latest.test) == {"expression_is_true", "no_sales_in_shop_b"}


def test_accepted_values_are_bound_not_spliced(tables):
    quote = "it's \\ `odd`"
    tables.command(
        f"INSERT INTO {tables.qualified('fct_sales')} VALUES (7, 1, {{s:String}}, 1)", {"s": quote}
    )
    (row,) = _run(
        tables,
        {
            "columns": {
                "status": {
                    "tests": [{"accepted_values": {"values": ["open", "shut", "lost", quote]}}]
                }
            }
        },
    )
    assert row["status"] == "pass"


def test_results_table_of_an_older_version_gains_the_new_columns(wh):
    wh.command(
        f"CREATE TABLE {wh.qualified('starloom_test_results')} (run_id String, model String, "
        "test String, column String, severity String, failures UInt64, status String, "
        "checked_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY (model, checked_at)"
    )
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    row = {"run_id": "r", "model": "m", "test": "unique", "column": "c", "severity": "error",
           "failures": 0, "status": "pass", "checked_at": when}  # fmt: skip
    data_tests.record_results(wh, [row])
    got = wh.query_df("SELECT model, sample FROM starloom_test_results")
    assert got.to_dict(orient="records") == [{"model": "m", "sample": ""}]


def test_a_relationships_test_to_a_missing_column_or_model_says_what_to_fix(tables):
    """Without the check, ClickHouse read the missing column as the outer one and refused
    the query about correlated subqueries, naming neither model nor key."""
    from starloom.errors import ModelError

    wrong_field = {"relationships": {"to": "dim_shop", "field": "shop"}}
    with pytest.raises(ModelError, match=r"dim_shop has no column 'shop' \(its columns: "
                       r"shop_id, name\)\. Fix `field:`"):  # fmt: skip
        _run(tables, {"columns": {"shop_id": {"tests": [wrong_field]}}})
    wrong_model = {"relationships": {"to": "dim_shops", "field": "shop_id"}}
    with pytest.raises(ModelError, match=r"reads 'dim_shops', which is not built"):
        _run(tables, {"columns": {"shop_id": {"tests": [wrong_model]}}})


def test_a_relationships_field_named_like_a_column_of_the_model_is_the_other_models(tables):
    """`field` is read in the model the test points to, even when the model under test has
    a column of the same name."""
    tables.command(
        f"CREATE TABLE {tables.qualified('dim_status')} (code String, status String) "
        "ENGINE = MergeTree ORDER BY code"
    )
    tables.command(f"INSERT INTO {tables.qualified('dim_status')} VALUES ('open', 'x')")
    test = {"relationships": {"to": "dim_status", "field": "code"}}
    with pytest.raises(TestFailure, match="2 failing rows"):  # shut, lost
        _run(tables, {"columns": {"status": {"tests": [test]}}})


def test_failing_rows_show_a_date_as_a_day_and_a_time_at_midnight_as_a_time(wh):
    wh.command(
        f"CREATE TABLE {wh.qualified('fct_sales')} (day Date, at DateTime, "
        "late Nullable(Date32), qty Int64) ENGINE = MergeTree ORDER BY day"
    )
    wh.command(
        f"INSERT INTO {wh.qualified('fct_sales')} VALUES ('2024-01-05', '2024-01-05 00:00:00', "
        "NULL, 0)"
    )
    test = {"expression_is_true": {"expression": "qty >= 1"}}
    with pytest.raises(TestFailure) as info:
        _run(wh, {"columns": {"qty": {"tests": [test]}}})
    assert "{day: 2024-01-05, at: 2024-01-05 00:00:00, late: NULL, qty: 0}" in str(info.value)
    warn = {"expression_is_true": {**test["expression_is_true"], "severity": "warn"}}
    (row,) = _run(wh, {"columns": {"qty": {"tests": [warn]}}})
    (sample,) = data_tests.parse_sample(row["sample"])
    assert (sample["day"], sample["late"]) == ("2024-01-05", None)
    assert data_tests.row_text(sample) == (
        "{day: 2024-01-05, at: 2024-01-05 00:00:00, late: NULL, qty: 0}"
    )


def test_a_test_whose_query_fails_is_an_error_never_a_pass(tables):
    broken = {"expression_is_true": {"expression": "no_such_column > 0"}}
    with pytest.raises(TestFailure, match=r"expression_is_true on qty: its query failed"):
        _run(tables, {"columns": {"qty": {"tests": ["not_null", broken]}}})
    got = tables.query_df("SELECT test, status, failures FROM starloom_test_results ORDER BY test")
    assert got.to_dict(orient="records") == [
        {"test": "expression_is_true", "status": "error", "failures": 0},
        {"test": "not_null", "status": "pass", "failures": 0},
    ]
    # a warning's query that fails does not stop the build, and is an error all the same
    warn = {"expression_is_true": {"expression": "no_such_column > 0", "severity": "warn"}}
    (row,) = _run(tables, {"columns": {"qty": {"tests": [warn]}}})
    assert row["status"] == "error"
    assert "no_such_column" in data_tests.parse_sample(row["sample"])[0]["error"]


def test_a_test_may_use_the_run_date_as_the_models_sql_does(tables):
    """An expression or a test's SQL binds {run_date:Date} (and {lookback_start:Date}): the
    same rows pass on one run date and fail on an earlier one."""
    tables.command(
        f"CREATE TABLE {tables.qualified('fct_days')} (day Date) ENGINE = MergeTree ORDER BY day"
    )
    tables.command(f"INSERT INTO {tables.qualified('fct_days')} VALUES ('2024-01-05')")
    meta = {
        "tests": [
            {"sql": "SELECT * FROM {{ this }} WHERE day > {run_date:Date}", "name": "no_future"},
            {"expression_is_true": {"expression": "day >= {lookback_start:Date}"}},
        ]
    }
    model = _model(meta, "fct_days")
    params = {"run_date": dt.date(2024, 1, 5), "lookback_start": dt.date(2024, 1, 5)}
    rows = data_tests.run_model_tests(tables, model, "fct_days", "r1", params=params)
    assert [r["status"] for r in rows] == ["pass", "pass"]
    params = {"run_date": dt.date(2024, 1, 4), "lookback_start": dt.date(2024, 1, 6)}
    with pytest.raises(TestFailure) as info:
        data_tests.run_model_tests(tables, model, "fct_days", "r2", params=params)
    assert [(r["test"], r["failures"]) for r in info.value.results] == [
        ("no_future", 1),
        ("expression_is_true", 1),
    ]
