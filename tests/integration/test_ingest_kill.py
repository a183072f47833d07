"""SIGKILL the ingest in the middle of a load, run it again: no row doubled, none missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from tests.support.project import declare_feed, feed_file

from starloom.ingestion.load import ingest

ROWS = 300_000
LOAD = (
    "import starloom.ingestion.readers as r; r.CSV_BLOCK_BYTES = 1 << 20; "
    "from starloom.warehouse import Warehouse; from starloom.ingestion.load import ingest; "
    "ingest(Warehouse(), 'feed', run_date='2024-01-02')"
)


COLUMNS = {
    "item_id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "version": {"type": "int64"},
}


def write_day(project, day, first, n, version):
    with open(feed_file(project, day), "w") as fh:
        fh.write("item_id,name,version\n")
        fh.writelines(f"{i},item number {i},{version}\n" for i in range(first, first + n))


def _kill_when(proc, landing, delay: float) -> bool:
    """SIGKILL the process `delay` seconds after its first landing file appears."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if landing.exists() and any(landing.rglob("*.parquet")):
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            return False
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.5, 1.5])
def test_killed_load_then_rerun_loses_and_doubles_nothing(project, wh, delay):
    declare_feed(project, COLUMNS)
    write_day(project, "2024-01-01", 0, ROWS // 2, version=1)
    ingest(wh, "feed", run_date="2024-01-01")
    # day 1 changes (it must be replaced, not doubled) and day 2 arrives
    write_day(project, "2024-01-01", 0, ROWS // 2, version=2)
    write_day(project, "2024-01-02", ROWS // 2, ROWS // 2, version=2)
    proc = subprocess.Popen(
        [sys.executable, "-c", LOAD],
        env={**os.environ, "STARLOOM_PROJECT_DIR": str(project)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    killed = _kill_when(proc, project / "output/landing/feed/items", delay)
    if not killed:
        proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL)
    # a kill late in the load may land after its swap and manifest: then nothing is left to do
    finished = (
        wh.table_exists("starloom_manifest")
        and wh.scalar(
            "SELECT count() FROM starloom_manifest FINAL WHERE source = 'feed' "
            "AND file LIKE '%date=2024-01-02%' AND size > 0"
        )
        > 0
    )
    again = ingest(wh, "feed", run_date="2024-01-02").iloc[0]
    assert again.rows_read == again.rows_loaded
    total, distinct, v2 = wh.query_rows(
        "SELECT count(), uniqExact(item_id), countIf(version = 2) FROM raw_feed__items"
    )[0]
    assert (total, distinct, v2) == (ROWS, ROWS, ROWS)
    left = wh.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, '_starloom_load_')"
    )
    assert left == []
    if killed and not finished:  # the rerun did the work the killed load could not finish
        assert again.rows_read > 0
    if finished:  # the killed load had recorded its files: the rerun skips them
        assert again.rows_read == 0
