"""A build skips a table model, with its tests, when nothing it reads has changed since its
last build; whatever changes (new rows, its SQL, a table its tests read, its run date, its
own table) makes it build again. On the real embedded engine, with small models."""

from __future__ import annotations

import pytest
from tests.support.project import write_model

from starloom import models
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("project")

UP_TO_DATE = "up to date"


def table(description: str, **extra) -> dict:
    return {"description": description, "materialization": "table", **extra}


def set_rows(wh: Warehouse, rows: list[tuple[int, int]]) -> None:
    """The source table raw_t__sales holds exactly `rows` (id, amount)."""
    wh.command(
        "CREATE TABLE IF NOT EXISTS raw_t__sales (id Int64, amount Int64) "
        "ENGINE = MergeTree ORDER BY id"
    )
    wh.command("TRUNCATE TABLE raw_t__sales")
    wh.command("INSERT INTO raw_t__sales VALUES " + ", ".join(f"({i}, {a})" for i, a in rows))


@pytest.fixture
def sql_dir(tmp_path):
    sql = tmp_path / "sql"
    write_model(
        sql,
        "totals",
        table("Total per id", columns={"id": {"tests": ["unique"]}}),
        "SELECT id, sum(amount) AS amount FROM {{ source('t', 'sales') }} GROUP BY id",
    )
    write_model(
        sql, "big", table("Large totals"), "SELECT * FROM {{ ref('totals') }} WHERE amount > 5"
    )
    write_model(
        sql,
        "recent",
        {"description": "Sales as a view", "materialization": "view"},
        "SELECT * FROM {{ source('t', 'sales') }}",
    )
    write_model(
        sql, "counted", table("Rows of the view"), "SELECT count() AS n FROM {{ ref('recent') }}"
    )
    return sql


def modes(wh, sql_dir, **kw) -> dict[str, str]:
    builds, _ = models.build(wh, run_date="2024-01-05", sql_dir=sql_dir, **kw)
    return dict(zip(builds.model, builds["mode"], strict=True))


def test_a_second_build_with_nothing_new_skips_every_table_and_its_tests(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    assert modes(wh, sql_dir) == {
        "totals": "full",
        "big": "full",
        "recent": "full",
        "counted": "full",
    }
    results = wh.count("starloom_test_results")
    assert modes(wh, sql_dir) == {
        "totals": UP_TO_DATE,
        "big": UP_TO_DATE,
        "recent": "full",  # a view is made again: it costs nothing
        "counted": UP_TO_DATE,
    }
    assert wh.count("starloom_test_results") == results  # the skipped tests did not run
    assert wh.query_rows("SELECT id, amount FROM big") == [(2, 9)]
    assert modes(wh, sql_dir, full_refresh=True)["totals"] == "full"


def test_new_source_rows_rebuild_what_reads_them_directly_or_through_a_view(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    modes(wh, sql_dir)
    wh.command("INSERT INTO raw_t__sales VALUES (3, 8)")
    assert modes(wh, sql_dir) == {
        "totals": "full",
        "big": "full",
        "recent": "full",
        "counted": "full",
    }
    assert wh.query_rows("SELECT id FROM big ORDER BY id") == [(2,), (3,)]
    assert wh.query_rows("SELECT n FROM counted") == [(3,)]


def test_source_replaced_by_as_many_other_rows_in_a_reopened_engine_is_seen(wh, project, sql_dir):
    """After TRUNCATE the engine numbers the next insert as it numbered the dropped one: the
    row count and block numbers repeat, the content does not."""
    set_rows(wh, [(1, 3), (2, 9)])
    modes(wh, sql_dir)
    reopened = Warehouse(wh.settings)
    set_rows(reopened, [(1, 3), (2, 1)])
    assert modes(reopened, sql_dir)["big"] == "full"
    assert reopened.query_rows("SELECT id FROM big") == []


def test_a_changed_model_rebuilds_itself_and_what_reads_it_only(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    modes(wh, sql_dir)
    write_model(
        sql_dir, "big", table("Large totals"), "SELECT * FROM {{ ref('totals') }} WHERE amount > 1"
    )
    assert modes(wh, sql_dir) == {
        "totals": UP_TO_DATE,
        "big": "full",
        "recent": "full",
        "counted": UP_TO_DATE,
    }
    assert wh.count("big") == 2


def test_a_table_edited_by_hand_is_built_again(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    modes(wh, sql_dir)
    wh.command("INSERT INTO big VALUES (7, 70)")
    assert modes(wh, sql_dir)["big"] == "full"
    assert wh.query_rows("SELECT id FROM big") == [(2,)]


def test_a_table_its_relationship_test_reads_is_followed(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    write_model(
        sql_dir,
        "checked",
        table(
            "Sales whose id is a total",
            columns={"id": {"tests": [{"relationships": {"to": "big", "field": "id"}}]}},
        ),
        "SELECT id FROM {{ source('t', 'sales') }} WHERE amount > 5",
    )
    assert modes(wh, sql_dir)["checked"] == "full"
    assert modes(wh, sql_dir)["checked"] == UP_TO_DATE
    write_model(
        sql_dir, "big", table("Large totals"), "SELECT * FROM {{ ref('totals') }} WHERE amount > 50"
    )
    with pytest.raises(Exception, match="relationships on id"):  # its test runs again, and fails
        modes(wh, sql_dir)


def test_a_model_using_the_run_date_is_built_again_for_another_day(wh, sql_dir):
    set_rows(wh, [(1, 3)])
    write_model(sql_dir, "stamped", table("The run date"), "SELECT {run_date:Date} AS day")
    builds, _ = models.build(wh, "stamped", run_date="2024-01-05", sql_dir=sql_dir)
    again, _ = models.build(wh, "stamped", run_date="2024-01-05", sql_dir=sql_dir)
    other, _ = models.build(wh, "stamped", run_date="2024-01-06", sql_dir=sql_dir)
    assert [b["mode"].iloc[0] for b in (builds, again, other)] == ["full", UP_TO_DATE, "full"]
    assert str(wh.query_rows("SELECT day FROM stamped")[0][0]) == "2024-01-06"


def test_a_table_its_sql_test_reads_is_followed(wh, sql_dir):
    set_rows(wh, [(1, 3), (2, 9)])
    covered = "SELECT id FROM {{ this }} WHERE id NOT IN (SELECT id FROM {{ ref('totals') }})"
    write_model(
        sql_dir,
        "ids",
        table("Every id of the source", tests=[{"sql": covered, "name": "ids_in_totals"}]),
        "SELECT DISTINCT id FROM {{ source('t', 'sales') }} WHERE id < 3",
    )
    assert modes(wh, sql_dir)["ids"] == "full"
    assert modes(wh, sql_dir)["ids"] == UP_TO_DATE
    write_model(sql_dir, "totals", table("Only id 1"), "SELECT 1 AS id, 0 AS amount")
    with pytest.raises(Exception, match="ids_in_totals"):
        modes(wh, sql_dir)


def test_a_leftover_aside_is_dropped_even_when_the_model_is_up_to_date(wh, sql_dir):
    set_rows(wh, [(1, 2)])
    modes(wh, sql_dir)
    wh.command("CREATE TABLE totals__new (id Int64) ENGINE = MergeTree ORDER BY id")  # a kill
    assert modes(wh, sql_dir)["totals"] == UP_TO_DATE
    assert not wh.table_exists("totals__new")


def test_models_reading_a_snapshot_or_an_upsert_model_are_up_to_date_when_nothing_changed(
    wh, tmp_path
):
    """A snapshot, and an incremental model upserting through a FINAL view, are read through
    a view made again at each build: what their readers depend on is the table under it."""
    sql = tmp_path / "sql"
    write_model(
        sql,
        "snp_sales",
        {
            "description": "Versions of each sale",
            "materialization": "snapshot",
            "strategy": "check",
            "check_cols": ["amount"],
            "unique_key": "id",
        },
        "SELECT id, amount FROM {{ source('t', 'sales') }}",
        layer="snapshots",
    )
    write_model(
        sql,
        "sales_upserted",
        {
            "description": "Current sales, upserted",
            "materialization": "incremental",
            "incremental_strategy": "upsert",
            "unique_key": "id",
            "version": "valid_from",
        },
        "SELECT id, amount, valid_from FROM {{ ref('snp_sales') }} WHERE is_current",
    )
    write_model(
        sql,
        "current_sales",
        table(
            "Current sales, with their upserted row",
            columns={"id": {"tests": [{"relationships": {"to": "sales_upserted", "field": "id"}}]}},
        ),
        "SELECT id, amount FROM {{ ref('snp_sales') }} WHERE is_current",
    )
    set_rows(wh, [(1, 3), (2, 9)])
    assert modes(wh, sql) == {
        "snp_sales": "full",
        "sales_upserted": "full",
        "current_sales": "full",
    }
    again = modes(wh, sql)
    assert again["sales_upserted"] == UP_TO_DATE
    assert again["current_sales"] == UP_TO_DATE
    wh.command("INSERT INTO raw_t__sales VALUES (3, 4)")
    changed = modes(wh, sql)
    assert changed["sales_upserted"] != UP_TO_DATE and changed["current_sales"] != UP_TO_DATE
    assert wh.query_rows("SELECT id FROM current_sales ORDER BY id") == [(1,), (2,), (3,)]


def test_a_forced_run_builds_every_model(wh, sql_dir, monkeypatch):
    """Within `starloom run --force` (STARLOOM_FORCE=1, see starloom.runs.forced) no model
    is skipped as up to date."""
    set_rows(wh, [(1, 4), (2, 9)])
    modes(wh, sql_dir)
    tables = ["big", "counted", "totals"]
    assert [modes(wh, sql_dir)[m] for m in tables] == [UP_TO_DATE] * 3
    monkeypatch.setenv("STARLOOM_FORCE", "1")
    assert [modes(wh, sql_dir)[m] for m in tables] == ["full"] * 3


def test_the_rows_of_a_table_come_from_its_parts_and_a_view_has_none(wh):
    """An up-to-date model's row count is read with its version; a view (or a table
    without parts) has none there, and the build counts it instead."""
    from starloom.models.build_state import _catalog

    wh.command(f"CREATE TABLE {wh.qualified('t_full')} (x Int64) ENGINE = MergeTree ORDER BY x")
    wh.command(f"INSERT INTO {wh.qualified('t_full')} SELECT number FROM numbers(5)")
    wh.command(f"CREATE TABLE {wh.qualified('t_empty')} (x Int64) ENGINE = MergeTree ORDER BY x")
    wh.command(f"CREATE VIEW {wh.qualified('v_full')} AS SELECT * FROM {wh.qualified('t_full')}")
    found = _catalog(wh, {"t_full", "t_empty", "v_full", "absent"})
    assert {name: rows for name, (_, rows) in found.items()} == {
        "t_full": 5,
        "t_empty": None,
        "v_full": None,
    }
