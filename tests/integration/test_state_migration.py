"""A warehouse left by an older release: its bookkeeping tables short of columns, some
absent, no recorded versions. The next ensure (or load) brings it up to date, keeps the old
rows with the declared defaults, records the versions, and later ones change nothing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from tests.support.project import make_demo

from starloom.ingestion.load import ingest
from starloom.warehouse import Warehouse, state

pytestmark = pytest.mark.usefixtures("project")

# the tables as the release before the newest columns made them (written out here, as the
# old code wrote them)
OLD_TABLES = {
    "starloom_loads": """(
        load_id String, source String, entity String, run_date Date32,
        partitions Array(Date32), rows_read UInt64, rows_loaded UInt64,
        rows_quarantined UInt64, seconds Float64, started_at DateTime64(3, 'UTC')
    ) ENGINE = MergeTree ORDER BY (source, entity, started_at)""",
    "starloom_manifest": """(
        source String, entity String, file String, partition Date32, size UInt64,
        sha256 String, load_id String, loaded_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(loaded_at) ORDER BY (source, entity, file)""",
    "starloom_test_results": """(
        run_id String, model String, test String, `column` String, severity String,
        failures UInt64, status String, checked_at DateTime64(3, 'UTC')
    ) ENGINE = MergeTree ORDER BY (model, checked_at)""",
}


def _old_warehouse(wh: Warehouse) -> None:
    for name, body in OLD_TABLES.items():
        wh.command(f"CREATE TABLE {wh.qualified(name)} {body}")
    wh.command(
        "INSERT INTO starloom_loads VALUES ('old.load', 'events', 'events', '2023-12-31', "
        "['2023-12-31'], 10, 9, 1, 0.5, '2023-12-31 10:00:00')"
    )
    wh.command(
        "INSERT INTO starloom_manifest VALUES ('events', 'events', 'data/old.jsonl', "
        "'2023-12-31', 100, 'abc', 'old.load', '2023-12-31 10:00:00')"
    )
    wh.command(
        "INSERT INTO starloom_test_results VALUES ('r0', 'fct_orders', 'unique', 'order_id', "
        "'error', 0, 'pass', '2023-12-31 10:00:00')"
    )


def _columns(wh: Warehouse, table: str) -> set[str]:
    rows = wh.query_rows(
        "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String}",
        {"d": wh.database, "t": table},
    )
    return {r[0] for r in rows}


def _recorded(wh: Warehouse) -> dict[str, int]:
    rows = wh.query_rows("SELECT `table`, version FROM starloom_state FINAL")
    return {name: int(version) for name, version in rows}


class Recording:
    """The statements and queries a Warehouse is sent."""

    def __init__(self, wh: Warehouse, monkeypatch):
        self.commands: list[str] = []
        self.queries: list[str] = []
        command, query_rows = wh.command, wh.query_rows

        def record_command(sql, *args, **kwargs):
            self.commands.append(sql)
            return command(sql, *args, **kwargs)

        def record_query(sql, *args, **kwargs):
            self.queries.append(sql)
            return query_rows(sql, *args, **kwargs)

        monkeypatch.setattr(wh, "command", record_command)
        monkeypatch.setattr(wh, "query_rows", record_query)


def test_ensure_brings_an_old_warehouse_up_to_date_and_keeps_its_rows(wh, monkeypatch):
    _old_warehouse(wh)
    ran = state.ensure(wh)
    alters = [s for s in ran if s.startswith("ALTER")]
    assert len(alters) == 3  # one per old table, all its missing columns at once
    assert sum(s.startswith("CREATE") for s in ran) == len(state.TABLES) - len(OLD_TABLES)
    for table in state.TABLES.values():
        assert _columns(wh, table.name) >= set(table.column_names()), table.name
    assert _recorded(wh) == state.current_versions()

    old = wh.query_df("SELECT * FROM starloom_loads WHERE load_id = 'old.load'").iloc[0]
    assert (old.rows_read, old.rows_loaded, old.rows_quarantined) == (10, 9, 1)
    assert old.run_id == "" and list(old.notes) == [] and old.rows_engine == 0
    assert old.error == ""  # not refused: the column of version 3, its default
    assert wh.scalar("SELECT mtime_ns FROM starloom_manifest") == 0
    assert wh.scalar("SELECT sample FROM starloom_test_results WHERE run_id = 'r0'") == ""

    again = Warehouse(wh.settings)  # another process, later
    recording = Recording(again, monkeypatch)
    assert state.ensure(again) == []
    assert recording.commands == []
    assert len(recording.queries) == 1  # the recorded versions, nothing more
    with again.session():
        state.ensure(again)
        state.ensure(again)
    assert len(recording.queries) == 2  # once per connection


def test_a_load_on_an_old_warehouse_adds_the_columns_and_records_its_run(project, wh):
    _old_warehouse(wh)
    make_demo(project)
    loads = ingest(wh, "events", run_date="2024-01-03", run_id="run-after-upgrade")
    assert len(loads) == 1
    rows = wh.query_df("SELECT load_id, run_id, rows_read FROM starloom_loads ORDER BY started_at")
    assert list(rows.load_id)[0] == "old.load" and list(rows.run_id) == ["", "run-after-upgrade"]
    assert rows.rows_read.iloc[1] == loads.rows_read.iloc[0]
    assert wh.scalar("SELECT count() FROM starloom_manifest WHERE mtime_ns > 0") > 0
    assert _recorded(wh) == state.current_versions()


def test_a_table_dropped_after_its_version_was_recorded_is_made_again(wh):
    state.ensure(wh)
    wh.command("DROP TABLE starloom_runs")
    ran = state.ensure(Warehouse(wh.settings))
    assert len(ran) == 1 and ran[0].startswith("CREATE TABLE IF NOT EXISTS")
    assert "starloom_runs" in wh.tables()


def test_a_version_recorded_older_than_the_registry_is_migrated(wh):
    state.ensure(wh)
    wh.command("ALTER TABLE starloom_loads DROP COLUMN run_id")
    wh.insert_df(
        "starloom_state",
        pd.DataFrame(
            [
                {
                    "table": "starloom_loads",
                    "version": 1,
                    "migrated_at": dt.datetime.now(dt.UTC),
                }
            ]
        ),
    )
    ran = state.ensure(Warehouse(wh.settings))
    assert ran == [
        f"ALTER TABLE {wh.qualified('starloom_loads')} ADD COLUMN IF NOT EXISTS `run_id` String"
    ]
    assert "run_id" in _columns(wh, "starloom_loads")
    assert _recorded(wh)["starloom_loads"] == state.TABLES["starloom_loads"].version
