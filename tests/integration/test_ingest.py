"""Ingest on the real embedded engine: counts add up, reruns are idempotent, errors are clear."""

from __future__ import annotations

import json

import pytest
from tests.support.project import make_demo

from starloom.errors import ConfigError, SourceError, StarloomError
from starloom.ingestion.load import ingest

pytestmark = pytest.mark.usefixtures("project")


def test_shop_ingest_loads_every_row_of_every_table(project, wh):
    make_demo(project)
    loads = ingest(wh, "shop", run_date="2024-01-03")
    assert list(loads.entity) == ["customers", "products", "orders", "order_items"]
    assert (loads.rows_read == loads.rows_loaded + loads.rows_quarantined).all()
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{project / 'data/demo/shop.db'}")
    with engine.connect() as conn:
        for table in loads.entity:
            n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert wh.count(f"raw_shop__{table}") == n
    engine.dispose()


def test_rerunning_a_day_does_not_double_rows(project, wh):
    make_demo(project)
    ingest(wh, "shop", run_date="2024-01-03")
    ingest(wh, "events", run_date="2024-01-03")
    counts = {t: wh.count(t) for t in ("raw_shop__orders", "raw_events__events")}
    quarantined = wh.count("starloom_quarantine")
    again = ingest(wh, "events", run_date="2024-01-03")
    assert again.rows_read.sum() == 0  # every file already loaded, unchanged
    ingest(wh, "shop", run_date="2024-01-03")
    assert {t: wh.count(t) for t in counts} == counts
    assert wh.count("starloom_quarantine") == quarantined


def test_events_quarantine_names_file_line_and_reason(project, wh):
    summary = make_demo(project)
    loads = ingest(wh, "events", run_date="2024-01-03")
    row = loads.iloc[0]
    assert row.rows_read == summary.events_lines
    assert row.rows_quarantined == summary.malformed_lines > 0
    assert row.rows_loaded == wh.count("raw_events__events")
    bad = wh.query_df("SELECT file, line, reason, record FROM starloom_quarantine")
    assert bad.file.str.match(r"data/demo/events/date=2024-01-0\d/events.jsonl").all()
    assert (bad.line > 0).all()
    reasons = " ".join(bad.reason)
    for expected in (
        "not a JSON object",
        "not one of",
        "not an int64",
        "not a datetime",
        "missing value",
    ):
        assert expected in reasons
    # the quarantined line is the file's line, verbatim
    first = bad.iloc[0]
    lines = (project / first.file).read_text().splitlines()
    assert lines[int(first.line) - 1].strip() == first.record or json.loads(
        lines[int(first.line) - 1]
    )


def test_changed_file_reloads_its_day_only(project, wh):
    make_demo(project)
    ingest(wh, "events", run_date="2024-01-03")
    before = wh.query_df(
        "SELECT _partition, count() AS n FROM raw_events__events "
        "GROUP BY _partition ORDER BY _partition"
    )
    path = project / "data/demo/events/date=2024-01-02/events.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:100]) + "\n")
    again = ingest(wh, "events", run_date="2024-01-03")
    assert [str(d) for d in again.partitions.iloc[0]] == ["2024-01-02"]
    after = wh.query_df(
        "SELECT _partition, count() AS n FROM raw_events__events "
        "GROUP BY _partition ORDER BY _partition"
    )
    changed = after.set_index("_partition").n - before.set_index("_partition").n
    assert changed.loc[changed != 0].index.astype(str).tolist() == ["2024-01-02"]
    day = after.n[after._partition.astype(str) == "2024-01-02"]
    quarantined = wh.scalar(
        "SELECT count() FROM starloom_quarantine WHERE partition = '2024-01-02'"
    )
    assert int(day.iloc[0]) + quarantined == 100


def test_missing_source_files_give_a_clear_error(project, wh, monkeypatch):
    monkeypatch.setenv("EVENTS_PATH", "nowhere/date=*/*.jsonl")
    with pytest.raises(SourceError, match=r"No file matches nowhere/date=\*/\*\.jsonl"):
        ingest(wh, "events", run_date="2024-01-03")


def test_missing_source_table_and_database(project, wh, monkeypatch):
    make_demo(project)
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{project / 'data/demo/shop.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE products"))
    engine.dispose()
    with pytest.raises(SourceError, match="table 'products' does not exist"):
        ingest(wh, "shop", run_date="2024-01-03")
    monkeypatch.setenv("SHOP_DB_URL", f"sqlite:///{project}/no/such/folder/shop.db")
    with pytest.raises(SourceError, match="cannot read the source database"):
        ingest(wh, "shop", run_date="2024-01-03")
    monkeypatch.setenv("SHOP_DB_URL", "nosuchdialect://u@127.0.0.1:1/shop")
    with pytest.raises(SourceError, match="cannot read the source database"):
        ingest(wh, "shop", run_date="2024-01-03")


def test_bad_run_date_and_unknown_source(project, wh):
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        ingest(wh, "shop", run_date="07/01/2024")
    with pytest.raises(ConfigError, match="No source named 'nope'"):
        ingest(wh, "nope", run_date="2024-01-03")


def test_changed_contract_fails_listing_the_differences(project, wh):
    make_demo(project)
    ingest(wh, "shop", run_date="2024-01-03")
    spec = project / "sources/shop.yml"
    spec.write_text(spec.read_text().replace("country: {type: string}", "country: {type: int64}"))
    with pytest.raises(
        StarloomError,
        match="country: Nullable.String. in the warehouse, "
        r"Nullable\(Int64\) in the contract",
    ):
        ingest(wh, "shop", run_date="2024-01-03")
