"""The frames the notebook API returns keep their columns when there is nothing in them:
a notebook cell that selects columns works on a project with no sources yet, and on a
build whose models were all up to date."""

from __future__ import annotations

import shutil

import pytest
from tests.support.project import declare_feed, feed_file, write_model

import starloom
from starloom.ingestion.load import SUMMARY_COLUMNS
from starloom.models.runner import BUILD_COLUMNS

pytestmark = pytest.mark.usefixtures("project")

NOTEBOOK_LOAD_COLUMNS = ["source", "entity", "rows_read", "rows_loaded", "rows_quarantined"]
NOTEBOOK_TEST_COLUMNS = ["model", "test", "column", "severity", "failures", "status"]


def test_ingest_of_a_project_without_sources_is_an_empty_frame_with_the_usual_columns(project, wh):
    shutil.rmtree(project / "sources")
    (project / "sources").mkdir()
    loads = starloom.ingest(wh, run_date="2024-01-03")
    assert len(loads) == 0 and list(loads.columns) == SUMMARY_COLUMNS
    assert loads[[*NOTEBOOK_LOAD_COLUMNS, "notes"]].empty
    assert list(loads.load_id) == []
    assert wh.count("starloom_quarantine") == 0  # what the ingest notebook queries next


def test_a_load_has_the_same_columns_and_its_run_id(project, wh):
    shutil.rmtree(project / "sources")
    (project / "sources").mkdir()
    declare_feed(project, {"item_id": {"type": "int64"}, "name": {"type": "string"}})
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n2,b\n")
    loads = starloom.ingest(wh, run_date="2024-01-03", run_id="r-feed")
    assert sorted(loads.columns) == sorted(SUMMARY_COLUMNS)
    assert wh.query_rows("SELECT run_id, rows_loaded FROM starloom_loads") == [("r-feed", 2)]


def test_a_build_with_every_model_up_to_date_returns_frames_with_their_columns(wh, tmp_path):
    header = {"description": "Ids", "materialization": "table"}
    wh.command("CREATE TABLE raw_t__sales (id Int64) ENGINE = MergeTree ORDER BY id")
    wh.command("INSERT INTO raw_t__sales VALUES (1), (2)")
    sql = tmp_path / "sql"
    write_model(
        sql,
        "ids",
        {**header, "columns": {"id": {"tests": ["not_null"]}}},
        "SELECT id FROM {{ source('t', 'sales') }}",
    )
    starloom.build(wh, run_date="2024-01-03", sql_dir=sql)
    builds, tests = starloom.build(wh, run_date="2024-01-03", sql_dir=sql)
    assert list(builds.columns) == BUILD_COLUMNS and list(builds["mode"]) == ["up to date"]
    assert len(tests) == 0 and tests[NOTEBOOK_TEST_COLUMNS].empty
    assert (tests.status != "pass").sum() == 0


def test_a_query_without_rows_has_the_columns_of_the_query(wh):
    df = wh.query_df(
        "SELECT toInt64(1) AS n, toNullable(2) AS maybe, 'x' AS name WHERE n > {m:Int64} -- none",
        {"m": 5},
    )
    assert len(df) == 0 and list(df.columns) == ["n", "maybe", "name"]
    assert df[["n", "name"]].empty and str(df.n.dtype) == "int64"
    assert list(wh.query_df("SHOW TABLES LIKE 'nothing\\_%'").columns) in ([], ["name"])
