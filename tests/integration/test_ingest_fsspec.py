"""File sources by fsspec URL: the same rows as from the local folder."""

from __future__ import annotations

import fsspec
import pytest
from tests.support.project import make_demo

from starloom.ingestion.load import ingest


@pytest.fixture
def memory_events(project):
    """The demo's event files copied to fsspec's in-memory filesystem."""
    make_demo(project)
    fs = fsspec.filesystem("memory")
    for path in sorted((project / "data/demo/events").glob("date=*/events.jsonl")):
        fs.pipe(f"/shop-events/{path.parent.name}/events.jsonl", path.read_bytes())
    yield "memory://shop-events/date=*/*.jsonl"
    fs.rm("/shop-events", recursive=True)


def test_files_by_url_load_like_local_files(project, wh, memory_events, monkeypatch):
    local = ingest(wh, "events", run_date="2024-01-03").iloc[0]
    expected = wh.query_rows("SELECT count(), sum(cityHash64(event_id)) FROM raw_events__events")
    wh.command("DROP TABLE raw_events__events")
    wh.command("TRUNCATE TABLE starloom_manifest")
    monkeypatch.setenv("EVENTS_PATH", memory_events)
    remote = ingest(wh, "events", run_date="2024-01-03").iloc[0]
    assert (remote.rows_read, remote.rows_loaded, remote.rows_quarantined) == (
        local.rows_read,
        local.rows_loaded,
        local.rows_quarantined,
    )
    assert (
        wh.query_rows("SELECT count(), sum(cityHash64(event_id)) FROM raw_events__events")
        == expected
    )
    files = wh.query_rows("SELECT DISTINCT file FROM starloom_quarantine ORDER BY file")
    assert files and all(f.startswith("memory://") and "/shop-events/date=" in f for (f,) in files)
    # unchanged files are skipped by URL too
    assert ingest(wh, "events", run_date="2024-01-03").iloc[0].rows_read == 0


def test_no_file_at_the_url_is_a_clear_error(project, wh, monkeypatch):
    monkeypatch.setenv("EVENTS_PATH", "memory://nothing-here/date=*/*.jsonl")
    from starloom.errors import SourceError

    with pytest.raises(SourceError, match="No file matches memory://nothing-here"):
        ingest(wh, "events", run_date="2024-01-03")
