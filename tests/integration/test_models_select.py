"""Selecting models as in dbt (+upstream, downstream+, layers), testing without building,
and a build that stops keeping the results of the models before it. Real embedded engine."""

from __future__ import annotations

import pytest
from tests.support.project import write_model

from starloom import models
from starloom.errors import ModelError
from starloom.models.data_tests import TestFailure

pytestmark = pytest.mark.usefixtures("project")


@pytest.fixture
def sql_dir(tmp_path, wh):
    wh.command("CREATE TABLE raw_t__sales (id Int64, amount Int64) ENGINE = MergeTree ORDER BY id")
    wh.command("INSERT INTO raw_t__sales VALUES (1, 5), (2, 7)")
    sql = tmp_path / "sql"
    table = {"materialization": "table"}
    write_model(sql, "stg_sales", {}, "SELECT * FROM {{ source('t', 'sales') }}", "staging")
    totals = "SELECT id, sum(amount) AS amount FROM {{ ref('stg_sales') }} GROUP BY id"
    write_model(sql, "totals", table, totals)
    write_model(sql, "big", table, "SELECT * FROM {{ ref('totals') }} WHERE amount > 5")
    write_model(sql, "other", table, "SELECT 1 AS x")
    return sql


def names(wh, sql_dir, select) -> list[str]:
    builds, _ = models.build(wh, select, run_date="2024-01-05", sql_dir=sql_dir)
    return list(builds.model)


def test_selectors(wh, sql_dir):
    assert names(wh, sql_dir, "+totals") == ["stg_sales", "totals"]
    assert names(wh, sql_dir, "totals+") == ["totals", "big"]
    assert names(wh, sql_dir, "staging") == ["stg_sales"]
    assert sorted(names(wh, sql_dir, "other stg_sales")) == ["other", "stg_sales"]
    chosen = names(wh, sql_dir, ["+big", "other"])
    assert sorted(chosen) == ["big", "other", "stg_sales", "totals"]
    assert chosen.index("stg_sales") < chosen.index("totals") < chosen.index("big")
    with pytest.raises(ModelError, match="No model or layer named 'totls'. Did you mean 'totals'"):
        names(wh, sql_dir, "totls")


def test_an_up_to_date_build_returns_frames_with_their_columns(wh, sql_dir):
    models.build(wh, run_date="2024-01-05", sql_dir=sql_dir)
    builds, tests = models.build(wh, "marts", run_date="2024-01-05", sql_dir=sql_dir)
    assert set(builds["mode"]) == {"up to date"}
    assert list(tests.columns[:4]) == ["run_id", "model", "test", "column"] and tests.empty


def test_tests_run_on_the_built_tables_without_building(wh, sql_dir):
    write_model(
        sql_dir, "totals", {"materialization": "table", "columns": {"amount": {"tests": [
            {"accepted_values": {"values": [5]}}]}}},
        "SELECT id, sum(amount) AS amount FROM {{ ref('stg_sales') }} GROUP BY id",
    )  # fmt: skip
    with pytest.raises(TestFailure):
        models.build(wh, run_date="2024-01-05", sql_dir=sql_dir)
    results = models.test(wh, "totals", sql_dir=sql_dir) if wh.table_exists("totals") else None
    assert results is None  # the failing build kept no table
    write_model(sql_dir, "totals", {"materialization": "table"}, "SELECT 1 AS id, 5 AS amount")
    models.build(wh, "totals", run_date="2024-01-05", sql_dir=sql_dir)
    write_model(
        sql_dir, "totals", {"materialization": "table", "columns": {"amount": {"tests": [
            {"accepted_values": {"values": [7]}}, "not_null"]}}},
        "SELECT 1 AS id, 5 AS amount",
    )  # fmt: skip
    results = models.test(wh, "totals", sql_dir=sql_dir)
    assert sorted(results.status) == ["fail", "pass"]
    assert wh.scalar("SELECT count() FROM starloom_test_results WHERE model = 'totals' "
                     "AND status = 'fail'") >= 1  # fmt: skip


def test_a_build_that_stops_keeps_the_results_of_the_models_before(wh, sql_dir):
    write_model(
        sql_dir, "stg_sales", {"columns": {"id": {"tests": ["unique"]}}},
        "SELECT * FROM {{ source('t', 'sales') }}", "staging",
    )  # fmt: skip
    write_model(
        sql_dir, "big", {"materialization": "table", "columns": {"x": {"tests": ["not_null"]}}},
        "SELECT CAST(NULL AS Nullable(Int64)) AS x FROM {{ ref('totals') }}",
    )  # fmt: skip
    with pytest.raises(TestFailure, match="Model big"):
        models.build(wh, run_date="2024-01-05", sql_dir=sql_dir)
    recorded = wh.query_rows("SELECT model, status FROM starloom_test_results ORDER BY model")
    assert ("stg_sales", "pass") in recorded and ("big", "fail") in recorded


def test_a_severity_beside_a_column_test_is_read_as_its_own(wh, sql_dir):
    write_model(
        sql_dir, "big", {"materialization": "table", "columns": {"id": {"tests": [
            {"accepted_values": {"values": [99]}, "severity": "warn"}]}}},
        "SELECT * FROM {{ ref('totals') }}",
    )  # fmt: skip
    _, tests = models.build(wh, run_date="2024-01-05", sql_dir=sql_dir)
    assert tests[tests.model == "big"].status.tolist() == ["warn"]


def test_the_cli_exits_1_on_a_failing_test_and_passes_run_options_to_ploomber(
    project, wh, sql_dir, monkeypatch
):
    import shutil

    from starloom import cli, ploomber_build

    write_model(
        sql_dir, "big", {"materialization": "table", "columns": {"id": {"tests": [
            {"accepted_values": {"values": [99]}}]}}},
        "SELECT * FROM {{ ref('totals') }}",
    )  # fmt: skip
    shutil.rmtree(project / "sql")
    shutil.copytree(sql_dir, project / "sql")  # the project's models are these
    assert cli.main(["build", "+big", "--run-date", "2024-01-05"]) == 1
    called = []

    def build(args, project_dir=None):
        called.append(list(args))
        return ploomber_build.BuildResult(status=0, run_id="r")

    monkeypatch.setattr(ploomber_build, "build", build)
    assert cli.main(["run", "--env--run_date", "2024-01-03"]) == 0
    assert cli.main(["run", "--", "--force"]) == 0
    assert called == [["--env--run_date", "2024-01-03"], ["--force"]]


def test_a_move_of_partitions_cut_off_makes_the_next_build_a_full_one(wh, sql_dir):
    write_model(
        sql_dir, "daily",
        {"materialization": "incremental", "incremental_strategy": "replace_partitions",
         "partition_by": "id"},
        "SELECT id, amount FROM {{ ref('stg_sales') }}",
    )  # fmt: skip
    first, _ = models.build(wh, "+daily", run_date="2024-01-05", sql_dir=sql_dir)
    assert dict(zip(first.model, first["mode"]))["daily"] == "full"
    builds, _ = models.build(wh, "daily", run_date="2024-01-05", sql_dir=sql_dir)
    assert builds["mode"].tolist() == ["up to date"]
    assert not wh.table_exists("daily__moving")
    wh.command("CREATE TABLE daily__moving (started DateTime) ENGINE = TinyLog")  # a kill
    builds, _ = models.build(wh, "daily", run_date="2024-01-05", sql_dir=sql_dir)
    assert builds["mode"].tolist() == ["full"] and not wh.table_exists("daily__moving")
    assert wh.query_rows("SELECT id, amount FROM daily ORDER BY id") == [(1, 5), (2, 7)]


@pytest.mark.parametrize(
    "sql,engine_says",
    [
        ("SELECT amount_typo FROM {{ source('t', 'sales') }}", "UNKNOWN_IDENTIFIER"),
        ("SELECT id,, amount FROM {{ source('t', 'sales') }}", "Syntax error"),
    ],
)
def test_sql_the_engine_refuses_is_an_error_naming_the_model_and_its_file(
    wh, project, sql, engine_says
):
    wh.command("CREATE TABLE raw_t__sales (id Int64, amount Int64) ENGINE = MergeTree ORDER BY id")
    write_model(project / "sql", "typo", {"materialization": "table"}, sql)
    with pytest.raises(ModelError) as info:
        models.build(wh, "typo", run_date="2024-01-05")
    message = str(info.value)
    assert message.startswith("Model typo (sql/marts/typo.sql) could not be built")
    assert engine_says in message and str(project) not in message
