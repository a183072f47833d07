"""The warehouse's own bookkeeping tables: loads, quarantined rows, loaded files.

starloom_loads       one row per load of a table: rows read, loaded, quarantined, seconds,
                     the contract's schema version and changes, the high-water marks, the
                     run id (starloom.runs)
starloom_quarantine  every row that broke its contract, with the reason, file and line
starloom_manifest    every file loaded, with size, checksum and modification time, so a
                     rerun skips it
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd

from starloom.warehouse import Warehouse, quote_identifier

DDL = {
    "starloom_loads": """
        CREATE TABLE IF NOT EXISTS {t} (
            load_id String, run_id String, source String, entity String, run_date Date32,
            partitions Array(Date32), rows_read UInt64, rows_loaded UInt64,
            rows_quarantined UInt64, seconds Float64, started_at DateTime64(3, 'UTC'),
            schema_version String, schema_changes Array(String),
            high_water_from String, high_water String, rows_engine UInt64,
            notes Array(String), file_errors Array(String)
        ) ENGINE = MergeTree ORDER BY (source, entity, started_at)""",
    "starloom_quarantine": """
        CREATE TABLE IF NOT EXISTS {t} (
            load_id String, source String, entity String, partition Date32,
            file String, line Nullable(UInt64), reason String, record String,
            quarantined_at DateTime64(3, 'UTC') DEFAULT now64(3)
        ) ENGINE = MergeTree ORDER BY (source, entity, partition)""",
    "starloom_manifest": """
        CREATE TABLE IF NOT EXISTS {t} (
            source String, entity String, file String, partition Date32, size UInt64,
            sha256 String, load_id String, loaded_at DateTime64(3, 'UTC'), mtime_ns Int64
        ) ENGINE = ReplacingMergeTree(loaded_at) ORDER BY (source, entity, file)""",
}


# Columns added after the first release, added to older warehouses on the fly.
ADDED_COLUMNS = {
    "starloom_loads": [
        ("schema_version", "String"),
        ("schema_changes", "Array(String)"),
        ("high_water_from", "String"),
        ("high_water", "String"),
        ("rows_engine", "UInt64"),
        ("notes", "Array(String)"),
        ("file_errors", "Array(String)"),
        ("run_id", "String"),
    ],
    "starloom_manifest": [("mtime_ns", "Int64")],
}


def ensure(wh: Warehouse) -> None:
    for table, ddl in DDL.items():
        wh.command(ddl.format(t=wh.qualified(table)))
    for table, columns in ADDED_COLUMNS.items():
        for name, ctype in columns:
            wh.command(
                f"ALTER TABLE {wh.qualified(table)} ADD COLUMN IF NOT EXISTS "
                f"{quote_identifier(name)} {ctype}"
            )


def new_load_id(source: str, entity: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{source}.{entity}.{stamp}.{uuid.uuid4().hex[:8]}"


def record_load(wh: Warehouse, row: dict) -> None:
    wh.insert_df("starloom_loads", pd.DataFrame([row]))


def replace_quarantine(
    wh: Warehouse, source: str, entity: str, partitions: list[dt.date], bad: pd.DataFrame
) -> None:
    """Quarantined rows of these partitions, replacing those of any earlier load of them."""
    earlier = (
        f"FROM {wh.qualified('starloom_quarantine')} WHERE source = {{s:String}} "
        "AND entity = {e:String} AND partition IN {p:Array(Date32)}"
    )
    where = {"s": source, "e": entity, "p": list(partitions)}
    if partitions and wh.scalar(f"SELECT count() {earlier}", where):  # a DELETE is a mutation
        wh.command(f"DELETE {earlier}", where)
    if len(bad):
        wh.insert_df(
            "starloom_quarantine",
            bad[["load_id", "source", "entity", "partition", "file", "line", "reason", "record"]],
        )


def forget_files(wh: Warehouse, source: str, entity: str) -> None:
    """The table's files are taken as never loaded: the next load reads them all."""
    where = {"s": source, "e": entity}
    table = wh.qualified("starloom_manifest")
    if wh.scalar(
        f"SELECT count() FROM {table} WHERE source = {{s:String}} AND entity = {{e:String}}", where
    ):
        wh.command(
            f"DELETE FROM {table} WHERE source = {{s:String}} AND entity = {{e:String}}",
            where,
        )


def manifest(wh: Warehouse, source: str, entity: str) -> pd.DataFrame:
    return wh.query_df(
        f"SELECT file, size, sha256, mtime_ns FROM {wh.qualified('starloom_manifest')} FINAL "
        "WHERE source = {s:String} AND entity = {e:String}",
        {"s": source, "e": entity},
    )
