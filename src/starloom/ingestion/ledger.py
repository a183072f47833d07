"""The warehouse's own bookkeeping tables: loads, quarantined rows, loaded files.

starloom_loads       one row per load of a table: rows read, loaded, quarantined, seconds,
                     the contract's schema version and changes, the high-water marks, the
                     run id (starloom.runs)
starloom_quarantine  every row that broke its contract, with the reason, file and line
starloom_manifest    every file loaded, with size, checksum and modification time, so a
                     rerun skips it

Their columns are declared in starloom.warehouse.state, which creates and migrates them.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd

from starloom.warehouse import Warehouse
from starloom.warehouse.ddl import Ddl


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
        wh.command(
            Ddl.of(wh).lightweight_delete(
                "starloom_quarantine",
                "source = {s:String} AND entity = {e:String} AND partition IN {p:Array(Date32)}",
            ),
            where,
        )
    if len(bad):
        wh.insert_df(
            "starloom_quarantine",
            bad[["load_id", "source", "entity", "partition", "file", "line", "reason", "record"]],
        )


def forget_files(wh: Warehouse, source: str, entity: str) -> None:
    """The table's files are taken as never loaded: the next load reads them all."""
    where = {"s": source, "e": entity}
    condition = "source = {s:String} AND entity = {e:String}"
    table = wh.qualified("starloom_manifest")
    if wh.scalar(f"SELECT count() FROM {table} WHERE {condition}", where):
        wh.command(Ddl.of(wh).lightweight_delete("starloom_manifest", condition), where)


def manifest(wh: Warehouse, source: str, entity: str) -> pd.DataFrame:
    return wh.query_df(
        f"SELECT file, size, sha256, mtime_ns FROM {wh.qualified('starloom_manifest')} FINAL "
        "WHERE source = {s:String} AND entity = {e:String}",
        {"s": source, "e": entity},
    )
