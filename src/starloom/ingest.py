"""Ingest with Dask: read a source in partitions, check its contract, land Parquet, load raw.

Flow per table: source -> Dask tasks (file chunks, database key ranges) -> contract check
(good rows typed, bad rows with a reason) -> landing Parquet, hive-partitioned by date
(output/landing/<source>/<table>/_partition=YYYY-MM-DD/) -> the ClickHouse raw table
raw_<source>__<table>.

Raw tables are partitioned by `_partition`: the run date for database extracts, the file's
date for file sources (late events stay in the file they came in). Each load replaces whole
partitions (ALTER TABLE ... REPLACE PARTITION from a table built aside), so re-running a
day gives the same result, a killed load leaves the previous state, and rows read = rows
loaded + rows quarantined.

Database tables come in two modes. `snapshot`: a full extract per run date. `incremental`:
the run date's partition holds the rows whose cursor is past the high-water mark (the
largest cursor in earlier partitions) and before the end of the run date; the raw table is
a ReplacingMergeTree ordered by key and cursor, and readers take the latest row per key
(`ORDER BY cursor DESC LIMIT 1 BY key`). Change events (`format: debezium`) are applied by
starloom.cdc.
"""

from __future__ import annotations

import datetime as dt
import glob
import re
import shutil
import sys
import time
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.callbacks import Callback

from starloom import cdc, ledger
from starloom.contracts import Contract
from starloom.errors import SourceError, StarloomError
from starloom.readers import QUARANTINE_COLUMNS, READERS, scan
from starloom.settings import Settings, parse_run_date
from starloom.sources import Entity, Source, get_source
from starloom.sql_extract import sql_tasks
from starloom.warehouse import Warehouse, quote_identifier

CSV_SPLIT_BYTES = 64 << 20  # a larger CSV file is read by several tasks, one per range
META_COLUMNS = [
    ("_load_id", "String"),
    ("_partition", "Date32"),
    ("_source_file", "String"),
    ("_source_line", "Nullable(Int64)"),
]


# -- running the tasks ----------------------------------------------------------------------
def _interactive() -> bool:
    """True on a terminal or in a Jupyter kernel, where a progress bar is worth showing."""
    if sys.stderr.isatty():
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class _TaskProgress(Callback):
    """A tqdm bar over the Dask tasks of a load (shown only on a terminal or in Jupyter)."""

    def __init__(self, total: int, label: str):
        super().__init__()
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=label, unit="part", disable=not _interactive())

    def _posttask(self, key, result, dsk, state, worker_id):
        self.bar.update(1)

    def _finish(self, dsk, state, errored):
        self.bar.close()


def _compute(tasks: list, settings: Settings, label: str) -> list:
    """Run the tasks: on the dask.distributed scheduler if one is configured, else threads."""
    if settings.dask_scheduler:
        from distributed import Client, as_completed
        from tqdm.auto import tqdm

        with (
            Client(settings.dask_scheduler) as client,
            tqdm(total=len(tasks), desc=label, unit="part", disable=not _interactive()) as bar,
        ):
            futures = client.compute(tasks)
            for _ in as_completed(futures):
                bar.update(1)
            return client.gather(futures)
    with _TaskProgress(len(tasks), label):
        return list(dask.compute(*tasks, scheduler="threads"))


# -- raw tables ---------------------------------------------------------------------------
def _contract_of(source: Source, entity: Entity) -> Contract:
    """The contract of the landed rows (change events add their op, version and flag)."""
    return cdc.event_contract(entity.contract) if source.format == "debezium" else entity.contract


def _raw_columns(source: Source, entity: Entity) -> list[tuple[str, str]]:
    cols = [(c.name, c.clickhouse_type()) for c in entity.contract.columns]
    if source.format == "debezium":
        cols += cdc.EVENT_COLUMNS
    return cols + META_COLUMNS


def _engine(source: Source, entity: Entity) -> str:
    keys = list(entity.contract.primary_key)
    if source.format == "debezium":
        return cdc.engine_clause(keys)
    if entity.mode == "incremental":
        order = ", ".join(quote_identifier(k) for k in [*keys, entity.cursor])
        return (
            "ReplacingMergeTree PARTITION BY toYYYYMMDD(_partition) "
            f"ORDER BY ({order}, `_partition`)"
        )
    order = ", ".join(quote_identifier(k) for k in keys) or "tuple()"
    return f"MergeTree PARTITION BY toYYYYMMDD(_partition) ORDER BY ({order})"


def ensure_raw_table(wh: Warehouse, entity: Entity, source: Source | None = None) -> list[str]:
    """Create the raw table or check it against the contract; returns the changes made.

    `schema: strict` fails on any difference, listing them. `schema: additive` adds new
    contract columns (ALTER TABLE ADD COLUMN) and fails on a removed or retyped column.
    """
    source = source or Source(name=entity.source, kind="files", entities=(entity,))
    cols = _raw_columns(source, entity)
    table = wh.qualified(entity.raw_table)
    if not wh.table_exists(entity.raw_table):
        body = ",\n  ".join(f"{quote_identifier(n)} {t}" for n, t in cols)
        wh.command(
            f"CREATE TABLE IF NOT EXISTS {table} (\n  {body},\n"
            f"  `_loaded_at` DateTime64(3, 'UTC') DEFAULT now64(3)\n) ENGINE = "
            + _engine(source, entity)
        )
        return []
    have = dict(
        wh.query_rows(
            "SELECT name, type FROM system.columns WHERE database = {d:String} "
            "AND table = {t:String} AND name != '_loaded_at'",
            {"d": wh.database, "t": entity.raw_table},
        )
    )
    want = dict(cols)
    diffs = [
        f"{n}: {have.get(n, 'absent')} in the warehouse, {want.get(n, 'absent')} in the contract"
        for n in sorted(set(have) | set(want))
        if have.get(n) != want.get(n)
    ]
    if not diffs:
        return []
    added = [n for n in want if n not in have]
    if entity.schema == "additive" and len(added) == len(diffs):
        changes = []
        order = list(want)
        for name in added:
            i = order.index(name)
            place = f"AFTER {quote_identifier(order[i - 1])}" if i else "FIRST"
            wh.command(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote_identifier(name)} "
                f"{want[name]} {place}"
            )
            changes.append(f"added column {name} {want[name]}")
        return changes
    policy = (
        "Under `schema: additive` only new columns are accepted."
        if entity.schema == "additive"
        else "The table has `schema: strict`; set `schema: additive` to accept new columns."
    )
    raise StarloomError(
        f"The contract of {entity.source}.{entity.name} no longer matches "
        f"{entity.raw_table}: " + "; ".join(diffs) + f". {policy} Restore the contract or "
        f"drop the raw table to reload it (DROP TABLE {entity.raw_table})."
    )


def _drop_stale_asides(wh: Warehouse, raw_table: str) -> None:
    """Tables left aside by a load that was killed."""
    for (name,) in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String} "
        "AND startsWith(name, {p:String})",
        {"d": wh.database, "p": f"{raw_table}__load_"},
    ):
        wh.command(f"DROP TABLE IF EXISTS {wh.qualified(name)}")


def _insert_files(wh: Warehouse, target: str, names: list[str], files: list[Path]) -> None:
    col_list = ", ".join(quote_identifier(n) for n in names)
    for path in files:
        if wh.embedded:
            wh.command(
                f"INSERT INTO {wh.qualified(target)} ({col_list}) SELECT {col_list} "
                "FROM file({p:String}, 'Parquet')",
                {"p": str(path)},
            )
        else:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
                wh.insert_arrow(target, pa.Table.from_batches([batch]))


def _load_landing(
    wh: Warehouse,
    source: Source,
    entity: Entity,
    files: list[Path],
    partitions: list[dt.date],
    load_id: str,
) -> None:
    """Load landing Parquet into a table aside, then swap its partitions into the raw table."""
    names = [n for n, _ in _raw_columns(source, entity)]
    _drop_stale_asides(wh, entity.raw_table)
    if source.format == "debezium":  # events are upserts: a replay collapses on (key, version)
        _insert_files(wh, entity.raw_table, names, files)
        return
    aside = f"{entity.raw_table}__load_{load_id.rsplit('.', 1)[-1]}"
    wh.command(f"CREATE TABLE {wh.qualified(aside)} AS {wh.qualified(entity.raw_table)}")
    try:
        _insert_files(wh, aside, names, files)
        for day in partitions:
            pid = day.strftime("%Y%m%d")
            if wh.scalar(
                f"SELECT count() FROM {wh.qualified(aside)} WHERE _partition = {{d:Date32}}",
                {"d": day},
            ):
                wh.command(
                    f"ALTER TABLE {wh.qualified(entity.raw_table)} REPLACE PARTITION ID "
                    f"'{pid}' FROM {wh.qualified(aside)}"
                )
            else:
                wh.command(
                    f"ALTER TABLE {wh.qualified(entity.raw_table)} DROP PARTITION ID '{pid}'"
                )
    finally:
        wh.command(f"DROP TABLE IF EXISTS {wh.qualified(aside)}")


# -- files --------------------------------------------------------------------------------
def _file_date(path: str, key: str | None, where: str) -> dt.date:
    m = re.search(rf"{re.escape(key or 'date')}=(\d{{4}}-\d{{2}}-\d{{2}})", path)
    if not m:
        raise SourceError(
            f"{path}: no `{key}=YYYY-MM-DD` folder in the path of {where}; "
            "put each day's files in a folder named like that."
        )
    return dt.date.fromisoformat(m.group(1))


def _glob(pattern: str) -> list[str]:
    """Files matching a local glob or an fsspec URL glob (s3://bucket/day=*/x.csv), sorted."""
    if "://" not in pattern:
        return sorted(glob.glob(pattern))
    import fsspec

    fs, _, _ = fsspec.core.get_fs_token_paths(pattern)
    return sorted(fs.unstrip_protocol(p) for p in fs.glob(pattern))


def _file_tasks(wh, source: Source, entity: Entity, run_date, landing_root, load_id, days):
    """Tasks for the days whose files are new or changed (or every day in `days`)."""
    project = wh.settings.project_dir
    pattern = (
        entity.path
        if "://" in entity.path or entity.path.startswith("/")
        else str(project / entity.path)
    )
    paths = _glob(pattern)
    where = f"{source.name}.{entity.name}"
    if not paths:
        raise SourceError(
            f"No file matches {entity.path} (source {where}, "
            f"{source.file.name if source.file else ''}). Check the path, or "
            "generate the demo sources first (starloom demo)."
        )
    by_day: dict[dt.date, list[str]] = {}
    for p in paths:
        day = _file_date(p, entity.partition_key, where)
        if (days[0] <= day <= days[1]) if days else day <= run_date:
            by_day.setdefault(day, []).append(p)
    known = (
        {}
        if days
        else {
            r.file: (int(r.size), r.sha256)
            for r in ledger.manifest(wh, source.name, entity.name).itertuples()
        }
    )
    split = CSV_SPLIT_BYTES if source.format == "csv" else None
    scans = {p: scan(p, split) for ps in by_day.values() for p in ps}
    fingerprints = {p: result[:2] for p, result in scans.items()}
    rel = {
        p: str(Path(p).relative_to(project)) if Path(p).is_relative_to(project) else p
        for p in fingerprints
    }
    todo = sorted(
        d for d, ps in by_day.items() if any(known.get(rel[p]) != fingerprints[p] for p in ps)
    )
    reader = cdc.read_events if source.format == "debezium" else READERS[source.format]
    contract = _contract_of(source, entity)
    tasks, manifest_rows = [], []
    for day in todo:
        partition_dir = landing_root / f"_partition={day}"
        shutil.rmtree(partition_dir, ignore_errors=True)
        for i, p in enumerate(by_day[day]):
            meta = {"load_id": load_id, "partition": day, "file": rel[p], "stem": f"f{i:04d}"}
            ranges = scans[p][2]
            if len(ranges) < 2:
                tasks.append(dask.delayed(reader)(p, contract, partition_dir, meta))
            for j, part in enumerate(ranges if len(ranges) > 1 else []):
                part_meta = {**meta, "range": part, "stem": f"f{i:04d}-r{j:04d}"}
                tasks.append(dask.delayed(reader)(p, contract, partition_dir, part_meta))
            manifest_rows.append(
                {
                    "source": source.name,
                    "entity": entity.name,
                    "file": rel[p],
                    "partition": day,
                    "size": fingerprints[p][0],
                    "sha256": fingerprints[p][1],
                }
            )
    return tasks, todo, manifest_rows


# -- databases ----------------------------------------------------------------------------
def high_water_mark(wh: Warehouse, entity: Entity, before: dt.date):
    """The largest cursor loaded in partitions earlier than `before` (None if there is none)."""
    value = wh.scalar(
        f"SELECT max({quote_identifier(entity.cursor)}) FROM {wh.qualified(entity.raw_table)} "
        "WHERE _partition < {d:Date32} HAVING count() > 0",
        {"d": before},
    )
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)  # databases compare naive UTC
    return value


def _db_tasks(wh, source: Source, entity: Entity, run_date, landing_root, load_id):
    partition_dir = landing_root / f"_partition={run_date}"
    shutil.rmtree(partition_dir, ignore_errors=True)
    meta = {
        "load_id": load_id,
        "partition": run_date,
        "file": f"{source.name}:{entity.name}",
        "stem": entity.name,
    }
    after = before = None
    if entity.mode == "incremental":
        after = high_water_mark(wh, entity, run_date)
        column = next(c for c in entity.contract.columns if c.name == entity.cursor)
        if column.type in ("datetime", "date"):
            before = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    tasks = sql_tasks(source, entity, partition_dir, meta, after=after, before=before)
    return tasks, after


# -- loads --------------------------------------------------------------------------------
def ingest(
    wh: Warehouse, source_name: str, run_date, *, full_refresh: bool = False
) -> pd.DataFrame:
    """Load every table of a source for run_date; one summary row per table.

    Files: the days with new or changed files up to run_date (every day with
    `full_refresh`). Databases: the run date's extract (see the module docstring).
    """
    run_date = parse_run_date(run_date)
    source = get_source(wh.settings.project_dir, source_name)
    rows = []
    with wh.session():
        ledger.ensure(wh)
        for entity in source.entities:
            days = (dt.date.min, run_date) if full_refresh and source.kind == "files" else None
            rows.append(_ingest_entity(wh, source, entity, run_date, days))
    return pd.DataFrame(rows)


def backfill(wh: Warehouse, source_name: str, start, end) -> pd.DataFrame:
    """Re-ingest exactly the days start..end (inclusive); one summary row per table and load.

    Files: every day in the range that has files is reloaded, whatever the manifest says.
    Incremental database tables: each run date in the range is extracted again, in order.
    Snapshot database tables are left alone: a past snapshot cannot be extracted again.
    """
    start, end = parse_run_date(start), parse_run_date(end)
    if end < start:
        raise StarloomError(f"backfill: the end {end} is before the start {start}.")
    source = get_source(wh.settings.project_dir, source_name)
    rows = []
    with wh.session():
        ledger.ensure(wh)
        for entity in source.entities:
            if source.kind == "files":
                rows.append(_ingest_entity(wh, source, entity, end, (start, end)))
            elif entity.mode == "incremental":
                day = start
                while day <= end:
                    rows.append(_ingest_entity(wh, source, entity, day, None))
                    day += dt.timedelta(days=1)
    return pd.DataFrame(rows)


def _ingest_entity(wh, source: Source, entity: Entity, run_date: dt.date, days) -> dict:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    load_id = ledger.new_load_id(source.name, entity.name)
    landing_root = wh.settings.output_dir / "landing" / source.name / entity.name
    changes = ensure_raw_table(wh, entity, source)
    manifest_rows, after = [], None
    if source.kind == "sql":
        tasks, after = _db_tasks(wh, source, entity, run_date, landing_root, load_id)
        partitions = [run_date]
    else:
        tasks, partitions, manifest_rows = _file_tasks(
            wh, source, entity, run_date, landing_root, load_id, days
        )
    label = f"{source.name}.{entity.name}"
    planned = time.perf_counter()
    results = [r for group in _compute(tasks, wh.settings, label) for r in group] if tasks else []
    files = sorted(
        p for d in partitions for p in (landing_root / f"_partition={d}").glob("*.parquet")
    )
    landed = time.perf_counter()
    if partitions:
        _load_landing(wh, source, entity, files, partitions, load_id)
    loaded = time.perf_counter()
    bad = (
        pd.concat([r["bad"] for r in results], ignore_index=True)
        if results
        else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    bad = bad.assign(load_id=load_id, source=source.name, entity=entity.name)
    bad["line"] = pd.to_numeric(bad["line"], errors="coerce").astype("UInt64")
    ledger.replace_quarantine(wh, source.name, entity.name, partitions, bad)
    if manifest_rows:
        wh.insert_df(
            "starloom_manifest",
            pd.DataFrame(manifest_rows).assign(load_id=load_id, loaded_at=dt.datetime.now(dt.UTC)),
        )
    rows_read = sum(r["rows_read"] for r in results)
    rows_loaded = sum(r["rows_loaded"] for r in results)
    if rows_read != rows_loaded + len(bad):
        raise StarloomError(
            f"{entity.raw_table}: {rows_read} rows read but {rows_loaded} loaded "
            f"and {len(bad)} quarantined; nothing may be lost. This is a bug."
        )
    high_water = (
        high_water_mark(wh, entity, run_date + dt.timedelta(days=1))
        if entity.mode == "incremental"
        else None
    )
    seconds = time.perf_counter() - started
    summary = {
        "load_id": load_id,
        "source": source.name,
        "entity": entity.name,
        "run_date": run_date,
        "partitions": partitions,
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_quarantined": len(bad),
        "seconds": round(seconds, 3),
        "started_at": started_at,
        "schema_version": entity.contract.schema_version,
        "schema_changes": changes,
        "high_water_from": "" if after is None else str(after),
        "high_water": "" if high_water is None else str(high_water),
    }
    ledger.record_load(wh, summary)
    summary["rows_per_s"] = round(rows_read / seconds) if seconds else None
    # where the time went: planning (fingerprints, source queries), reading and checking
    # into landing Parquet, loading the warehouse, bookkeeping
    summary["seconds_plan"] = round(planned - started, 3)
    summary["seconds_land"] = round(landed - planned, 3)
    summary["seconds_warehouse"] = round(loaded - landed, 3)
    return summary
