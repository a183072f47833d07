"""The summary of a run is read back from the warehouse by its run id: rows loaded per raw
table, models built or up to date, test results; another run's records are not counted."""

from __future__ import annotations

import shutil

import pytest
from tests.support.project import declare_feed, feed_file, write_model

import starloom
from starloom.run_summary import summarize

pytestmark = pytest.mark.usefixtures("project")


@pytest.fixture
def feed_project(project, tmp_path):
    shutil.rmtree(project / "sources")
    (project / "sources").mkdir()
    declare_feed(project, {"item_id": {"type": "int64"}, "name": {"type": "string"}})
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n2,b\nx,c\n")
    sql = tmp_path / "sql"
    write_model(
        sql,
        "stg_feed__items",
        {"description": "Items", "materialization": "view"},
        "SELECT item_id, name FROM {{ source('feed', 'items') }}",
        layer="staging",
    )
    write_model(
        sql,
        "dim_items",
        {
            "description": "Items",
            "materialization": "table",
            "columns": {"item_id": {"tests": ["unique", "not_null"]}},
        },
        "SELECT item_id, name FROM {{ ref('stg_feed__items') }}",
    )
    return sql


def test_a_run_then_a_rerun_with_nothing_new(wh, feed_project):
    starloom.ingest(wh, run_date="2024-01-03", run_id="first")
    starloom.build(wh, run_date="2024-01-03", run_id="first", sql_dir=feed_project)
    starloom.ingest(wh, run_date="2024-01-03", run_id="second")
    starloom.build(wh, run_date="2024-01-03", run_id="second", sql_dir=feed_project)

    first = summarize(wh, "first", ran={"ingest": 1.0}, run_date="2024-01-03")
    assert first.loads == {"raw_feed__items": (2, 1)}
    assert first.models_built == ["stg_feed__items", "dim_items"]
    assert first.models_skipped == []
    assert first.tests == {"pass": 2}  # unique and not_null of dim_items
    assert "raw_feed__items: 2 rows (1 quarantined)" in str(first)

    second = summarize(wh, "second")
    assert second.loads == {"raw_feed__items": (0, 0)}
    assert second.models_built == ["stg_feed__items"]  # a view is made again
    assert second.models_skipped == ["dim_items"]
    assert second.tests == {}
    assert not second.unread


def test_a_run_id_that_wrote_nothing(wh):
    summary = summarize(wh, "never")
    assert (summary.loads, summary.models_built, summary.tests) == ({}, [], {})
    assert "loads   nothing loaded in this run" in str(summary)


def test_a_test_whose_query_failed_is_counted_as_failed(wh, feed_project):
    dim = feed_project / "marts" / "dim_items.sql"
    broken = "- expression_is_true: {expression: nope > 0}"
    dim.write_text(dim.read_text().replace("- not_null", broken))
    assert "nope > 0" in dim.read_text()
    starloom.ingest(wh, run_date="2024-01-03", run_id="broken")
    with pytest.raises(starloom.models.data_tests.TestFailure, match="its query failed"):
        starloom.build(wh, run_date="2024-01-03", run_id="broken", sql_dir=feed_project)
    summary = summarize(wh, "broken")
    assert summary.tests == {"pass": 1, "error": 1} and summary.tests_failed == 1
    assert "  tests   1 passed, 0 warned, 1 failed (1 errored: its query failed)" in str(summary)


def test_a_refused_file_and_a_failed_model_are_read_back(project, wh, feed_project):
    feed_file(project, "2024-01-02").write_text("")  # refused: the other day loads
    with pytest.raises(starloom.errors.SourceError):
        starloom.ingest(wh, run_date="2024-01-03", run_id="bad")
    dim = feed_project / "marts" / "dim_items.sql"
    dim.write_text(dim.read_text().replace("SELECT item_id, name", "SELECT item_id, nope"))
    with pytest.raises(starloom.errors.StarloomError, match="nope"):
        starloom.build(wh, run_date="2024-01-03", run_id="bad", sql_dir=feed_project)
    summary = summarize(wh, "bad")
    assert summary.refused == {"raw_feed__items": "1 file(s) refused"}
    assert (summary.models_built, summary.models_failed) == (["stg_feed__items"], ["dim_items"])
    assert "raw_feed__items: 2 rows (1 quarantined), 1 file(s) refused" in str(summary)
