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
starloom.ingestion.cdc.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.callbacks import Callback

from starloom.errors import SourceError, StarloomError, first_line
from starloom.ingestion import cdc, engine_csv, ledger
from starloom.ingestion.contracts import Contract
from starloom.ingestion.csv_records import ends_open
from starloom.ingestion.readers import QUARANTINE_COLUMNS, READERS, csv_columns, scan
from starloom.ingestion.sources import Entity, Source, entity_files
from starloom.ingestion.sql_extract import sql_tasks
from starloom.kernel import interactive
from starloom.project import Project
from starloom.runs import current_run_id, forced
from starloom.settings import Settings, parse_run_date
from starloom.warehouse import Warehouse, quote_identifier, state
from starloom.warehouse.ddl import Ddl, TableSpec, add_column

# a load's rows wait in `_starloom_load_<8 hex>__<raw table>`: no raw table (raw_...) or
# model is named so, and stale asides are found by that whole shape, never by a prefix
ASIDE = "_starloom_load_"
CSV_SPLIT_BYTES = 64 << 20  # a larger CSV file is read by several tasks, one per range
META_COLUMNS = [  # a load's id and a file's name repeat on every row: LowCardinality
    ("_load_id", "LowCardinality(String)"),
    ("_partition", "Date32"),
    ("_source_file", "LowCardinality(String)"),
    ("_source_line", "Nullable(Int64)"),
]


# -- running the tasks ----------------------------------------------------------------------
class _TaskProgress(Callback):
    """A tqdm bar over the Dask tasks of a load (shown only on a terminal or in Jupyter)."""

    def __init__(self, total: int, label: str):
        super().__init__()
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit="part", disable=not interactive())

    def _posttask(self, key, result, dsk, state, worker_id):
        self.bar.update(1)

    def _finish(self, dsk, state, errored):
        self.bar.close()


def _compute(tasks: list, settings: Settings, label: str) -> list:
    """Run the tasks: on the dask.distributed scheduler if one is configured, else threads."""
    if settings.dask_scheduler:
        from distributed import Client, as_completed
        from tqdm import tqdm

        with (
            Client(settings.dask_scheduler) as client,
            tqdm(total=len(tasks), desc=label, unit="part", disable=not interactive()) as bar,
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


LOADED_AT = ("_loaded_at", "DateTime64(3, 'UTC') DEFAULT now64(3)")
BY_DAY = "toYYYYMMDD(_partition)"


def _spec(source: Source, entity: Entity) -> TableSpec:
    """The raw table's engine, partitions and sorting key."""
    keys = list(entity.contract.primary_key)
    if source.format == "debezium":
        return cdc.table_spec(keys)
    if entity.mode == "incremental":
        return TableSpec(
            engine="ReplacingMergeTree",
            order_by=tuple(quote_identifier(k) for k in [*keys, entity.cursor, "_partition"]),
            partition_by=BY_DAY,
            shard_by=tuple(keys),
        )
    return TableSpec(
        order_by=tuple(quote_identifier(k) for k in keys),
        partition_by=BY_DAY,
        shard_by=tuple(keys),
    )


def ensure_raw_table(
    wh: Warehouse, entity: Entity, source: Source | None = None, columns=None
) -> list[str]:
    """Create the raw table or check it against the contract; returns the changes made.

    `schema: strict` fails on any difference, listing them. `schema: additive` adds new
    contract columns (ALTER TABLE ADD COLUMN) and fails on a removed or retyped column.
    """
    source = source or Source(name=entity.source, kind="files", entities=(entity,))
    cols = _raw_columns(source, entity)
    ddl = Ddl.of(wh)
    columns = wh.columns(entity.raw_table) if columns is None else columns  # [] if none
    have = {n: t for n, t in columns if n != LOADED_AT[0]}
    if not have:  # no such table
        spec = _spec(source, entity)
        for sql in ddl.create_table(entity.raw_table, [*cols, LOADED_AT], spec, True):
            wh.command(sql)
        return []
    want = dict(cols)
    for name, _ in META_COLUMNS:  # a table of an older layout keeps its lineage column types
        want[name] = have.get(name, want[name])
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
            after = order[i - 1] if i else None
            action = add_column(name, want[name], after, first=not i, if_not_exists=True)
            for sql in ddl.alter_columns(entity.raw_table, [action]):
                wh.command(sql)
            changes.append(f"added column {name} {want[name]}")
        return changes
    policy = (
        "Under `schema: additive` only new columns are accepted."
        if entity.schema == "additive"
        else "The table has `schema: strict`; set `schema: additive` to accept new columns."
    )
    raise StarloomError(
        f"The contract of {entity.source}.{entity.name} no longer matches "
        f"{entity.raw_table}: " + "; ".join(diffs) + f". {policy} Restore the contract, or "
        f"reload the table from its files under the new contract: "
        f"starloom ingest {entity.source}.{entity.name} --reload"
    )


def _drop_stale_asides(wh: Warehouse, raw_table: str) -> None:
    """Tables left aside by a load that was killed."""
    for (name,) in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String} AND match(name, {p:String})",
        {"d": wh.database, "p": f"^{ASIDE}[0-9a-f]{{8}}__{re.escape(raw_table)}$"},
    ):
        for sql in Ddl.of(wh).drop_table(name):
            wh.command(sql)


def _insert_files(wh: Warehouse, target: str, names: list[str], files: list[Path]) -> None:
    col_list = ", ".join(quote_identifier(n) for n in names)
    settings = Ddl.of(wh).insert_settings or None  # on a cluster: complete when it returns
    for path in files:
        if wh.embedded and not engine_csv.has_glob(str(path)):
            wh.command(
                f"INSERT INTO {wh.qualified(target)} ({col_list}) SELECT {col_list} "
                "FROM file({p:String}, 'Parquet')",
                {"p": str(path)},
            )
        else:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
                wh.insert_arrow(target, pa.Table.from_batches([batch]), settings=settings)


def _create_aside(wh: Warehouse, source: Source, entity: Entity, load_id: str) -> str:
    """An empty table like the raw table, for this load's rows until they are swapped in."""
    _drop_stale_asides(wh, entity.raw_table)
    aside = f"{ASIDE}{load_id.rsplit('.', 1)[-1]}__{entity.raw_table}"
    for sql in Ddl.of(wh).create_like(aside, entity.raw_table, _spec(source, entity)):
        wh.command(sql)
    return aside


def _rows_by_day(wh: Warehouse, aside: str) -> dict[dt.date, int]:
    """{day: rows} of the table aside: what reached the table, counted by the engine."""
    rows = wh.query_rows(f"SELECT _partition, count() FROM {wh.qualified(aside)} GROUP BY 1")
    return {(d.date() if isinstance(d, dt.datetime) else d): int(n) for d, n in rows}


def _swap_partitions(
    wh: Warehouse,
    entity: Entity,
    aside: str,
    partitions: list[dt.date],
    counts: dict[dt.date, int],
    whole: bool = False,
):
    """Each partition of the load replaces the raw table's (or drops it, if the aside has
    no rows of that day: `counts`, see _rows_by_day); `whole`: the raw table's other
    partitions are dropped too (a snapshot replaces all)."""
    ddl, table = Ddl.of(wh), entity.raw_table
    # a kill between (or inside) partition moves leaves this marker: a reader can tell, and
    # the next load, which finds the files of these days unrecorded, moves them again
    marker = f"_starloom_moving__{entity.raw_table}"
    for sql in ddl.create_marker(marker):
        wh.command(sql)
    for day in partitions:
        pid = day.strftime("%Y%m%d")
        if counts.get(day):
            wh.command(ddl.replace_partitions(table, [pid], aside))
        else:
            wh.command(ddl.drop_partition(table, pid))
    if whole:
        keep = {d.strftime("%Y%m%d") for d in partitions}
        for (pid,) in wh.query_rows(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = {d:String} "
            "AND table = {t:String} AND active",
            {"d": wh.database, "t": ddl.local(table)},
        ):
            if pid not in keep:
                wh.command(ddl.drop_partition(table, pid))
    for sql in ddl.drop_marker(marker):
        wh.command(sql)


# memory bounded: past 256 MB a sort or an aggregation spills to disk
_BOUNDED = {
    "max_bytes_before_external_group_by": 256 << 20,
    "max_bytes_before_external_sort": 256 << 20,
}


def _quarantine_duplicates(wh: Warehouse, entity: Entity, aside: str) -> pd.DataFrame:
    """Rows of the load whose primary key, or the value of a `unique` column, came before in
    the same day (in file and line order): taken out of the table aside and returned as
    quarantined rows. Checked here, once for the whole load, whichever files, chunks or
    readers the rows came from."""
    found = [pd.DataFrame(columns=QUARANTINE_COLUMNS)]
    contract = entity.contract
    key_sets = (
        [(list(contract.primary_key), "duplicate primary key")] if contract.primary_key else []
    )
    key_sets += [([c], "duplicate value of unique column") for c in contract.unique_columns]
    for keys, words in key_sets:
        found.append(_later_duplicates(wh, entity, aside, keys, words))
    return pd.concat([f for f in found if len(f)] or found[:1], ignore_index=True)


def _later_duplicates(wh: Warehouse, entity: Entity, aside: str, key: list[str], words: str):
    in_order = ", ".join(quote_identifier(k) for k in [*key, "_partition"])
    keys = ", ".join(quote_identifier(k) for k in ["_partition", *key])
    table = wh.qualified(aside)
    not_null = " AND ".join(f"{quote_identifier(k)} IS NOT NULL" for k in key)
    # first, whether any key repeats: each row against the one before it, read in the
    # table's sort order (a streaming merge of its sorted parts, faster than hashing)
    if not wh.scalar(
        f"SELECT count() FROM (SELECT ({in_order}) AS k, lagInFrame(k) OVER w AS before, "
        f"row_number() OVER w AS n FROM {table} WHERE {not_null} WINDOW w AS (ORDER BY "
        f"{in_order} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)) WHERE n > 1 AND k = before",
        settings={**_BOUNDED, "optimize_read_in_order": 1},
    ):
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    fields = ", ".join(quote_identifier(c.name) for c in entity.contract.columns)
    later = (
        f"SELECT _source_file, _source_line, _partition, "
        f"trimRight(formatRow('JSONEachRow', {fields}), '\\n') AS record, "
        f"row_number() OVER w AS n, first_value(_source_file) OVER w AS first_file, "
        f"first_value(_source_line) OVER w AS first_line FROM {table} "
        f"WHERE {not_null} AND ({keys}) IN (SELECT {keys} FROM {table} WHERE {not_null} "
        f"GROUP BY {keys} HAVING count() > 1) "
        f"WINDOW w AS (PARTITION BY {keys} ORDER BY _source_file, _source_line "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    dups = wh.query_df(f"SELECT * FROM ({later}) WHERE n > 1 ORDER BY _source_file, _source_line")
    wh.command(
        Ddl.of(wh).delete_rows(
            aside, "concat(_source_file, ':', toString(_source_line)) IN {ids:Array(String)}"
        ),
        {"ids": [f"{f}:{n}" for f, n in zip(dups._source_file, dups._source_line)]},
        settings={"mutations_sync": 2},
    )
    names = ", ".join(key)
    return pd.DataFrame(
        {
            "file": dups._source_file,
            "line": dups._source_line,
            "reason": [
                f"{words} {names} (first at {f} line {n})"
                for f, n in zip(dups.first_file, dups.first_line)
            ],
            "record": dups.record,
            "partition": [d.date() if hasattr(d, "date") else d for d in dups._partition],
        }
    )


# -- files --------------------------------------------------------------------------------
_NAME_DATE = re.compile(r"(?<![0-9])(\d{4})-?(\d{2})-?(\d{2})(?![0-9])")


def _file_date(path: str, entity: Entity, run_date: dt.date, where: str) -> dt.date:
    """The day a file belongs to: from a `KEY=YYYY-MM-DD` folder, from its name, or the
    run date for a table whose files are one snapshot (`partition: none`)."""
    if entity.partition == "none":
        return run_date
    if entity.partition == "filename":
        name = path.rsplit("/", 1)[-1]
        for m in _NAME_DATE.finditer(name):
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
        raise SourceError(
            f"{path}: no date (YYYY-MM-DD or YYYYMMDD) in the file name, which {where} "
            "takes its day from (`partition: filename`). Rename the file, or set "
            "`partition: none` to load the files as one snapshot."
        )
    key = entity.partition_key or "date"
    m = re.search(rf"{re.escape(key)}=(\d{{4}}-\d{{2}}-\d{{2}})", path)
    if not m:
        raise SourceError(
            f"{path}: no `{key}=YYYY-MM-DD` folder in its path, which {where} takes its day "
            "from (`partition: folder`, the default). Put each day's files in a folder "
            f"named like that, set `partition: filename` for a date in the file name, or "
            "`partition: none` to load the files as one snapshot."
        )
    try:
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        raise SourceError(f"{path}: {m.group(0)} is not a real day.") from None


@dataclass
class _FilePlan:
    """The files of one load: by day, with their fingerprints and (CSV) byte ranges."""

    days: list[dt.date]
    files: dict[dt.date, list[str]]
    rel: dict[str, str]  # path -> the name recorded (relative to the project if inside)
    ranges: dict[str, list[tuple]]  # path -> byte ranges of the CSV files scanned for them
    manifest_rows: list[dict]  # their rows of starloom_manifest (sha256 maybe still a Future)
    waiting: list[str] = field(default_factory=list)  # files dated after the run date (names)

    def day_of(self, path: str) -> dt.date | None:
        return next((d for d, ps in self.files.items() if path in ps), None)

    def manifest(self) -> list[dict]:
        """The manifest rows, once every checksum still being computed is done."""
        return [
            {
                **r,
                "sha256": r["sha256"].result() if isinstance(r["sha256"], Future) else r["sha256"],
            }
            for r in self.manifest_rows
        ]


def _engine_reads(wh, source: Source, path: str) -> bool:
    """Whether the engine itself reads this file (see starloom.ingestion.engine_csv); not a
    path with a character the engine's file() takes for a pattern."""
    return (
        source.landing == "none"
        and source.format == "csv"
        and wh.embedded
        and "://" not in path
        and not engine_csv.has_glob(path)
    )


def _recorded_name(path: str, project: Path) -> str:
    """A file's name in the manifest and in messages: its path from the project's folder when
    it is inside (data/shop/date=2024-01-05/orders.csv, which the user finds there and which
    moving the project does not change), else the path or URL as the source gives it."""
    return str(Path(path).relative_to(project)) if Path(path).is_relative_to(project) else path


def _plan_files(wh, source: Source, entity: Entity, run_date, days, known) -> _FilePlan:
    """The days whose files are new or changed (or every day in `days`).

    A local file whose size and modification time are those recorded is taken as
    unchanged without reading it; any other file is read for its sha256. A file new to the
    manifest that the engine reads is loaded whatever its checksum, so its sha256 is worked
    out in a thread while the engine loads it (the two overlap: on a busy machine this costs
    next to nothing, where reading it first cost a second per GB).
    """
    project = wh.settings.project_dir
    paths = entity_files(project, entity)
    where = f"{source.name}.{entity.name}"
    if not paths:
        raise SourceError(
            f"No file matches {entity.path} (source {where}, "
            f"{source.file.name if source.file else ''}). Check the path, or "
            "generate the demo sources first (starloom demo)."
        )
    by_day: dict[dt.date, list[str]] = {}
    waiting = []  # files of a day after the run date: loaded when their day comes
    last = days[1] if days else run_date
    for p in paths:
        day = _file_date(p, entity, run_date, where)
        if entity.partition == "none" or ((days[0] <= day <= days[1]) if days else day <= run_date):
            by_day.setdefault(day, []).append(p)
        elif day > last:
            waiting.append(_recorded_name(p, project))
    rel = {p: _recorded_name(p, project) for ps in by_day.values() for p in ps}
    prints, ranges = {}, {}  # path -> (size, sha256, mtime_ns); path -> byte ranges
    later = ThreadPoolExecutor(max_workers=1, thread_name_prefix="starloom-sha256")
    for p in rel:
        stat = None if "://" in p else os.stat(p)  # a URL is always checksummed
        mtime = stat.st_mtime_ns if stat else 0
        was = known.get(rel[p])
        if was and stat and (was[0], was[2]) == (stat.st_size, mtime):
            prints[p] = was
            continue
        engine = _engine_reads(wh, source, p)
        if not was and stat and engine:
            prints[p] = (stat.st_size, later.submit(lambda p=p: scan(p)[1]), mtime)
            continue
        split = CSV_SPLIT_BYTES if source.format == "csv" and not engine else None
        size, sha, cut = scan(p, split, entity.csv)
        if split:
            ranges[p] = cut
        prints[p] = (size, sha, mtime)
    later.shutdown(wait=False)  # the checksums still to come finish in their thread
    todo = sorted(  # a new file (one not known) always differs
        d for d, ps in by_day.items() if any(known.get(rel[p], ())[:2] != prints[p][:2] for p in ps)
    )
    manifest_rows = [
        {
            "source": source.name,
            "entity": entity.name,
            "file": rel[p],
            "partition": day,
            "size": prints[p][0],
            "sha256": prints[p][1],
            "mtime_ns": prints[p][2],
        }
        for day in todo
        for p in by_day[day]
    ]
    return _FilePlan(todo, {d: by_day[d] for d in todo}, rel, ranges, manifest_rows, waiting)


def _landing_root(wh, source: Source, entity: Entity) -> Path:
    """Where a table's checked rows land; refused unless inside the output folder (the only
    place a load deletes files)."""
    base = (wh.settings.output_dir / "landing").resolve()
    root = (base / source.name / entity.name).resolve()
    if not root.is_relative_to(base) or root == base:
        raise StarloomError(
            f"{source.name}.{entity.name}: its landing folder {root} is outside {base}; "
            "name sources and tables with letters, digits and underscores."
        )
    return root


def _meta(plan: _FilePlan, entity: Entity, day: dt.date, i: int, path: str, load_id: str):
    """What a reader is told of a file. Keys are checked across the load, not per chunk
    (see _quarantine_duplicates); change events repeat keys by nature and are not."""
    return {
        "load_id": load_id,
        "partition": day,
        "file": plan.rel[path],
        "stem": f"f{i:04d}",
        "check_keys": False,
        "csv": entity.csv,
        "allow_empty": entity.allow_empty,
    }


def _engine_loads(wh, source: Source, entity: Entity, plan: _FilePlan, aside, load_id):
    """Files loaded by the engine itself (`landing: none`, local CSV, embedded engine):
    ({path: rows}, notes). A file left out (a bad row, a rule or an option with no SQL
    form) goes the Python way; the notes say why, once per reason."""
    if not any(_engine_reads(wh, source, p) for p in plan.rel):
        return {}, []
    names = [n for n, _ in _raw_columns(source, entity)]
    loaded, notes, again = {}, [], []

    def note(text: str) -> None:
        if text not in notes:
            notes.append(text)

    for day in plan.days:
        for i, path in enumerate(plan.files[day]):
            if not _engine_reads(wh, source, path):
                continue
            meta = _meta(plan, entity, day, i, path, load_id)
            try:
                header, _ = csv_columns(path, entity.csv, entity.contract)
            except (ValueError, OSError, EOFError):
                continue  # the Python path names what is wrong with the file
            select, why = engine_csv.compile_select(entity.contract, header, meta, entity.csv)
            try:
                if select is not None and ends_open(path, entity.csv):
                    select, why = (
                        None,
                        "its last line leaves a quote open (the engine would close it)",
                    )
                if select is not None and not engine_csv.lines_within_cap(path, entity.csv):
                    select, why = None, "a line may be longer than STARLOOM_MAX_RECORD_MB"
            except (ValueError, OSError, EOFError):
                continue  # cut short or unreadable to its end: the Python path names it
            if select is None:
                note(f"read by Python, not the engine: {why}")
                continue
            if engine_csv.load_file(wh, aside, names, path, meta["file"], select, entity.csv):
                loaded[path] = meta["file"]
            else:
                again.append(meta["file"])
    if again:
        note(
            f"{len(again)} file(s) read again by Python, where a row broke the contract or the "
            f"engine could not read the file (first: {again[0]})"
        )
    if not loaded:
        return {}, notes
    counts = dict(
        wh.query_rows(
            f"SELECT _source_file, count() FROM {wh.qualified(aside)} GROUP BY _source_file"
        )
    )
    # a file without rows is left to the Python path, which refuses or allows it
    return {path: counts[name] for path, name in loaded.items() if counts.get(name)}, notes


def _file_tasks(source: Source, entity: Entity, plan: _FilePlan, landing_root, load_id, skip):
    """Dask tasks reading the plan's files, except those in `skip`, into landing Parquet."""
    reader = cdc.read_events if source.format == "debezium" else READERS[source.format]
    contract = _contract_of(source, entity)
    tasks = []
    for day in plan.days:
        partition_dir = landing_root / f"_partition={day}"
        shutil.rmtree(partition_dir, ignore_errors=True)
        for i, p in enumerate(plan.files[day]):
            if p in skip:
                continue
            meta = _meta(plan, entity, day, i, p, load_id)
            ranges = plan.ranges.get(p, [])
            if source.format == "csv" and p not in plan.ranges:  # unchanged, or the engine's
                ranges = scan(p, CSV_SPLIT_BYTES, entity.csv)[2]
            if len(ranges) < 2:
                tasks.append(dask.delayed(reader)(p, contract, partition_dir, meta))
            for j, part in enumerate(ranges if len(ranges) > 1 else []):
                part_meta = {**meta, "range": part, "stem": f"f{i:04d}-r{j:04d}"}
                tasks.append(dask.delayed(reader)(p, contract, partition_dir, part_meta))
    return tasks


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
SUMMARY_COLUMNS = [  # one row per table loaded (see _load_entity), in this order
    "load_id", "run_id", "source", "entity", "run_date", "partitions", "rows_read",
    "rows_loaded", "rows_quarantined", "rows_engine", "seconds", "started_at",
    "schema_version", "schema_changes", "high_water_from", "high_water", "notes",
    "file_errors", "rows_per_s", "seconds_plan", "seconds_land", "seconds_warehouse",
]  # fmt: skip


def summary_frame(rows: list[dict]) -> pd.DataFrame:
    """The loads' summary rows as a frame, with its columns when nothing was loaded."""
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=SUMMARY_COLUMNS)


def ingest(
    wh: Warehouse,
    source: str | None = None,
    *,
    run_date=None,
    tables: list[str] | None = None,
    full_refresh: bool = False,
    reload: bool = False,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Load every table of a source (or the `tables` named; every source of the project when
    `source` is None) for run_date (default today); one summary row per table, stamped
    with `run_id` (default the current run's).

    Files: the days with new or changed files up to run_date (every day with
    `full_refresh`). Databases: the run date's extract (see the module docstring).
    `reload`: each table's raw table is dropped and made again from the contract, then
    every file is loaded (what a contract change that `schema` refuses needs).
    """
    run_date = parse_run_date(run_date or "today")
    run_id = run_id or current_run_id()
    project = Project(wh.settings)
    full_refresh = full_refresh or forced()  # `starloom run --force` reloads every file
    options = dict(full_refresh=full_refresh, reload=reload, run_id=run_id)
    if source is not None:
        return _ingest_source(wh, project.source(source), run_date, tables, **options)
    with wh.session():
        state.ensure(wh)  # the bookkeeping tables exist, sources or not
        frames = [
            _ingest_source(wh, project.sources[name], run_date, None, **options)
            for name in sorted(project.sources)
        ]
    return pd.concat(frames, ignore_index=True) if frames else summary_frame([])


def _ingest_source(
    wh: Warehouse,
    source: Source,
    run_date: dt.date,
    tables: list[str] | None,
    *,
    full_refresh: bool = False,
    reload: bool = False,
    run_id: str,
) -> pd.DataFrame:
    """Load the `tables` named of one source (every table when None); see ingest."""
    entities = [source.entity(t) for t in tables] if tables else list(source.entities)
    rows = []
    with wh.session(), ledger.load_records(wh) as record:
        state.ensure(wh)
        catalog = _Catalog(wh, source, entities, read=not reload)
        for entity in entities:
            until = run_date
            if reload:
                with wh.writer_lock(entity.raw_table):
                    until = max(until, _latest_day(wh, entity) or until)  # reload what it held
                    for sql in Ddl.of(wh).drop_table(entity.raw_table):
                        wh.command(sql)
                    ledger.forget_files(wh, source.name, entity.name)
            whole = (full_refresh or reload) and source.kind == "files"
            days = (dt.date.min, until) if whole else None
            rows.append(_ingest_entity(wh, source, entity, run_date, days, run_id, record, catalog))
    _refused(rows)
    return summary_frame(rows)


def ingest_tables(names: list[str], run_date, *, reload: bool = False) -> pd.DataFrame:
    """`starloom ingest`: each SOURCE or SOURCE.TABLE named (every source if none), in
    one warehouse session; one summary row per table."""
    from starloom.warehouse import connect

    wh = connect()
    project = Project(wh.settings)
    run_date = parse_run_date(run_date or "today")
    wanted: dict[str, list[str]] = {}
    for name in names or sorted(project.sources):
        source, _, table = name.partition(".")
        wanted.setdefault(source, [])
        if table:
            wanted[source].append(table)
    sources = {name: project.source(name) for name in wanted}  # every name known, first
    options = dict(reload=reload, run_id=current_run_id())
    with wh.session():
        frames = [
            _ingest_source(wh, sources[name], run_date, tables or None, **options)
            for name, tables in wanted.items()
        ]
    return pd.concat(frames, ignore_index=True) if frames else summary_frame([])


def reingest(wh: Warehouse, source: str, *, start, end) -> pd.DataFrame:
    """Ingest the source named `source` again for exactly the days start..end (inclusive);
    one summary row per table and load.

    Files: every day in the range that has files is reloaded, whatever the manifest says.
    Incremental database tables: each run date in the range is extracted again, in order.
    Snapshot database tables are left alone: a past snapshot cannot be extracted again.
    (To run the whole pipeline once per date, see starloom.backfill.)
    """
    start, end = parse_run_date(start), parse_run_date(end)
    if end < start:
        raise StarloomError(
            f"reingest: the end {end} is before the start {start}; give the earliest day first."
        )
    source = Project(wh.settings).source(source)
    rows, run_id = [], current_run_id()
    with wh.session(), ledger.load_records(wh) as record:
        state.ensure(wh)
        catalog = _Catalog(wh, source, list(source.entities), read=False)
        for entity in source.entities:
            if source.kind == "files":
                span = (start, end)
                rows.append(_ingest_entity(wh, source, entity, end, span, run_id, record, catalog))
            elif entity.mode == "incremental":
                day = start
                while day <= end:
                    rows.append(
                        _ingest_entity(wh, source, entity, day, None, run_id, record, catalog)
                    )
                    day += dt.timedelta(days=1)
    _refused(rows)
    return summary_frame(rows)


def _latest_day(wh: Warehouse, entity: Entity) -> dt.date | None:
    """The latest day a raw table holds (None for an absent or empty table)."""
    if not wh.table_exists(entity.raw_table):
        return None
    latest = wh.scalar(
        f"SELECT max(_partition) FROM {wh.qualified(entity.raw_table)} HAVING count() > 0"
    )
    return latest.date() if isinstance(latest, dt.datetime) else latest


class _Catalog:
    """What the loads of one source's tables read of the warehouse first, in two queries
    for the source rather than two per table: each raw table's columns and each table's
    files in the manifest. Each table's entry is used once, by its own load (`read=False`,
    or a table already used: read when its load needs it). Read before the tables' writer
    locks are taken: a load of the same table by another process in between makes this
    one load those files again, to the same result."""

    def __init__(self, wh: Warehouse, source: Source, entities: list[Entity], read: bool):
        self.wh, self.source = wh, source
        tables = [e.raw_table for e in entities]
        self._columns = wh.columns_of(tables) if read and entities else {}
        self._files = ledger.manifests(wh, source.name) if read and entities else {}
        self._unused = {e.name for e in entities} if read else set()

    def columns(self, entity: Entity) -> list[tuple[str, str]]:
        found = self._columns.pop(entity.raw_table, None)
        # a table not there before the writer lock was taken is looked for again under it
        return found or self.wh.columns(entity.raw_table)

    def files(self, entity: Entity) -> dict[str, tuple[int, str, int]]:
        if entity.name not in self._unused:
            return ledger.manifests(self.wh, self.source.name).get(entity.name, {})
        self._unused.discard(entity.name)
        return self._files.get(entity.name, {})


def _refused(summaries: list[dict]) -> None:
    """After every table is loaded: a clear error naming each file that was refused."""
    errors = [e for row in summaries for e in row.get("file_errors", [])]
    if errors:
        raise SourceError(
            f"{len(errors)} file(s) could not be loaded; the other files were, and the days "
            "of these files keep the rows they had:\n- " + "\n- ".join(errors)
        )


def _ingest_entity(
    wh, source: Source, entity: Entity, run_date: dt.date, days, run_id, record, catalog
) -> dict:
    """Load one table and `record` its summary (see ledger.load_records); on a server,
    loads of one table in several processes take turns. A load refused as a whole (its
    contract no longer matches, its source cannot be read) is recorded too, with its
    error: the run's history names the table that failed."""
    started_at = dt.datetime.now(dt.UTC)
    try:
        with wh.writer_lock(entity.raw_table):
            return _load_entity(wh, source, entity, run_date, days, run_id, record, catalog)
    except StarloomError as exc:
        _record_refused(source, entity, run_date, run_id, started_at, exc, record)
        raise


def _load_row(source: Source, entity: Entity, run_date, run_id, started_at, seconds, **found):
    """A load's row of starloom_loads (and of the summary `ingest` returns): what the load
    `found`, and nothing read, loaded or changed where it says nothing."""
    return {
        "load_id": ledger.new_load_id(source.name, entity.name),
        "run_id": run_id,
        "source": source.name,
        "entity": entity.name,
        "run_date": run_date,
        "partitions": [],
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_engine": 0,  # rows read and checked by the engine itself
        "seconds": round(seconds, 3),
        "started_at": started_at,
        "schema_version": entity.contract.schema_version,
        "schema_changes": [],
        "high_water_from": "",
        "high_water": "",
        "notes": [],
        "file_errors": [],
        **found,
    }


def _record_refused(source: Source, entity: Entity, run_date, run_id, started_at, exc, record):
    """`record` a row of starloom_loads for a load that loaded nothing and failed with
    `exc` (see ledger.load_records: if the warehouse cannot take it either, the load's own
    error is the one shown)."""
    seconds = (dt.datetime.now(dt.UTC) - started_at).total_seconds()
    row = _load_row(source, entity, run_date, run_id, started_at, seconds)
    row["error"] = first_line(exc)[:1000]
    record(row)


def _load_entity(
    wh, source: Source, entity: Entity, run_date: dt.date, days, run_id, record, catalog
) -> dict:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    load_id = ledger.new_load_id(source.name, entity.name)
    landing_root = _landing_root(wh, source, entity)
    changes = ensure_raw_table(wh, entity, source, catalog.columns(entity))
    names = [n for n, _ in _raw_columns(source, entity)]
    plan, after, engine_rows, notes = None, None, {}, []
    duplicates = pd.DataFrame(columns=QUARANTINE_COLUMNS)
    cdc_events = source.format == "debezium"  # upserts: a replay collapses on (key, version)
    if source.kind == "sql":
        tasks, after = _db_tasks(wh, source, entity, run_date, landing_root, load_id)
        partitions = [run_date]
    else:
        known = catalog.files(entity) if days is None else {}
        plan = _plan_files(wh, source, entity, run_date, days, known)
        tasks, partitions = [], plan.days
    planned = time.perf_counter()
    aside_made = bool(partitions) and not cdc_events
    aside = _create_aside(wh, source, entity, load_id) if aside_made else entity.raw_table
    refused_days: set[dt.date] = set()
    file_errors: list[str] = []
    rows_in_table = None
    try:
        if plan and partitions:  # the engine reads what it can, Dask the rest
            engine_rows, notes = _engine_loads(wh, source, entity, plan, aside, load_id)
            tasks = _file_tasks(source, entity, plan, landing_root, load_id, engine_rows)
        if plan and plan.waiting:
            notes.append(
                f"{len(plan.waiting)} file(s) dated after the run date {run_date} wait for their "
                f"day (first: {plan.waiting[0]}); run with a later run date to load them"
            )
        label = f"{source.name}.{entity.name}"
        results = [r for g in _compute(tasks, wh.settings, label) for r in g] if tasks else []
        for r in results:
            if r.get("file_error"):
                file_errors.append(r["file_error"])
                refused_days.add(r["partition"])
            for col in r.get("missing_columns", []):
                note = f"column {col} is not in the file(s); loaded as NULL"
                if note not in notes:
                    notes.append(note)
        if refused_days:  # a day with a refused file is not reloaded: it keeps its rows
            partitions = [d for d in partitions if d not in refused_days]
            results = [r for r in results if r["partition"] not in refused_days]
            engine_rows = {
                p: n for p, n in engine_rows.items() if plan.day_of(p) not in refused_days
            }
        landed = time.perf_counter()
        landed_files = [
            p
            for d in partitions
            for p in sorted((landing_root / f"_partition={d}").glob("*.parquet"))
        ]
        _insert_files(wh, aside, names, landed_files if tasks else [])
        manifest = plan.manifest() if plan else []  # before the swap: a file gone fails here
        manifest = [m for m in manifest if m["partition"] not in refused_days]
        if aside_made:
            if source.kind == "files":
                duplicates = _quarantine_duplicates(wh, entity, aside)
            by_day = _rows_by_day(wh, aside)  # what reached the table, not what was sent
            rows_in_table = sum(by_day.get(d, 0) for d in partitions)
            sent = sum(r["rows_loaded"] for r in results) + sum(engine_rows.values())
            if rows_in_table != sent - len(duplicates):
                raise StarloomError(
                    f"{entity.raw_table}: {sent - len(duplicates)} rows were sent but "
                    f"{rows_in_table} reached the table; nothing was swapped in. Check the "
                    "source's path for characters the engine reads as a pattern ({}*?), "
                    "then load again."
                )
            whole = source.kind == "files" and entity.partition == "none" and bool(partitions)
            _swap_partitions(wh, entity, aside, partitions, by_day, whole)
    finally:
        if aside_made:
            for sql in Ddl.of(wh).drop_table(aside):
                wh.command(sql)
    loaded = time.perf_counter()
    bad = pd.concat(
        [b for b in [*(r["bad"] for r in results), duplicates] if len(b)]
        or [pd.DataFrame(columns=QUARANTINE_COLUMNS)],
        ignore_index=True,
    ).assign(load_id=load_id, source=source.name, entity=entity.name)
    bad["line"] = pd.to_numeric(bad["line"], errors="coerce").astype("UInt64")
    ledger.replace_quarantine(wh, source.name, entity.name, partitions, bad)
    if manifest:
        wh.insert_df(
            "starloom_manifest",
            pd.DataFrame(manifest).assign(load_id=load_id, loaded_at=dt.datetime.now(dt.UTC)),
        )
    engine_total = sum(engine_rows.values())
    rows_read = sum(r["rows_read"] for r in results) + engine_total
    rows_loaded = sum(r["rows_loaded"] for r in results) + engine_total - len(duplicates)
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
    summary = _load_row(
        source,
        entity,
        run_date,
        run_id,
        started_at,
        seconds,
        load_id=load_id,
        partitions=partitions,
        rows_read=rows_read,
        rows_loaded=rows_loaded,
        rows_quarantined=len(bad),
        rows_engine=engine_total,
        schema_changes=changes,
        high_water_from="" if after is None else str(after),
        high_water="" if high_water is None else str(high_water),
        notes=notes,
        file_errors=file_errors,
    )
    record(summary)
    summary["rows_per_s"] = round(rows_read / seconds) if seconds else None
    # where the time went: planning (fingerprints, source queries), reading and checking
    # (by the engine, then by Dask into landing Parquet), loading the warehouse
    summary["seconds_plan"] = round(planned - started, 3)
    summary["seconds_land"] = round(landed - planned, 3)
    summary["seconds_warehouse"] = round(loaded - landed, 3)
    return summary
