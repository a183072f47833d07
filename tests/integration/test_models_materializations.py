"""Materializations on the real embedded engine: atomic swaps, incremental strategies,
lookback windows, full refresh and schema changes, on small models written by each test."""

from __future__ import annotations

import pytest
from tests.support.project import write_model

from starloom import models
from starloom.errors import ModelError, StarloomError

pytestmark = pytest.mark.usefixtures("project")

SOURCE = "raw_t__sales"


def set_source(wh, rows: list[tuple]) -> None:
    """The source table holds exactly `rows` (id, day, amount, updated_at)."""
    wh.command(
        f"CREATE TABLE IF NOT EXISTS {wh.qualified(SOURCE)} (id Int64, day Date, amount Int64, "
        "updated_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id"
    )
    wh.command(f"TRUNCATE TABLE {wh.qualified(SOURCE)}")
    values = ", ".join(f"({i}, '{d}', {a}, '{u}')" for i, d, a, u in rows)
    wh.command(f"INSERT INTO {wh.qualified(SOURCE)} VALUES {values}")


def checksum(wh, table: str) -> tuple:
    return tuple(wh.query_rows(f"SELECT count(), sum(cityHash64(*)) FROM {wh.qualified(table)}")[0])


def build(wh, sql_dir, select, run_date="2024-01-05", **kw):
    return models.build(wh, select, run_date=run_date, sql_dir=sql_dir, **kw)


# -- table -----------------------------------------------------------------------------------
TABLE_HEADER = {
    "description": "Sales per day",
    "grain": "one row per day",
    "materialization": "table",
    "order_by": ["day"],
    "columns": {"day": {"description": "Day", "tests": ["unique", "not_null"]}},
}


def test_table_failing_test_keeps_the_previous_table_and_drops_the_half_built_one(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01"), (2, "2024-01-02", 7, "2024-01-02")])
    good = "SELECT day, sum(amount) AS amount FROM {{ source('t', 'sales') }} GROUP BY day"
    write_model(sql_dir, "daily", TABLE_HEADER, good)
    build(wh, sql_dir, "daily")
    before = checksum(wh, "daily")
    # a build whose rows break the declared `unique` test on day
    write_model(
        sql_dir, "daily", TABLE_HEADER, "SELECT day, amount FROM {{ source('t', 'sales') }}"
    )
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01"), (3, "2024-01-01", 1, "2024-01-03")])
    with pytest.raises(ModelError, match="unique on day: 1 failing rows"):
        build(wh, sql_dir, "daily")
    assert checksum(wh, "daily") == before
    assert not wh.table_exists("daily__new")


def test_table_failing_sql_keeps_the_previous_table(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01")])
    write_model(sql_dir, "daily", TABLE_HEADER, "SELECT day FROM {{ source('t', 'sales') }}")
    build(wh, sql_dir, "daily")
    before = checksum(wh, "daily")
    write_model(
        sql_dir,
        "daily",
        TABLE_HEADER,
        "SELECT day, throwIf(amount > 0, 'boom') AS x FROM {{ source('t', 'sales') }}",
    )
    with pytest.raises(StarloomError, match="boom"):
        build(wh, sql_dir, "daily")
    assert checksum(wh, "daily") == before
    assert wh.query_rows("SELECT name FROM system.columns WHERE table = 'daily'") == [("day",)]
    assert not wh.table_exists("daily__new")


def test_a_column_named_with_its_table_alias_is_refused_with_a_clear_message(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01")])
    sql = (
        "SELECT a.id, b.amount AS amount FROM {{ source('t', 'sales') }} AS a "
        "JOIN {{ source('t', 'sales') }} AS b ON a.id = b.id "
        "JOIN {{ source('t', 'sales') }} AS c ON c.id = a.id"
    )
    write_model(sql_dir, "joined", {**TABLE_HEADER, "order_by": ["amount"]}, sql)
    with pytest.raises(ModelError, match="a.id AS id|with AS"):
        build(wh, sql_dir, "joined")


# -- incremental: append ---------------------------------------------------------------------
def test_append_adds_the_new_rows_and_is_incremental_is_false_on_the_first_run(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    header = {
        "description": "Sales",
        "materialization": "incremental",
        "incremental_strategy": "append",
        "order_by": ["id"],
        "columns": {"id": {"description": "Sale", "tests": ["unique"]}},
    }
    sql = (
        "SELECT id, day, amount, {{ 'true' if is_incremental() else 'false' }} AS was_incremental "
        "FROM {{ source('t', 'sales') }} WHERE day <= {run_date:Date}\n"
        "{% if is_incremental() %} AND id > (SELECT max(id) FROM {{ this }}) {% endif %}"
    )
    write_model(sql_dir, "sales", header, sql)
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01"), (2, "2024-01-02", 7, "2024-01-02")])
    builds, _ = build(wh, sql_dir, "sales", run_date="2024-01-02")
    assert builds.loc[0, "mode"] == "full"
    set_source(
        wh,
        [
            (1, "2024-01-01", 5, "2024-01-01"),
            (2, "2024-01-02", 7, "2024-01-02"),
            (3, "2024-01-03", 9, "2024-01-03"),
        ],
    )
    builds, tests = build(wh, sql_dir, "sales", run_date="2024-01-03")
    assert builds.loc[0, "mode"] == "incremental"
    assert builds.loc[0, "rows_written"] == 1
    rows = wh.query_rows("SELECT id, was_incremental FROM sales ORDER BY id")
    assert rows == [(1, False), (2, False), (3, True)]
    assert list(tests.status) == ["pass"]


# -- incremental: replace_partitions with a lookback window ----------------------------------
DAILY_HEADER = {
    "description": "Sales per day",
    "grain": "one row per day",
    "materialization": "incremental",
    "incremental_strategy": "replace_partitions",
    "partition_by": "day",
    "order_by": ["day"],
    "lookback_days": 2,
    "columns": {"day": {"description": "Day", "tests": ["unique", "not_null"]}},
}
DAILY_SQL = (
    "SELECT day, sum(amount) AS amount, count() AS sales FROM {{ source('t', 'sales') }}\n"
    "WHERE day <= {run_date:Date}\n"
    "{% if is_incremental() %} AND day >= {lookback_start:Date} {% endif %}\n"
    "GROUP BY day"
)


def _parts(wh, table: str) -> dict[str, set[str]]:
    rows = wh.query_rows(
        "SELECT partition_id, name FROM system.parts WHERE database = {d:String} "
        "AND table = {t:String} AND active",
        {"d": wh.database, "t": table},
    )
    out: dict[str, set[str]] = {}
    for pid, name in rows:
        out.setdefault(pid, set()).add(name)
    return out


def test_late_rows_inside_the_lookback_replace_their_partitions_and_nothing_else(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "daily", DAILY_HEADER, DAILY_SQL)
    days = [(i, f"2024-01-0{i}", 10 * i, f"2024-01-0{i}") for i in range(1, 6)]
    set_source(wh, days)
    build(wh, sql_dir, "daily", run_date="2024-01-05")
    parts_before = _parts(wh, "daily")
    # day 6 arrives with a late sale for day 4 (inside the window 4..6) and one for day 2
    # (outside it): the run touches days 4-6 only
    late = [(7, "2024-01-04", 1, "2024-01-06"), (8, "2024-01-02", 1, "2024-01-06")]
    set_source(wh, [*days, (6, "2024-01-06", 60, "2024-01-06"), *late])
    builds, _ = build(wh, sql_dir, "daily", run_date="2024-01-06")
    assert builds.loc[0, "mode"] == "incremental"
    rows = dict(wh.query_rows("SELECT toString(day), amount FROM daily ORDER BY day"))
    assert rows == {
        "2024-01-01": 10,
        "2024-01-02": 20,  # outside the lookback: unchanged
        "2024-01-03": 30,
        "2024-01-04": 41,  # the late sale landed on its day
        "2024-01-05": 50,
        "2024-01-06": 60,
    }
    parts_after = _parts(wh, "daily")
    for pid in ("20240101", "20240102", "20240103"):
        assert parts_after[pid] == parts_before[pid], pid  # not rewritten
    for pid in ("20240104", "20240105"):
        assert parts_after[pid] != parts_before[pid], pid  # replaced
    # a full refresh rebuilds everything, day 2 included
    builds, _ = build(wh, sql_dir, "daily", run_date="2024-01-06", full_refresh=True)
    assert builds.loc[0, "mode"] == "full"
    assert wh.scalar("SELECT amount FROM daily WHERE day = '2024-01-02'") == 21


def test_rerunning_the_same_day_gives_identical_tables(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "daily", DAILY_HEADER, DAILY_SQL)
    set_source(wh, [(i, f"2024-01-0{i}", 10 * i, f"2024-01-0{i}") for i in range(1, 6)])
    build(wh, sql_dir, "daily", run_date="2024-01-04")
    build(wh, sql_dir, "daily", run_date="2024-01-05")
    first = checksum(wh, "daily")
    build(wh, sql_dir, "daily", run_date="2024-01-05")
    assert checksum(wh, "daily") == first
    assert first[0] == 5


def test_a_failing_increment_leaves_the_table_as_it_was(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "daily", DAILY_HEADER, DAILY_SQL)
    set_source(wh, [(i, f"2024-01-0{i}", 10 * i, f"2024-01-0{i}") for i in range(1, 6)])
    build(wh, sql_dir, "daily", run_date="2024-01-05")
    before = checksum(wh, "daily")
    broken = DAILY_SQL.replace("GROUP BY day", "GROUP BY day, id")  # two rows for one day
    write_model(sql_dir, "daily", DAILY_HEADER, broken)
    set_source(wh, [(1, "2024-01-05", 1, "2024-01-05"), (2, "2024-01-05", 2, "2024-01-05")])
    with pytest.raises(ModelError):
        build(wh, sql_dir, "daily", run_date="2024-01-05")
    assert checksum(wh, "daily") == before
    assert not wh.table_exists("daily__new")


# -- incremental: upsert ---------------------------------------------------------------------
UPSERT_HEADER = {
    "description": "Sales, latest state",
    "grain": "one row per sale",
    "materialization": "incremental",
    "incremental_strategy": "upsert",
    "unique_key": "id",
    "version": "updated_at",
    "lookback_days": 0,
    "columns": {"id": {"description": "Sale", "tests": ["unique", "not_null"]}},
}
UPSERT_SQL = (
    "SELECT id, day, amount, updated_at FROM {{ source('t', 'sales') }}\n"
    "{% if is_incremental() %} WHERE updated_at >= {lookback_start:Date} {% endif %}"
)


def test_upsert_replaces_changed_rows_and_readers_see_no_duplicates(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "sales", UPSERT_HEADER, UPSERT_SQL)
    set_source(wh, [(i, "2024-01-01", i, "2024-01-01") for i in range(1, 5)])
    build(wh, sql_dir, "sales", run_date="2024-01-01")
    # day 2: sale 2 changes, sale 5 is new; the others are not re-read
    changed = [(2, "2024-01-01", 200, "2024-01-02 10:00:00"), (5, "2024-01-02", 5, "2024-01-02")]
    set_source(
        wh, [(1, "2024-01-01", 1, "2024-01-01"), *changed, (3, "2024-01-01", 3, "2024-01-01")]
    )
    builds, _ = build(wh, sql_dir, "sales", run_date="2024-01-02")
    assert builds.loc[0, "mode"] == "incremental"
    assert builds.loc[0, "rows_written"] == 2
    rows = wh.query_rows("SELECT id, amount FROM sales ORDER BY id")
    assert rows == [(1, 1), (2, 200), (3, 3), (4, 4), (5, 5)]  # 4 was not deleted: an upsert
    assert wh.scalar("SELECT engine FROM system.tables WHERE name = 'sales'") == "View"
    assert wh.count("sales__data") >= 5
    # an older version arriving late does not win over the newer one
    set_source(wh, [(2, "2024-01-01", 2, "2024-01-02 09:00:00")])
    build(wh, sql_dir, "sales", run_date="2024-01-02")
    assert wh.scalar("SELECT amount FROM sales WHERE id = 2") == 200


# -- on_schema_change ------------------------------------------------------------------------
def _schema_model(sql_dir, policy: str | None, sql: str) -> None:
    header = {
        "description": "Sales",
        "materialization": "incremental",
        "order_by": ["id"],
        **({"on_schema_change": policy} if policy else {}),
    }
    inc = " {% if is_incremental() %} WHERE id > (SELECT max(id) FROM {{ this }}) {% endif %}"
    write_model(sql_dir, "sales", header, sql + " FROM {{ source('t', 'sales') }}" + inc)


def test_on_schema_change_fail_lists_the_differences_and_keeps_the_table(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01")])
    _schema_model(sql_dir, None, "SELECT id, amount")
    build(wh, sql_dir, "sales")
    before = checksum(wh, "sales")
    _schema_model(sql_dir, None, "SELECT id, toString(amount) AS amount, day")
    with pytest.raises(ModelError) as err:
        build(wh, sql_dir, "sales")
    text = str(err.value)
    assert "new columns day Date" in text and "amount Int64 -> String" in text
    assert "on_schema_change" in text and "full_refresh=True" in text
    assert checksum(wh, "sales") == before


def test_on_schema_change_append_new_columns_adds_them(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01")])
    _schema_model(sql_dir, "append_new_columns", "SELECT id, amount")
    build(wh, sql_dir, "sales")
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01"), (2, "2024-01-02", 6, "2024-01-02")])
    _schema_model(sql_dir, "append_new_columns", "SELECT id, amount, day")
    build(wh, sql_dir, "sales")
    rows = wh.query_rows("SELECT id, amount, toString(day) FROM sales ORDER BY id")
    assert rows == [(1, 5, "1970-01-01"), (2, 6, "2024-01-02")]
    # a removed column is kept (and filled with its default) under append_new_columns
    set_source(wh, [(3, "2024-01-03", 7, "2024-01-03")])
    _schema_model(sql_dir, "append_new_columns", "SELECT id, day")
    build(wh, sql_dir, "sales")
    assert wh.query_rows("SELECT amount FROM sales WHERE id = 3") == [(0,)]


def test_on_schema_change_sync_all_columns_drops_and_retypes(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01")])
    _schema_model(sql_dir, "sync_all_columns", "SELECT id, amount, day")
    build(wh, sql_dir, "sales")
    set_source(wh, [(2, "2024-01-02", 6, "2024-01-02")])
    _schema_model(sql_dir, "sync_all_columns", "SELECT id, toString(amount) AS amount")
    build(wh, sql_dir, "sales")
    cols = wh.query_rows(
        "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = 'sales' "
        "ORDER BY position",
        {"d": wh.database},
    )
    assert cols == [("id", "Int64"), ("amount", "String")]
    assert wh.query_rows("SELECT id, amount FROM sales ORDER BY id") == [(1, "5"), (2, "6")]


def test_headers_with_a_missing_key_are_refused_with_the_key_named(tmp_path):
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "x", {**UPSERT_HEADER, "version": None}, UPSERT_SQL)
    with pytest.raises(ModelError, match="version"):
        models.load_models(sql_dir)
    write_model(sql_dir, "x", {**DAILY_HEADER, "partition_by": None}, DAILY_SQL)
    with pytest.raises(ModelError, match="partition_by"):
        models.load_models(sql_dir)
    write_model(sql_dir, "x", {**DAILY_HEADER, "on_schema_change": "ignore"}, DAILY_SQL)
    with pytest.raises(ModelError, match="on_schema_change"):
        models.load_models(sql_dir)


# -- settings ----------------------------------------------------------------------------------
def test_model_settings_apply_to_its_build(wh, tmp_path):
    """A header's `settings` reach the engine: a row limit below the source's size stops
    the build, and the table keeps its earlier rows."""
    sql_dir = tmp_path / "sql"
    set_source(wh, [(i, f"2024-01-0{i}", i, "2024-01-01") for i in range(1, 6)])
    body = "SELECT day, sum(amount) AS amount FROM {{ source('t', 'sales') }} GROUP BY day"
    write_model(sql_dir, "daily", {**TABLE_HEADER, "settings": {"max_rows_to_read": 100}}, body)
    build(wh, sql_dir, "daily")
    assert wh.count("daily") == 5
    write_model(sql_dir, "daily", {**TABLE_HEADER, "settings": {"max_rows_to_read": 2}}, body)
    with pytest.raises(StarloomError, match="(?i)limit for rows"):
        build(wh, sql_dir, "daily")
    assert wh.count("daily") == 5
    write_model(sql_dir, "daily", {**TABLE_HEADER, "settings": ["max_rows_to_read"]}, body)
    with pytest.raises(ModelError, match="settings must map ClickHouse setting names"):
        build(wh, sql_dir, "daily")


# -- SQL holding `%` ---------------------------------------------------------------------------
PERCENT_MODEL = (
    "-- 100% of the sales, and which of them hold a 5\n"
    "SELECT id, formatDateTime(day, '%Y') AS year, toString(amount) LIKE '%5%' AS has_5\n"
    "FROM {{ source('t', 'sales') }}\n"
    "WHERE day <= toDate('2024-12-31') -- every day, 100%\n"
)


@pytest.mark.parametrize(
    "materialization", ["view", "table", "incremental", "incremental, run_date bound"]
)
def test_a_percent_sign_in_a_model_does_not_break_its_build(wh, tmp_path, materialization):
    """The runner binds run_date and lookback_start to every statement of a model; the driver
    %-formats a statement that declares none of them, so LIKE '%5%' or '%Y' broke the build."""
    sql_dir = tmp_path / "sql"
    sql = PERCENT_MODEL
    if materialization.endswith("bound"):
        materialization, sql = "incremental", sql.replace("toDate('2024-12-31')", "{run_date:Date}")
    header = {
        "description": "Sales by year",
        "materialization": materialization,
        "columns": {"id": {"description": "Sale", "tests": ["unique", "not_null"]}},
    }
    if materialization != "view":
        header["order_by"] = ["id"]
    if materialization == "incremental":
        header["incremental_strategy"] = "append"
    write_model(sql_dir, "sales_by_year", header, sql)
    set_source(wh, [(1, "2024-01-01", 5, "2024-01-01"), (2, "2024-01-02", 7, "2024-01-02")])
    build(wh, sql_dir, "sales_by_year")
    if materialization == "incremental":
        build(wh, sql_dir, "sales_by_year", run_date="2024-01-06")  # the incremental path too
    rows = wh.query_rows("SELECT DISTINCT id, year, has_5 FROM sales_by_year ORDER BY id")
    assert rows == [(1, "2024", True), (2, "2024", False)]
