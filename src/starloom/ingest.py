"""Ingest with Dask: read a source in partitions, check its contract, land Parquet, load raw.

Flow per table: source -> Dask partitions -> contract check (good rows typed, bad rows with
a reason) -> landing Parquet, hive-partitioned by date (output/landing/<source>/<table>/
_partition=YYYY-MM-DD/) -> the ClickHouse raw table raw_<source>__<table>.

Raw tables are partitioned by `_partition`: the run date for database extracts (a snapshot
per day), the file's date for file sources (late events stay in the file they came in).
Each load replaces whole partitions (ALTER TABLE ... REPLACE PARTITION from a table built
aside), so re-running a day gives the same result, and rows in = loaded + quarantined.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from starloom import ledger
from starloom.contracts import Contract, to_arrow, validate
from starloom.errors import SourceError, StarloomError
from starloom.settings import Settings, parse_run_date
from starloom.sources import Entity, Source, get_source
from starloom.warehouse import Warehouse, quote_identifier

META_COLUMNS = [
    ("_load_id", pa.string()),
    ("_partition", pa.date32()),
    ("_source_file", pa.string()),
    ("_source_line", pa.int64()),
]
CHUNK_LINES = 200_000


# -- partition workers (run on Dask workers; pure functions of their inputs) -----------------
def _finish(df: pd.DataFrame, contract: Contract, out: Path, meta: dict) -> dict:
    good, bad = validate(df, contract)
    table = to_arrow(good, contract)
    n = table.num_rows
    table = table.append_column("_load_id", pa.array([meta["load_id"]] * n, pa.string()))
    table = table.append_column("_partition", pa.array([meta["partition"]] * n, pa.date32()))
    table = table.append_column(
        "_source_file",
        pa.array(
            df.loc[good.index, "_source_file"] if "_source_file" in df else [meta["file"]] * n,
            pa.string(),
        ),
    )
    table = table.append_column(
        "_source_line",
        pa.array(
            df.loc[good.index, "_source_line"] if "_source_line" in df else [None] * n, pa.int64()
        ),
    )
    if n:
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out)
    records = bad.drop(columns=["_reason", "_source_file", "_source_line"], errors="ignore")
    quarantined = pd.DataFrame(
        {
            "file": bad["_source_file"] if "_source_file" in bad else meta["file"],
            "line": bad["_source_line"] if "_source_line" in bad else None,
            "reason": bad["_reason"],
            "record": [_record_text(r) for r in records.to_dict("records")],
            "partition": meta["partition"],
        }
    )
    return {"rows_read": len(df), "rows_loaded": n, "bad": quarantined}


def _record_text(record: dict) -> str:
    if "_raw" in record:
        return str(record["_raw"])[:10_000]
    return json.dumps(
        {
            k: (None if pd.isna(v) else str(v))
            for k, v in record.items()
            if not isinstance(v, (list, dict))
        },
        default=str,
    )[:10_000]


def _read_jsonl(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Parse a JSON-lines file in chunks; a line that is not a JSON object is quarantined."""
    results = []
    with open(path, "rb") as fh:
        chunk_no, rows, line_no = 0, [], 0
        for line_no, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                obj = {k: v for k, v in obj.items() if k in contract.names}
            except ValueError as exc:
                obj = {
                    "_reason_parse": f"line is not a JSON object ({str(exc)[:80]})",
                    "_raw": text,
                }
            obj["_source_file"], obj["_source_line"] = meta["file"], line_no
            rows.append(obj)
            if len(rows) >= CHUNK_LINES:
                results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
                chunk_no, rows = chunk_no + 1, []
        if rows or chunk_no == 0:
            results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
    return results


def _jsonl_chunk(rows, contract, landing: Path, meta: dict, chunk_no: int) -> dict:
    df = pd.DataFrame(rows)
    out = landing / f"{meta['stem']}-{chunk_no:04d}.parquet"
    if "_reason_parse" not in df:
        return _finish(df, contract, out, meta)
    broken = df["_reason_parse"].notna()
    result = _finish(df[~broken].drop(columns=["_reason_parse", "_raw"]), contract, out, meta)
    parse_bad = pd.DataFrame(
        {
            "file": meta["file"],
            "line": df.loc[broken, "_source_line"],
            "reason": df.loc[broken, "_reason_parse"],
            "record": df.loc[broken, "_raw"].str[:10_000],
            "partition": meta["partition"],
        }
    )
    result["bad"] = pd.concat([result["bad"], parse_bad], ignore_index=True)
    result["rows_read"] += int(broken.sum())
    return result


def _read_csv(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    bad_lines: list[list[str]] = []
    results = []
    reader = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        chunksize=CHUNK_LINES,
        on_bad_lines=lambda line: bad_lines.append(line),
        engine="python",
        encoding_errors="replace",
    )
    for chunk_no, df in enumerate(reader):
        df["_source_file"] = meta["file"]
        df["_source_line"] = df.index + 2  # 1-based, after the header
        results.append(
            _finish(df, contract, landing / f"{meta['stem']}-{chunk_no:04d}.parquet", meta)
        )
    if bad_lines:
        results.append(
            {
                "rows_read": len(bad_lines),
                "rows_loaded": 0,
                "bad": pd.DataFrame(
                    {
                        "file": meta["file"],
                        "line": None,
                        "reason": "malformed CSV line (field count)",
                        "record": [",".join(b)[:10_000] for b in bad_lines],
                        "partition": meta["partition"],
                    }
                ),
            }
        )
    return results


def _read_sql_part(part: pd.DataFrame, contract, out: Path, meta: dict) -> list[dict]:
    return [_finish(part.reset_index(), contract, out, meta)]


# -- orchestration ------------------------------------------------------------------------
def _compute(tasks: list, settings: Settings, label: str) -> list:
    if settings.dask_scheduler:
        from distributed import Client, progress

        with Client(settings.dask_scheduler) as client:
            futures = client.compute(tasks)
            progress(futures)
            return client.gather(futures)
    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=2.0):
        return list(dask.compute(*tasks, scheduler="threads"))


def _raw_columns(contract: Contract) -> list[tuple[str, str]]:
    cols = [(c.name, c.clickhouse_type()) for c in contract.columns]
    return cols + [
        ("_load_id", "String"),
        ("_partition", "Date32"),
        ("_source_file", "String"),
        ("_source_line", "Nullable(Int64)"),
    ]


def ensure_raw_table(wh: Warehouse, entity: Entity) -> None:
    """Create the raw table, or fail naming the differences if the contract has changed."""
    cols = _raw_columns(entity.contract)
    if wh.table_exists(entity.raw_table):
        have = dict(
            wh.query_rows(
                "SELECT name, type FROM system.columns WHERE database = {d:String} "
                "AND table = {t:String} AND name != '_loaded_at'",
                {"d": wh.database, "t": entity.raw_table},
            )
        )
        want = dict(cols)
        diffs = [
            f"{n}: {have.get(n, 'absent')} in the warehouse, {want.get(n, 'absent')} in "
            "the contract"
            for n in sorted(set(have) | set(want))
            if have.get(n) != want.get(n)
        ]
        if diffs:
            raise StarloomError(
                f"The contract of {entity.source}.{entity.name} no longer matches "
                f"{entity.raw_table}: " + "; ".join(diffs) + ". Restore the contract or drop "
                f"the raw table to reload it (DROP TABLE {entity.raw_table})."
            )
        return
    order = ", ".join(quote_identifier(k) for k in entity.contract.primary_key) or "tuple()"
    body = ",\n  ".join(f"{quote_identifier(n)} {t}" for n, t in cols)
    wh.command(
        f"CREATE TABLE IF NOT EXISTS {wh.qualified(entity.raw_table)} (\n  {body},\n"
        "  `_loaded_at` DateTime64(3, 'UTC') DEFAULT now64(3)\n) ENGINE = MergeTree "
        f"PARTITION BY toYYYYMMDD(_partition) ORDER BY ({order})"
    )


def _load_landing(
    wh: Warehouse, entity: Entity, files: list[Path], partitions: list[dt.date], load_id: str
) -> None:
    """Load landing Parquet into a table aside, then swap its partitions into the raw table."""
    aside = f"{entity.raw_table}__load_{load_id.rsplit('.', 1)[-1]}"
    names = [n for n, _ in _raw_columns(entity.contract)]
    col_list = ", ".join(quote_identifier(n) for n in names)
    wh.command(f"CREATE TABLE {wh.qualified(aside)} AS {wh.qualified(entity.raw_table)}")
    try:
        if wh.embedded:
            for path in files:
                wh.command(
                    f"INSERT INTO {wh.qualified(aside)} ({col_list}) SELECT {col_list} "
                    "FROM file({p:String}, 'Parquet')",
                    {"p": str(path)},
                )
        else:
            for path in files:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
                    wh.insert_arrow(aside, pa.Table.from_batches([batch]))
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


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_date(path: str, key: str | None, where: str) -> dt.date:
    m = re.search(rf"{re.escape(key or 'date')}=(\d{{4}}-\d{{2}}-\d{{2}})", path)
    if not m:
        raise SourceError(
            f"{path}: no `{key}=YYYY-MM-DD` folder in the path of {where}; "
            "put each day's files in a folder named like that."
        )
    return dt.date.fromisoformat(m.group(1))


def ingest(
    wh: Warehouse, source_name: str, run_date, *, full_refresh: bool = False
) -> pd.DataFrame:
    """Load every table of a source for run_date; one summary row per table."""
    run_date = parse_run_date(run_date)
    settings = wh.settings
    source = get_source(settings.project_dir, source_name)
    rows = []
    with wh.session():
        ledger.ensure(wh)
        for entity in source.entities:
            rows.append(_ingest_entity(wh, source, entity, run_date, full_refresh))
    return pd.DataFrame(rows)


def _ingest_entity(wh, source: Source, entity: Entity, run_date: dt.date, full_refresh) -> dict:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    load_id = ledger.new_load_id(source.name, entity.name)
    settings = wh.settings
    landing_root = settings.output_dir / "landing" / source.name / entity.name
    ensure_raw_table(wh, entity)
    tasks, partitions, manifest_rows = [], [], []
    if source.kind == "sql":
        tasks, partitions = _sql_tasks(source, entity, run_date, landing_root, load_id)
    else:
        tasks, partitions, manifest_rows = _file_tasks(
            wh, source, entity, run_date, landing_root, load_id, full_refresh
        )
    results = (
        [r for group in _compute(tasks, settings, entity.name) for r in group] if tasks else []
    )
    files = sorted(
        p for d in partitions for p in (landing_root / f"_partition={d}").glob("*.parquet")
    )
    if partitions:
        _load_landing(wh, entity, files, partitions, load_id)
    bad = (
        pd.concat([r["bad"] for r in results], ignore_index=True)
        if results
        else pd.DataFrame(columns=["file", "line", "reason", "record", "partition"])
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
    }
    if rows_read != rows_loaded + len(bad):
        raise StarloomError(
            f"{entity.raw_table}: {rows_read} rows read but {rows_loaded} loaded "
            f"and {len(bad)} quarantined; nothing may be lost. This is a bug."
        )
    ledger.record_load(wh, summary)
    summary["rows_per_s"] = round(rows_read / seconds) if seconds else None
    return summary


def _sql_tasks(source: Source, entity: Entity, run_date, landing_root: Path, load_id: str):
    import dask.dataframe as dd
    import sqlalchemy as sa

    where = f"{source.name}.{entity.name} ({source.file.name if source.file else ''})"
    key = entity.contract.primary_key[0] if entity.contract.primary_key else None
    if not key:
        raise SourceError(
            f"{where}: a database table needs a primary_key to split it into partitions."
        )
    try:
        engine = sa.create_engine(source.url)
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(entity.name):
                raise SourceError(
                    f"{where}: table {entity.name!r} does not exist in the source "
                    f"database {engine.url.render_as_string(hide_password=True)}."
                )
        engine.dispose()
        ddf = dd.read_sql_table(
            entity.name, source.url, index_col=key, npartitions=entity.partitions
        )
    except ImportError as exc:
        raise SourceError(
            f"{where}: the database driver for {source.url.split(':', 1)[0]} is "
            f"not installed ({exc}). Install it in the environment, e.g. "
            "`pip install psycopg2-binary` for postgresql+psycopg2."
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(
            f"{where}: cannot read the source database: "
            f"{str(exc).splitlines()[0]}. Check the url in the source file and that "
            "the database is reachable."
        ) from None
    partition_dir = landing_root / f"_partition={run_date}"
    shutil.rmtree(partition_dir, ignore_errors=True)
    meta = {
        "load_id": load_id,
        "partition": run_date,
        "file": f"{source.name}:{entity.name}",
        "stem": entity.name,
    }
    tasks = [
        dask.delayed(_read_sql_part)(
            part, entity.contract, partition_dir / f"part-{i:04d}.parquet", meta
        )
        for i, part in enumerate(ddf.to_delayed())
    ]
    return tasks, [run_date]


def _file_tasks(wh, source: Source, entity: Entity, run_date, landing_root, load_id, full_refresh):
    project = wh.settings.project_dir
    pattern = (
        entity.path
        if "://" in entity.path or entity.path.startswith("/")
        else str(project / entity.path)
    )
    paths = sorted(glob.glob(pattern))
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
        if day <= run_date:
            by_day.setdefault(day, []).append(p)
    known = (
        {}
        if full_refresh
        else {
            r.file: (int(r.size), r.sha256)
            for r in ledger.manifest(wh, source.name, entity.name).itertuples()
        }
    )
    fingerprints = {p: (Path(p).stat().st_size, _sha256(p)) for ps in by_day.values() for p in ps}
    rel = {
        p: str(Path(p).relative_to(project)) if Path(p).is_relative_to(project) else p
        for p in fingerprints
    }
    todo = sorted(
        d for d, ps in by_day.items() if any(known.get(rel[p]) != fingerprints[p] for p in ps)
    )
    reader = {"jsonl": _read_jsonl, "csv": _read_csv}[source.format]
    tasks, manifest_rows = [], []
    for day in todo:
        partition_dir = landing_root / f"_partition={day}"
        shutil.rmtree(partition_dir, ignore_errors=True)
        for i, p in enumerate(by_day[day]):
            meta = {"load_id": load_id, "partition": day, "file": rel[p], "stem": f"f{i:04d}"}
            tasks.append(dask.delayed(reader)(p, entity.contract, partition_dir, meta))
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
