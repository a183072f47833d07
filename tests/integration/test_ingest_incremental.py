"""High-water marks for database tables, and re-ingesting a date range."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from tests.support.project import write_source

from starloom.ingestion.load import ingest, reingest

CONTRACT = {
    "order_id": {"type": "int64", "nullable": False},
    "status": {"type": "string", "nullable": False},
    "updated_at": {"type": "datetime", "nullable": False},
}
LATEST = (
    "SELECT order_id, status FROM raw_db__orders "
    "ORDER BY updated_at DESC, _loaded_at DESC LIMIT 1 BY order_id"
)


def declare(project, mode="incremental"):
    orders = {
        "primary_key": ["order_id"],
        "cursor": "updated_at",
        "mode": mode,
        "partitions": 3,
        "columns": CONTRACT,
    }
    write_source(project, "db", {"orders": orders}, kind="sql", url="sqlite:///data/shop.db")


class Shop:
    """A SQLite database whose orders change day by day, written through SQLAlchemy."""

    def __init__(self, project):
        (project / "data").mkdir(exist_ok=True)
        self.engine = sa.create_engine(f"sqlite:///{project / 'data/shop.db'}")
        self.orders = sa.Table(
            "orders",
            sa.MetaData(),
            sa.Column("order_id", sa.Integer, primary_key=True),
            sa.Column("status", sa.String),
            sa.Column("updated_at", sa.DateTime),
        )
        self.orders.metadata.create_all(self.engine)

    def upsert(self, rows):
        with self.engine.begin() as conn:
            for order_id, status, at in rows:
                conn.execute(self.orders.delete().where(self.orders.c.order_id == order_id))
                conn.execute(
                    self.orders.insert().values(
                        order_id=order_id, status=status, updated_at=dt.datetime.fromisoformat(at)
                    )
                )

    def state(self):
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.orders.c.order_id, self.orders.c.status))
            return sorted(tuple(r) for r in rows)


def test_incremental_loads_only_rows_past_the_high_water_mark(project, wh):
    declare(project)
    shop = Shop(project)
    shop.upsert([(i, "placed", f"2024-01-01 {i:02d}:00:00") for i in range(1, 11)])
    first = ingest(wh, "db", run_date="2024-01-01").iloc[0]
    assert (first.rows_read, first.rows_loaded) == (10, 10)
    assert first.high_water_from == "" and first.high_water == "2024-01-01 10:00:00"
    # day 2: three orders change, two are new; a change stamped day 3 waits for day 3
    shop.upsert([(i, "shipped", f"2024-01-02 0{i}:00:00") for i in (2, 4, 6)])
    shop.upsert([(11, "placed", "2024-01-02 09:00:00"), (12, "placed", "2024-01-02 10:00:00")])
    shop.upsert([(13, "placed", "2024-01-03 01:00:00")])
    second = ingest(wh, "db", run_date="2024-01-02").iloc[0]
    assert second.rows_read == 5  # the filter ran in the database: only changed rows came
    assert second.high_water_from == "2024-01-01 10:00:00"
    assert second.high_water == "2024-01-02 10:00:00"
    third = ingest(wh, "db", run_date="2024-01-03").iloc[0]
    assert third.rows_read == 1
    assert sorted(wh.query_rows(LATEST)) == shop.state()
    assert wh.count("raw_db__orders") == 16
    # re-running a day gives the same rows, never doubled
    again = ingest(wh, "db", run_date="2024-01-02").iloc[0]
    assert again.rows_read == 5 and wh.count("raw_db__orders") == 16
    loads = wh.query_rows(
        "SELECT run_date, high_water_from, high_water FROM starloom_loads ORDER BY started_at"
    )
    assert [str(r[0]) for r in loads] == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-02"]


def test_snapshot_mode_extracts_the_whole_table_each_run(project, wh):
    declare(project, mode="snapshot")
    shop = Shop(project)
    shop.upsert([(i, "placed", "2024-01-01 10:00:00") for i in range(1, 6)])
    ingest(wh, "db", run_date="2024-01-01")
    shop.upsert([(1, "shipped", "2024-01-02 10:00:00")])
    assert ingest(wh, "db", run_date="2024-01-02").rows_read[0] == 5
    assert wh.count("raw_db__orders") == 10


def test_reingest_loads_exactly_the_range_again(project, wh):
    declare(project)
    shop = Shop(project)
    for day in (1, 2, 3):
        shop.upsert([(day * 10 + i, "placed", f"2024-01-0{day} 0{i}:00:00") for i in range(3)])
        ingest(wh, "db", run_date=f"2024-01-0{day}")
    before = dict(
        wh.query_rows("SELECT _partition, any(_load_id) FROM raw_db__orders GROUP BY _partition")
    )
    wh.command("ALTER TABLE raw_db__orders DROP PARTITION ID '20240102'")  # lost by accident
    loads = reingest(wh, "db", start="2024-01-02", end="2024-01-02")
    assert [str(d) for d in loads.run_date] == ["2024-01-02"]
    after = dict(
        wh.query_rows("SELECT _partition, any(_load_id) FROM raw_db__orders GROUP BY _partition")
    )
    days = sorted(before)
    assert after[days[0]] == before[days[0]] and after[days[2]] == before[days[2]]
    assert after[days[1]] == loads.load_id[0]
    assert wh.count("raw_db__orders") == 9
    assert sorted(wh.query_rows(LATEST)) == shop.state()


def test_reingest_of_files_reloads_those_days_only(project, wh):
    from tests.support.project import make_demo

    make_demo(project)
    ingest(wh, "events", run_date="2024-01-03")
    before = dict(
        wh.query_rows(
            "SELECT _partition, any(_load_id) FROM raw_events__events GROUP BY _partition"
        )
    )
    count = wh.count("raw_events__events")
    loads = reingest(wh, "events", start="2024-01-02", end="2024-01-03")
    assert [str(d) for d in loads.partitions[0]] == ["2024-01-02", "2024-01-03"]
    after = dict(
        wh.query_rows(
            "SELECT _partition, any(_load_id) FROM raw_events__events GROUP BY _partition"
        )
    )
    days = sorted(before)
    assert after[days[0]] == before[days[0]]
    assert all(after[d] == loads.load_id[0] for d in days[1:])
    assert wh.count("raw_events__events") == count
