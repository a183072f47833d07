"""Ingest into a ClickHouse server (the HTTP endpoint backed by real chdb): Arrow batches."""

from __future__ import annotations

import json

import pytest
from tests.support.project import write_source

from starloom.ingestion.load import ingest
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
    loads = ingest(wh, "feed", run_date="2024-01-01")
    assert (loads.rows_loaded[0], loads.rows_quarantined[0]) == (2, 1)
    assert ingest(wh, "feed", run_date="2024-01-01").rows_read[0] == 0  # unchanged file skipped
    assert wh.count("raw_feed__items") == 2
    ingest(wh, "crm", run_date="2024-01-01")
    assert wh.query_rows("SELECT item_id, name FROM raw_crm__items FINAL") == [(1, "b")]


def _two_at_once(script: str) -> list[str]:
    """Run `script` in two Python processes at once; both must succeed. Their outputs."""
    import subprocess
    import sys

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err[-2000:] for _, err in outs]
    return [out for out, _ in outs]


def test_two_loads_of_one_table_on_a_server_take_turns(project, clickhouse_server, monkeypatch):
    """Two processes' loads of one table at once, round after round: both succeed, in turn,
    and the table holds each key once (before the lock, one of the two failed every round)."""
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", clickhouse_server.url)
    columns = {"item_id": {"type": "int64", "nullable": False}, "name": {"type": "string"}}
    table = {"path": "data/feed/date=*/*.csv", "primary_key": ["item_id"], "columns": columns}
    write_source(project, "feed", {"items": table}, kind="files", format="csv")
    for day in range(1, 4):
        path = project / f"data/feed/date=2024-01-0{day}/items.csv"
        path.parent.mkdir(parents=True)
        path.write_text("item_id,name\n" + "".join(f"{i},n{i}\n" for i in range(2000)))
    script = (
        "import sys; import starloom; "
        "print(starloom.ingest(starloom.Warehouse(), 'feed', run_date='2024-01-03', "
        "full_refresh=True).rows_loaded[0])"
    )
    for _ in range(3):
        outs = _two_at_once(script)
        assert [out.split()[-1] for out in outs] == ["6000", "6000"]
    wh = Warehouse(load_settings(project))
    assert wh.query_rows("SELECT count(), uniqExact(_partition, item_id) FROM raw_feed__items") == [
        (6000, 6000)
    ]
    assert not wh.query_rows("SELECT name FROM system.tables WHERE name LIKE '\\_starloom%'")


def test_a_lock_held_too_long_names_its_holder(project, clickhouse_server, monkeypatch):
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", clickhouse_server.url)
    monkeypatch.setenv("STARLOOM_LOCK_TIMEOUT", "1")
    first, second = Warehouse(load_settings(project)), Warehouse(load_settings(project))
    with first.writer_lock("raw_feed__items"):
        with pytest.raises(
            Exception,
            match=r"raw_feed__items is being written by another run \(.+ pid \d+ since .+ UTC\); "
            r"waited 1 s.*DROP TABLE",
        ):
            with second.writer_lock("raw_feed__items"):
                pass
    with second.writer_lock("raw_feed__items"):  # released: the next one gets it
        pass


def test_two_builds_of_the_same_models_on_a_server_take_turns(
    project, clickhouse_server, monkeypatch, tmp_path
):
    """Two processes build the same table and incremental models at once, round after
    round: both succeed, and each model ends as one build alone leaves it (before the
    per-model lock, one of the two failed every round)."""
    from tests.support.project import write_model

    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", clickhouse_server.url)
    wh = Warehouse(load_settings(project))
    wh.command(
        f"CREATE TABLE {wh.qualified('raw_t__sales')} (id Int64, day Date, amount Int64) "
        "ENGINE = MergeTree ORDER BY id"
    )
    wh.command(
        f"INSERT INTO {wh.qualified('raw_t__sales')} SELECT number, "
        "toDate('2024-01-01') + number % 5, number % 97 FROM numbers(20000)"
    )
    sql_dir = tmp_path / "sql"
    daily = {"description": "Sales per day", "materialization": "table", "order_by": ["day"]}
    write_model(
        sql_dir, "daily", daily,
        "SELECT day, sum(amount) AS amount FROM {{ source('t', 'sales') }} GROUP BY day",
    )  # fmt: skip
    sales = {
        "description": "Sales",
        "materialization": "incremental",
        "unique_key": ["id"],
        "order_by": ["id"],
    }
    write_model(sql_dir, "sales", sales, "SELECT id, day, amount FROM {{ source('t', 'sales') }}")
    script = (
        "import starloom; builds, tests = starloom.build(starloom.Warehouse(), None, "
        f"run_date='2024-01-05', sql_dir={str(sql_dir)!r}, full_refresh=True); "
        "print(sorted(builds.model))"
    )
    for _ in range(3):
        _two_at_once(script)
    expected = wh.query_rows(
        f"SELECT day, sum(amount) FROM {wh.qualified('raw_t__sales')} GROUP BY day ORDER BY day"
    )
    assert wh.query_rows(f"SELECT day, amount FROM {wh.qualified('daily')} ORDER BY day") == (
        expected
    )
    assert wh.query_rows(
        f"SELECT count(), uniqExact(id), sum(amount) FROM {wh.qualified('sales')}"
    ) == wh.query_rows(f"SELECT count(), count(), sum(amount) FROM {wh.qualified('raw_t__sales')}")
    leftovers = wh.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String} AND "
        "(name LIKE '\\_starloom%' OR name LIKE '%\\_\\_new')",
        {"d": wh.database},
    )
    assert not leftovers
