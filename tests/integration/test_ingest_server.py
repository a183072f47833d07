"""Ingest into a ClickHouse server (the HTTP endpoint backed by real chdb): Arrow batches."""

from __future__ import annotations

import json

import pytest
from tests.support.project import write_source

from starloom.ingest import ingest
from starloom.settings import load_settings
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_files_and_change_events_load_into_a_server(project, clickhouse_server, monkeypatch):
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", clickhouse_server.url)
    wh = Warehouse(load_settings(project))
    assert not wh.embedded
    columns = {"item_id": {"type": "int64", "nullable": False}, "name": {"type": "string"}}
    specs = {
        "feed": {"format": "csv", "path": "data/feed/date=*/*.csv"},
        "crm": {"format": "debezium", "path": "data/crm/date=*/*.jsonl"},
    }
    for name, spec in specs.items():
        table = {"path": spec["path"], "primary_key": ["item_id"], "columns": columns}
        write_source(project, name, {"items": table}, kind="files", format=spec["format"])
    csv = project / "data/feed/date=2024-01-01/items.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("item_id,name\n1,a\n2,b\nx,c\n")
    events = project / "data/crm/date=2024-01-01/items.jsonl"
    events.parent.mkdir(parents=True)
    events.write_text(
        "\n".join(
            json.dumps(e)
            for e in (
                {"op": "c", "after": {"item_id": 1, "name": "a"}, "source": {"lsn": 1}},
                {"op": "u", "after": {"item_id": 1, "name": "b"}, "source": {"lsn": 2}},
                {"op": "c", "after": {"item_id": 2, "name": "z"}, "source": {"lsn": 3}},
                {"op": "d", "before": {"item_id": 2}, "source": {"lsn": 4}},
            )
        )
    )
    loads = ingest(wh, "feed", "2024-01-01")
    assert (loads.rows_loaded[0], loads.rows_quarantined[0]) == (2, 1)
    assert ingest(wh, "feed", "2024-01-01").rows_read[0] == 0  # unchanged file skipped
    assert wh.count("raw_feed__items") == 2
    ingest(wh, "crm", "2024-01-01")
    assert wh.query_rows("SELECT item_id, name FROM raw_crm__items FINAL") == [(1, "b")]
