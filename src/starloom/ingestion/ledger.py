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

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator

import pandas as pd

from starloom.warehouse import Warehouse
from starloom.warehouse.ddl import Ddl


def new_load_id(source: str, entity: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{source}.{entity}.{stamp}.{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def load_records(wh: Warehouse) -> Iterator[Callable[[dict], None]]:
    """A function recording a load's summary row in starloom_loads for the block: a load
    that changed its raw table at once, the loads that found nothing to load together in
    one insert when the block ends, however it ends (a run with nothing new costs one
    statement, not one per table)."""
    idle: list[dict] = []

    def record(row: dict) -> None:
        if row["partitions"] or row.get("schema_changes"):  # the raw table changed
            wh.insert_df("starloom_loads", pd.DataFrame([row]))
        else:
            idle.append(dict(row))

    def flush() -> None:
        shapes: dict[tuple, list[dict]] = {}  # rows of the same columns go in together
        for row in idle:
            shapes.setdefault(tuple(row), []).append(row)
        for rows in shapes.values():
            wh.insert_df("starloom_loads", pd.DataFrame(rows))

    try:
        yield record
    except BaseException:
        with contextlib.suppress(Exception):  # the block's own error is the one shown
            flush()
        raise
    flush()


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


def manifests(wh: Warehouse, source: str) -> dict[str, dict[str, tuple[int, str, int]]]:
    """{table: {file: (size, sha256, mtime_ns)}}: the files of a source's tables as loaded."""
    found: dict[str, dict[str, tuple[int, str, int]]] = {}
    for entity, file, size, sha, mtime in wh.query_rows(
        f"SELECT entity, file, size, sha256, mtime_ns FROM "
        f"{wh.qualified('starloom_manifest')} FINAL WHERE source = {{s:String}}",
        {"s": source},
    ):
        found.setdefault(entity, {})[file] = (int(size), sha, int(mtime))
    return found
