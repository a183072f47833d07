"""Schema evolution per table: strict fails listing differences, additive adds new columns."""

from __future__ import annotations

import pytest
from tests.support.project import declare_feed, feed_file

from starloom.errors import StarloomError
from starloom.ingestion.load import ingest
from starloom.project import Project

COLUMNS = {"item_id": {"type": "int64", "nullable": False}, "name": {"type": "string"}}


def test_strict_schema_fails_on_a_new_column_listing_it(project, wh):
    declare_feed(project, COLUMNS, schema="strict")
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n")
    ingest(wh, "feed", run_date="2024-01-01")
    declare_feed(project, {**COLUMNS, "colour": {"type": "string"}}, schema="strict")
    feed_file(project, "2024-01-02").write_text("item_id,name,colour\n2,b,red\n")
    with pytest.raises(
        StarloomError,
        match=r"colour: absent in the warehouse, Nullable\(String\) in the contract\. "
        r"The table has `schema: strict`; set `schema: additive`",
    ):
        ingest(wh, "feed", run_date="2024-01-02")
    assert wh.count("raw_feed__items") == 1


def test_additive_schema_adds_new_columns_and_records_the_version(project, wh):
    declare_feed(project, COLUMNS, schema="additive")
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n")
    first = ingest(wh, "feed", run_date="2024-01-01").iloc[0]
    assert first.schema_changes == []
    declare_feed(project, {**COLUMNS, "colour": {"type": "string"}}, schema="additive")
    feed_file(project, "2024-01-02").write_text("item_id,name,colour\n2,b,red\n")
    second = ingest(wh, "feed", run_date="2024-01-02").iloc[0]
    assert second.schema_changes == ["added column colour Nullable(String)"]
    assert wh.query_rows("SELECT item_id, colour FROM raw_feed__items ORDER BY item_id") == [
        (1, None),
        (2, "red"),
    ]
    versions = wh.query_rows(
        "SELECT schema_version, schema_changes FROM starloom_loads ORDER BY started_at"
    )
    contract = Project.load(project).source("feed").entity("items").contract
    assert versions[1] == (contract.schema_version, ["added column colour Nullable(String)"])
    assert versions[0][0] != versions[1][0] and len(versions[0][0]) == 12
    cols = [r[0] for r in wh.query_rows("DESCRIBE TABLE raw_feed__items")]
    assert cols.index("colour") < cols.index("_load_id")  # contract columns stay first


def test_additive_schema_fails_on_a_removed_column(project, wh):
    declare_feed(project, {**COLUMNS, "colour": {"type": "string"}}, schema="additive")
    feed_file(project, "2024-01-01").write_text("item_id,name,colour\n1,a,red\n")
    ingest(wh, "feed", run_date="2024-01-01")
    declare_feed(project, COLUMNS, schema="additive")
    with pytest.raises(
        StarloomError,
        match=r"colour: Nullable\(String\) in the warehouse, absent in the contract\. "
        "Under `schema: additive` only new columns are accepted",
    ):
        ingest(wh, "feed", run_date="2024-01-02")


def test_additive_schema_fails_on_a_changed_type(project, wh):
    declare_feed(project, COLUMNS, schema="additive")
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n")
    ingest(wh, "feed", run_date="2024-01-01")
    declare_feed(project, {**COLUMNS, "name": {"type": "int64"}}, schema="additive")
    with pytest.raises(StarloomError, match=r"name: Nullable\(String\) in the warehouse, "):
        ingest(wh, "feed", run_date="2024-01-02")


def test_a_raw_table_of_the_older_layout_keeps_its_string_lineage_columns(project, wh):
    """Raw tables made before `_load_id` and `_source_file` became LowCardinality load on."""
    wh.command(
        "CREATE TABLE raw_feed__items (item_id Int64, name Nullable(String), _load_id String, "
        "_partition Date32, _source_file String, _source_line Nullable(Int64), "
        "_loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree "
        "PARTITION BY toYYYYMMDD(_partition) ORDER BY item_id"
    )
    declare_feed(project, COLUMNS, schema="strict")
    feed_file(project, "2024-01-01").write_text("item_id,name\n1,a\n2,b\n")
    assert ingest(wh, "feed", run_date="2024-01-01").iloc[0].rows_loaded == 2
    assert wh.query_rows(
        "SELECT _source_file, toTypeName(_source_file) FROM raw_feed__items LIMIT 1"
    ) == [("data/feed/date=2024-01-01/items.csv", "String")]
