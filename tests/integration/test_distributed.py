"""A load on a dask.distributed cluster of worker processes gives the same rows as locally."""

from __future__ import annotations

import pytest
from tests.support.project import make_demo

from starloom.ingestion.load import ingest
from starloom.settings import load_settings
from starloom.warehouse import Warehouse

TABLES = ["raw_shop__orders", "raw_shop__order_items", "raw_events__events"]


def fingerprint(wh, table):
    """Count and an order-independent hash of every row, without the load's own columns."""
    cols = [
        name
        for (name,) in wh.query_rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String} AND name NOT IN ('_load_id', '_loaded_at')",
            {"t": table},
        )
    ]
    expr = ", ".join(f"`{c}`" for c in cols)
    return wh.query_rows(f"SELECT count(), groupBitXor(cityHash64({expr})) FROM {table}")[0]


@pytest.mark.slow
def test_distributed_load_gives_the_same_rows_as_local(project, wh, monkeypatch):
    from distributed import Client, LocalCluster, get_task_stream

    make_demo(project)
    for source in ("shop", "events"):
        ingest(wh, source, run_date="2024-01-03")
    local = {t: fingerprint(wh, t) for t in TABLES}
    quarantined = wh.scalar("SELECT count() FROM starloom_quarantine")
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as stream,
    ):
        monkeypatch.setenv("STARLOOM_DASK_SCHEDULER", cluster.scheduler_address)
        remote = Warehouse(load_settings(project))
        assert remote.settings.dask_scheduler == cluster.scheduler_address
        for source in ("shop", "events"):
            loads = ingest(remote, source, run_date="2024-01-03", full_refresh=True)
            assert (loads.rows_read == loads.rows_loaded + loads.rows_quarantined).all()
    ran = {t["key"].split("-")[0] for t in stream.data}
    assert {"extract_part", "read_jsonl"} <= ran  # the work ran on the cluster's workers
    assert len({t["worker"] for t in stream.data}) == 2
    assert {t: fingerprint(wh, t) for t in TABLES} == local
    assert wh.scalar("SELECT count() FROM starloom_quarantine") == quarantined
