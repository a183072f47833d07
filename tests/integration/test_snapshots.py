"""SCD type 2 snapshots on the real embedded engine: history over several runs, hard
deletes, both strategies, and runs that write only what changed."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.integration.test_models_materializations import checksum, write_model

from starloom import models
from starloom.errors import ModelError

pytestmark = pytest.mark.usefixtures("project")
SOURCE = "raw_t__customers"
OPEN = None


def set_customers(wh, rows: list[tuple]) -> None:
    """The source holds exactly `rows` (customer_id, city, updated_at)."""
    wh.command(
        f"CREATE TABLE IF NOT EXISTS {wh.qualified(SOURCE)} (customer_id Int64, city String, "
        "updated_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY customer_id"
    )
    wh.command(f"TRUNCATE TABLE {wh.qualified(SOURCE)}")
    if rows:
        values = ", ".join(f"({i}, '{c}', '{u}')" for i, c, u in rows)
        wh.command(f"INSERT INTO {wh.qualified(SOURCE)} VALUES {values}")


def snapshot_model(sql_dir, **header) -> None:
    meta = {
        "description": "Customers, every version",
        "grain": "one row per customer version",
        "materialization": "snapshot",
        "unique_key": "customer_id",
        "surrogate_key": "customer_sk",
        "columns": {"customer_sk": {"description": "Version", "tests": ["unique", "not_null"]}},
        **header,
    }
    sql = "SELECT customer_id, city, updated_at FROM {{ source('t', 'customers') }}"
    write_model(sql_dir, "snp_customers", meta, sql, layer="snapshots")


def history(wh) -> list[tuple]:
    rows = wh.query_rows(
        "SELECT customer_id, city, valid_from, valid_to, is_current FROM snp_customers "
        "ORDER BY customer_id, valid_from"
    )
    return [(i, c, _t(f), _t(t), cur) for i, c, f, t, cur in rows]


def _t(value) -> str | None:
    return None if value is None else value.strftime("%m-%d %H:%M")


def run(wh, sql_dir, day: str):
    builds, tests = models.build(wh, "snapshots", run_date=day, sql_dir=sql_dir)
    return builds.iloc[0], tests


def test_timestamp_snapshot_keeps_every_version_and_closes_deleted_keys(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="timestamp", updated_at="updated_at")
    set_customers(
        wh,
        [
            (1, "Berlin", "2024-01-01 08:00"),
            (2, "Paris", "2024-01-01 09:00"),
            (3, "Rome", "2023-12-30"),
        ],
    )
    first, _ = run(wh, sql_dir, "2024-01-01")
    assert (first["mode"], first["rows_written"]) == ("full", 3)
    # day 2: customer 2 moves, customer 4 signs up
    set_customers(
        wh,
        [
            (1, "Berlin", "2024-01-01 08:00"),
            (2, "Lyon", "2024-01-02 12:00"),
            (3, "Rome", "2023-12-30"),
            (4, "Vienna", "2024-01-02 15:00"),
        ],
    )
    second, _ = run(wh, sql_dir, "2024-01-02")
    assert second["rows_written"] == 3  # new version of 2, its old version closed, 4 new
    # day 3: customer 3 is deleted, customer 2 moves again
    set_customers(
        wh,
        [
            (1, "Berlin", "2024-01-01 08:00"),
            (2, "Madrid", "2024-01-03 07:30"),
            (4, "Vienna", "2024-01-02 15:00"),
        ],
    )
    third, tests = run(wh, sql_dir, "2024-01-03")
    assert third["rows_written"] == 3
    assert set(tests.status) == {"pass"}
    assert history(wh) == [
        (1, "Berlin", "01-01 08:00", OPEN, True),
        (2, "Paris", "01-01 09:00", "01-02 12:00", False),
        (2, "Lyon", "01-02 12:00", "01-03 07:30", False),
        (2, "Madrid", "01-03 07:30", OPEN, True),
        (3, "Rome", "12-30 00:00", "01-04 00:00", False),  # closed at the end of day 3
        (4, "Vienna", "01-02 15:00", OPEN, True),
    ]
    # the surrogate key is the hash of the key and valid_from
    assert (
        wh.scalar(
            "SELECT countIf(customer_sk != cityHash64(customer_id, valid_from)) FROM snp_customers"
        )
        == 0
    )
    # re-running the day writes nothing and leaves the same table
    before = checksum(wh, "snp_customers")
    again, _ = run(wh, sql_dir, "2024-01-03")
    assert again["rows_written"] == 0
    assert checksum(wh, "snp_customers") == before


def test_a_deleted_key_that_comes_back_opens_a_new_version(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="timestamp", updated_at="updated_at")
    set_customers(wh, [(1, "Berlin", "2024-01-01 08:00")])
    run(wh, sql_dir, "2024-01-01")
    set_customers(wh, [])
    run(wh, sql_dir, "2024-01-02")
    set_customers(wh, [(1, "Hamburg", "2024-01-03 10:00")])
    run(wh, sql_dir, "2024-01-03")
    assert history(wh) == [
        (1, "Berlin", "01-01 08:00", "01-03 00:00", False),
        (1, "Hamburg", "01-03 10:00", OPEN, True),
    ]


def test_check_snapshot_opens_versions_at_the_end_of_the_run_day(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="check", check_cols=["city"])
    set_customers(wh, [(1, "Berlin", "2024-01-01"), (2, "Paris", "2024-01-01")])
    run(wh, sql_dir, "2024-01-01")
    # the city changes without updated_at moving: the check strategy still sees it
    set_customers(wh, [(1, "Berlin", "2024-01-01"), (2, "Nice", "2024-01-01")])
    second, _ = run(wh, sql_dir, "2024-01-02")
    assert second["rows_written"] == 2
    assert history(wh) == [
        (1, "Berlin", "01-02 00:00", OPEN, True),
        (2, "Paris", "01-02 00:00", "01-03 00:00", False),
        (2, "Nice", "01-03 00:00", OPEN, True),
    ]


def test_a_run_writes_the_changed_rows_only(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="timestamp", updated_at="updated_at")
    base = dt.datetime(2024, 1, 1)
    rows = [(i, f"city{i % 7}", base.isoformat(sep=" ")) for i in range(1, 5001)]
    set_customers(wh, rows)
    run(wh, sql_dir, "2024-01-01")
    later = (base + dt.timedelta(days=1)).isoformat(sep=" ")
    rows[10] = (11, "elsewhere", later)
    rows[20] = (21, "elsewhere", later)
    set_customers(wh, rows[:-1])  # and the last one is deleted
    second, _ = run(wh, sql_dir, "2024-01-02")
    assert second["rows_written"] == 5  # 2 new versions + 2 closed + 1 deleted
    assert wh.count("snp_customers") == 5002
    assert wh.scalar("SELECT countIf(is_current) FROM snp_customers") == 4999


def test_snapshot_headers_name_what_they_lack(tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="timestamp")
    with pytest.raises(ModelError, match="updated_at"):
        models.load_models(sql_dir)
    snapshot_model(sql_dir, strategy="check")
    with pytest.raises(ModelError, match="check_cols"):
        models.load_models(sql_dir)
    snapshot_model(sql_dir, strategy="sometimes")
    with pytest.raises(ModelError, match="strategy"):
        models.load_models(sql_dir)


def test_a_snapshot_whose_select_lacks_the_key_is_refused(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="timestamp", updated_at="changed_at")
    set_customers(wh, [(1, "Berlin", "2024-01-01")])
    with pytest.raises(ModelError, match="changed_at"):
        run(wh, sql_dir, "2024-01-01")


def test_a_snapshot_whose_select_repeats_a_key_is_refused(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="check", check_cols=["city"])
    set_customers(wh, [(1, "Berlin", "2024-01-01")])
    run(wh, sql_dir, "2024-01-01")
    before = history(wh)
    # two extracts of customer 1 (say, two days of a day-partitioned raw table)
    set_customers(
        wh, [(1, "Berlin", "2024-01-01"), (1, "Paris", "2024-01-02"), (2, "Rome", "2024-01-02")]
    )
    with pytest.raises(ModelError, match=r"customer_id=1: 2 rows.*Nothing was written"):
        run(wh, sql_dir, "2024-01-02")
    assert history(wh) == before
    set_customers(wh, [(1, "Paris", "2024-01-02"), (2, "Rome", "2024-01-02")])
    run(wh, sql_dir, "2024-01-02")
    assert [(i, c, cur) for i, c, _, _, cur in history(wh)] == [
        (1, "Berlin", False),
        (1, "Paris", True),
        (2, "Rome", True),
    ]


def test_a_check_snapshot_refuses_a_run_for_a_day_before_its_latest_versions(wh, tmp_path):
    sql_dir = tmp_path / "sql"
    snapshot_model(sql_dir, strategy="check", check_cols=["city"])
    set_customers(wh, [(1, "Berlin", "2024-01-01")])
    run(wh, sql_dir, "2024-01-01")
    set_customers(wh, [(1, "Hamburg", "2024-01-01")])
    run(wh, sql_dir, "2024-01-03")
    after = history(wh)
    assert after == [
        (1, "Berlin", "01-02 00:00", "01-04 00:00", False),
        (1, "Hamburg", "01-04 00:00", OPEN, True),
    ]
    set_customers(wh, [(1, "Munich", "2024-01-01")])
    with pytest.raises(ModelError, match=r"run of 2024-01-03.*earlier day 2024-01-02"):
        run(wh, sql_dir, "2024-01-02")
    assert history(wh) == after
    # the same day again is a rerun, and a later day goes on
    set_customers(wh, [(1, "Hamburg", "2024-01-01")])
    assert run(wh, sql_dir, "2024-01-03")[0]["rows_written"] == 0
    set_customers(wh, [(1, "Munich", "2024-01-01")])
    run(wh, sql_dir, "2024-01-04")
    assert wh.scalar("SELECT countIf(is_current) FROM snp_customers") == 1


def test_a_first_run_refused_for_a_repeated_key_leaves_no_table(wh, tmp_path):
    """The key is named as the check's own counts might be (`keys`): no clash."""
    sql_dir = tmp_path / "sql"
    write_model(
        sql_dir,
        "snp_customers",
        {"materialization": "snapshot", "strategy": "check", "check_cols": ["city"],
         "unique_key": "keys", "description": "x", "grain": "x"},
        "SELECT customer_id AS keys, city FROM {{ source('t', 'customers') }}",
        layer="snapshots",
    )  # fmt: skip
    set_customers(wh, [(1, "Berlin", "2024-01-01"), (1, "Paris", "2024-01-01")])
    with pytest.raises(ModelError, match=r"keys=1: 2 rows"):
        run(wh, sql_dir, "2024-01-01")
    assert not wh.table_exists("snp_customers__data")
    assert not wh.table_exists("snp_customers")
    set_customers(wh, [(1, "Berlin", "2024-01-01"), (2, "Paris", "2024-01-01")])
    assert run(wh, sql_dir, "2024-01-01")[0]["mode"] == "full"
    assert wh.count("snp_customers") == 2
