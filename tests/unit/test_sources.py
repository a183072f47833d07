"""Source declarations: what a YAML file may say, and the errors for what it may not."""

from __future__ import annotations

import pytest
import yaml

from starloom.errors import ConfigError
from starloom.ingestion.sources import load_source

COLUMNS = {"id": {"type": "int64"}, "changed_at": {"type": "datetime"}}


def write(tmp_path, **spec):
    path = tmp_path / "sources" / "src.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return load_source(path, tmp_path)


def sql(tmp_path, **table):
    return write(
        tmp_path,
        kind="sql",
        url="sqlite:///data/x.db",
        tables={"t": {"primary_key": ["id"], "columns": COLUMNS, **table}},
    )


def test_defaults_and_options(tmp_path):
    entity = sql(tmp_path).entity("t")
    assert (entity.mode, entity.schema, entity.contract.extra_columns) == (
        "snapshot",
        "strict",
        "ignore",
    )
    entity = sql(tmp_path, mode="incremental", cursor="changed_at", schema="additive").entity("t")
    assert (entity.mode, entity.cursor, entity.schema) == ("incremental", "changed_at", "additive")
    assert sql(tmp_path).url == f"sqlite:///{tmp_path}/data/x.db"


def test_incremental_needs_a_cursor_of_the_contract(tmp_path):
    with pytest.raises(ConfigError, match="needs a `cursor` column of the contract"):
        sql(tmp_path, mode="incremental", cursor="updated_at")


def test_incremental_is_for_database_tables(tmp_path):
    with pytest.raises(ConfigError, match="incremental for sql tables only"):
        write(
            tmp_path,
            kind="files",
            format="csv",
            tables={"t": {"path": "x/*.csv", "mode": "incremental", "columns": COLUMNS}},
        )


def test_unknown_policy_format_and_kind(tmp_path):
    with pytest.raises(ConfigError, match="`schema` must be one of"):
        sql(tmp_path, schema="loose")
    with pytest.raises(ConfigError, match="`format` must be one of .*parquet"):
        write(tmp_path, kind="files", format="xlsx", tables={})
    with pytest.raises(ConfigError, match="`kind` must be sql or files"):
        write(tmp_path, kind="api", tables={})
    with pytest.raises(ConfigError, match="`landing` must be parquet, or none for a csv source"):
        write(tmp_path, kind="files", format="jsonl", landing="none", tables={})
    with pytest.raises(ConfigError, match="`landing` must be parquet"):
        write(tmp_path, kind="files", format="csv", landing="s3", tables={})


def test_freshness_measures_a_timestamp_of_the_contract(tmp_path):
    hours = {"warn_after": {"hours": 1}}
    assert sql(tmp_path, freshness=hours).entity("t").freshness.column == "_loaded_at"
    assert sql(tmp_path, freshness={**hours, "column": "changed_at"}).entity("t").freshness
    with pytest.raises(ConfigError, match=r"'id' is an int64; freshness needs a timestamp"):
        sql(tmp_path, freshness={**hours, "column": "id"})
    with pytest.raises(ConfigError, match=r"'seen_at' is not a column of the contract"):
        sql(tmp_path, freshness={**hours, "column": "seen_at"})


def test_change_events_need_a_key(tmp_path):
    with pytest.raises(ConfigError, match="change events need a `primary_key`"):
        write(
            tmp_path,
            kind="files",
            format="debezium",
            tables={"t": {"path": "x/*.jsonl", "columns": COLUMNS}},
        )


def test_variables_in_urls_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("FEED_DIR", "/data/feed")
    src = write(
        tmp_path,
        kind="files",
        format="parquet",
        tables={"t": {"path": "${FEED_DIR}/date=*/*.parquet", "columns": COLUMNS}},
    )
    assert src.entity("t").path == "/data/feed/date=*/*.parquet"
    monkeypatch.delenv("FEED_DIR")
    with pytest.raises(ConfigError, match=r"uses \$\{FEED_DIR\}, which is not set"):
        write(
            tmp_path,
            kind="files",
            format="parquet",
            tables={"t": {"path": "${FEED_DIR}/*.parquet", "columns": COLUMNS}},
        )
