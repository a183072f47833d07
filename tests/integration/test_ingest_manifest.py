"""The manifest decides which files a load reads: new and changed files, by checksum; a local
file whose size and modification time are those recorded is not read again."""

from __future__ import annotations

import hashlib
import os

import pytest
from tests.support.project import declare_feed, feed_file

from starloom.ingestion.load import ingest

COLUMNS = {"item_id": {"type": "int64"}, "name": {"type": "string"}}


def _loaded(wh) -> list:
    return [r[0] for r in wh.query_rows("SELECT name FROM raw_feed__items ORDER BY item_id")]


def _recorded_sha256(wh) -> list[str]:
    return [r[0] for r in wh.query_rows("SELECT sha256 FROM starloom_manifest FINAL")]


# landing "none": the engine loads the new file while its checksum is worked out beside it
@pytest.mark.parametrize("landing", [None, "none"])
def test_files_are_read_again_only_when_size_or_time_change(project, wh, landing):
    declare_feed(project, COLUMNS, landing=landing, partition_key="date")
    path = feed_file(project, "2024-01-04")
    path.write_text("item_id,name\n1,aaa\n2,bbb\n")
    loads = ingest(wh, "feed", run_date="2024-01-05")
    assert loads.rows_loaded.sum() == 2
    assert loads.rows_engine.sum() == (2 if landing == "none" else 0)
    assert _recorded_sha256(wh) == [hashlib.sha256(path.read_bytes()).hexdigest()]
    stat = os.stat(path)

    # the same size and time: taken as unchanged, not read (as make and rsync do)
    path.write_text("item_id,name\n1,zzz\n2,bbb\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ingest(wh, "feed", run_date="2024-01-05").rows_read.sum() == 0
    assert _loaded(wh) == ["aaa", "bbb"]

    # touched: read for its checksum, which now differs, so the day is loaded again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    loads = ingest(wh, "feed", run_date="2024-01-05")
    assert loads.rows_loaded.sum() == 2 and _loaded(wh) == ["zzz", "bbb"]

    # touched again with the same content: the checksum matches, nothing is loaded
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert ingest(wh, "feed", run_date="2024-01-05").rows_read.sum() == 0
    assert _loaded(wh) == ["zzz", "bbb"]


def test_a_forced_run_reads_every_file_again(project, wh, monkeypatch):
    """Within `starloom run --force` (STARLOOM_FORCE=1) a load reads the files the manifest
    holds as loaded, and leaves the same rows."""
    declare_feed(project, COLUMNS, partition_key="date")
    feed_file(project, "2024-01-04").write_text("item_id,name\n1,aaa\n2,bbb\n")
    feed_file(project, "2024-01-05").write_text("item_id,name\n3,ccc\n")
    assert ingest(wh, "feed", run_date="2024-01-05").rows_loaded.sum() == 3
    assert ingest(wh, "feed", run_date="2024-01-05").rows_read.sum() == 0
    monkeypatch.setenv("STARLOOM_FORCE", "1")
    assert ingest(wh, "feed", run_date="2024-01-05").rows_read.sum() == 3
    assert _loaded(wh) == ["aaa", "bbb", "ccc"]
