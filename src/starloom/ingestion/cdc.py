"""Change data capture: Debezium-shaped change events from JSON-lines files.

Each line is an event `{"op": "c"|"u"|"d"|"r", "before": {...}, "after": {...},
"ts_ms": ..., "source": {"lsn": ...}}`, bare or wrapped in `{"payload": {...}}`. A create,
update or snapshot read (c, u, r) carries the new row in `after`; a delete (d) the old row
in `before`. The event's version is `source.lsn` when present (the log position, which
orders every change), else `ts_ms`.

The raw table is a ReplacingMergeTree(_version, _is_deleted) ordered by the primary key:
every event is inserted as a row with its version; merges keep the latest version per key
and drop the key when that version is a delete. Replaying a file inserts the same
(key, version) rows again, which collapse, so applying events is idempotent.

Reading the current state: `SELECT ... FROM raw FINAL` gives one row per live key (FINAL
applies the pending merges at read time; without it a key may show several versions and
deleted keys). `current_state_sql` gives the same without FINAL (argMax per key), for
engines or settings where FINAL is not wanted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from starloom.ingestion.contracts import Column, Contract
from starloom.ingestion.csv_records import too_long
from starloom.ingestion.readers import CHUNK_LINES, RECORD_CHARS, bounded_lines, land, strict_json
from starloom.warehouse import Warehouse, quote_identifier
from starloom.warehouse.ddl import TableSpec

OPS = ("c", "u", "d", "r")
EVENT_COLUMNS = [
    ("_op", "LowCardinality(String)"),
    ("_version", "UInt64"),
    ("_is_deleted", "UInt8"),
]


def event_contract(contract: Contract) -> Contract:
    """The contract of landed events: the row's columns, then op, version and delete flag."""
    extra = (
        Column("_op", "string", nullable=False, accepted_values=OPS),
        Column("_version", "int64", nullable=False, min=0),
        Column("_is_deleted", "bool", nullable=False),
    )
    return Contract(
        columns=contract.columns + extra,
        primary_key=(*contract.primary_key, "_version"),
        extra_columns=contract.extra_columns,
    )


def _delete_contract(contract: Contract) -> Contract:
    """A delete needs its key and version; the other columns of `before` may be absent."""
    keys = set(contract.primary_key)
    cols = tuple(
        c
        if c.name in keys or c.name.startswith("_")
        else Column(c.name, c.type, nullable=True, description=c.description)
        for c in contract.columns
    )
    return Contract(columns=cols, primary_key=contract.primary_key)


def table_spec(keys: list[str]) -> TableSpec:
    """The raw table of change events: the latest version of a key wins, a delete drops it."""
    return TableSpec(
        engine="ReplacingMergeTree",
        engine_args=("_version", "_is_deleted"),
        order_by=tuple(quote_identifier(k) for k in keys),
        shard_by=tuple(keys),
    )


def _event_row(obj: dict) -> dict:
    """The row image of one event with its op, version and delete flag; reason if unusable."""
    event = obj.get("payload", obj) if isinstance(obj.get("payload"), dict) else obj
    op = event.get("op")
    if op not in OPS:
        return {"_reason_pre": f"event op {op!r} is not one of {list(OPS)}"}
    image = event.get("before") if op == "d" else event.get("after")
    if not isinstance(image, dict):
        side = "before" if op == "d" else "after"
        return {"_op": op, "_reason_pre": f"event op {op!r} without a `{side}` row"}
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    version = source.get("lsn", event.get("ts_ms"))
    return {**image, "_op": op, "_version": version, "_is_deleted": op == "d"}


def read_events(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Read change events in chunks; land upserts and deletes, quarantine broken events."""
    results, rows, chunk_no = [], [], 0
    with open(path, "rb") as fh:
        for line_no, raw in bounded_lines(fh):
            if raw is not None and not raw.strip():
                continue
            row = {"_source_file": meta["file"], "_source_line": line_no}
            try:
                if raw is None:
                    raw = b""
                    raise ValueError(too_long())
                obj = strict_json(raw.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                row.update(_event_row(obj))
            except (ValueError, RecursionError) as exc:
                row["_reason_pre"] = f"line is not a JSON object ({str(exc)[:80]})"
            if "_reason_pre" in row:
                row["_raw"] = raw.decode("utf-8", errors="replace").strip()[:RECORD_CHARS]
            rows.append(row)
            if len(rows) >= CHUNK_LINES:
                results += _land_events(rows, contract, landing, meta, chunk_no)
                chunk_no, rows = chunk_no + 1, []
    if rows:
        results += _land_events(rows, contract, landing, meta, chunk_no)
    return results


def _land_events(rows, contract, landing: Path, meta: dict, chunk_no: int) -> list[dict]:
    df = pd.DataFrame(rows)
    deletes = df["_op"].eq("d") if "_op" in df else pd.Series(False, index=df.index)
    out = []
    for part, rules, tag in (
        (df[~deletes], contract, "u"),
        (df[deletes], _delete_contract(contract), "d"),
    ):
        if len(part):
            target = landing / f"{meta['stem']}-{chunk_no:04d}{tag}.parquet"
            out.append(land(part, rules, target, meta))
    return out


def current_state_sql(wh: Warehouse, table: str, keys: list[str], columns: list[str]) -> str:
    """A SELECT of the live rows, one per key, with argMax instead of FINAL."""
    key_list = ", ".join(quote_identifier(k) for k in keys)
    latest = ", ".join(
        f"argMax({quote_identifier(c)}, `_version`) AS {quote_identifier(c)}"
        for c in columns
        if c not in keys
    )
    return (
        f"SELECT {key_list}, {latest} FROM {wh.qualified(table)} GROUP BY {key_list} "
        "HAVING argMax(`_is_deleted`, `_version`) = 0"
    )
