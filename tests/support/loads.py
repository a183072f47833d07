"""One source table loaded from files written for a test, in a project of its own."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import zstandard

from starloom.ingestion.load import ingest
from starloom.settings import Settings
from starloom.warehouse import Warehouse
from tests.support.project import write_source

RUN_DATE = "2024-01-05"


@dataclass
class Loaded:
    summary: dict  # the load's summary row
    rows: pd.DataFrame  # the raw table, by file and line
    bad: pd.DataFrame  # the quarantine, by file and line
    wh: Warehouse


def compressed(data: bytes, how: str) -> bytes:
    return gzip.compress(data) if how == "gzip" else zstandard.ZstdCompressor().compress(data)


def load_files(
    root: Path,
    files: dict[str, bytes | str],
    columns: dict,
    fmt: str = "csv",
    landing: str = "parquet",
    path: str = "data/feed/date=*/*",
    run_date: str = RUN_DATE,
    **table,
) -> Loaded:
    """Write `files` (paths relative to the project), declare source `feed` with table
    `items` reading `path`, ingest once and read back what reached the warehouse."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sources").mkdir(exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    items = {"path": path, "columns": columns, **table}
    spec = {"kind": "files", "format": fmt} | ({"landing": landing} if fmt == "csv" else {})
    write_source(root, "feed", {"items": items}, **spec)
    wh = Warehouse(Settings(project_dir=root, warehouse_path=root / ".warehouse"))
    summary = ingest(wh, "feed", run_date=run_date).iloc[0].to_dict()
    rows = wh.query_df(
        "SELECT * EXCEPT (_loaded_at) FROM raw_feed__items ORDER BY _source_file, _source_line"
    )
    bad = wh.query_df(
        "SELECT file, line, reason, record, load_id FROM starloom_quarantine ORDER BY file, line"
    )
    load_id = summary["load_id"]
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_quarantined"]
    assert (rows.get("_load_id", pd.Series()) == load_id).sum() == summary["rows_loaded"]
    assert (bad.get("load_id", pd.Series()) == load_id).sum() == summary["rows_quarantined"]
    rows = rows.drop(columns="_load_id", errors="ignore")
    bad = bad.drop(columns="load_id", errors="ignore")
    return Loaded(summary, rows, bad, wh)
