"""Extract a database table through SQLAlchemy in key ranges, with the filter in the query.

The table is split on its (first) primary key column into ranges, one Dask task each, plus
one task for rows whose key is null (so that they are quarantined, not silently dropped).
Each task builds its own `SELECT ... WHERE key >= :lo AND key < :hi [AND cursor ...]` with
bound parameters, so an incremental load reads only rows past the high-water mark.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import dask
import pandas as pd
import sqlalchemy as sa

from starloom.errors import SourceError
from starloom.ingestion.readers import CHUNK_LINES, land, missing_columns
from starloom.ingestion.sources import Entity, Source


def _describe(source: Source, entity: Entity) -> str:
    return f"{source.name}.{entity.name} ({source.file.name if source.file else ''})"


def _driver_error(where: str, url: str, exc: Exception) -> SourceError:
    return SourceError(
        f"{where}: the database driver for {url.split(':', 1)[0]} is not installed ({exc}). "
        "Install it in the environment, e.g. `pip install psycopg2-binary` for "
        "postgresql+psycopg2."
    )


def _db_error(where: str, exc: Exception) -> SourceError:
    return SourceError(
        f"{where}: cannot read the source database: {str(exc).splitlines()[0][:300]}. "
        "Check the url in the source file and that the database is reachable."
    )


def _conditions(table: sa.Table, key: str, cursor: str | None, window: dict) -> list:
    """WHERE conditions of a task, with bound parameters."""
    conds = []
    if cursor and window.get("after") is not None:
        conds.append(table.c[cursor] > sa.bindparam("after", window["after"]))
    if cursor and window.get("before") is not None:
        conds.append(table.c[cursor] < sa.bindparam("before", window["before"]))
    if window.get("null_key"):
        conds.append(table.c[key].is_(None))
    else:  # the ranges cover every non-null key: the first has no lower bound, the last none above
        conds.append(table.c[key].is_not(None))
        if window.get("lo") is not None:
            conds.append(table.c[key] >= sa.bindparam("lo", window["lo"]))
        if window.get("hi") is not None:
            conds.append(table.c[key] < sa.bindparam("hi", window["hi"]))
    return conds


def _read_range(
    url: str, table_name: str, names: list[str], key: str, cursor, window: dict, where: str
) -> pd.DataFrame:
    try:
        engine = sa.create_engine(url)
        try:
            table = sa.Table(table_name, sa.MetaData(), autoload_with=engine)
            # values come as the driver gives them; the contract converts and checks them
            cols = [
                sa.type_coerce(table.c[n], sa.types.NullType()).label(n)
                for n in names
                if n in table.c
            ]
            query = sa.select(*cols).where(*_conditions(table, key, cursor, window))
            with engine.connect() as conn:
                return pd.read_sql(query, conn)
        finally:
            engine.dispose()
    except sa.exc.NoSuchTableError:
        raise SourceError(
            f"{where}: table {table_name!r} disappeared from the source database during the "
            "load. Check the database and run the load again."
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise _db_error(where, exc) from None


def extract_part(url, table_name, contract, key, cursor, window, out: Path, meta, where):
    """One key range: read it, check it, land it (runs on a Dask worker)."""
    df = _read_range(url, table_name, contract.names, key, cursor, window, where)
    meta = dict(meta)
    refused = missing_columns(contract, list(df.columns), meta)
    if refused:
        return [refused] if window.get("null_key") else []
    df["_source_file"] = meta["file"]
    result = land(df, contract, out, meta)
    if meta.get("missing") and window.get("null_key"):
        result["missing_columns"] = meta["missing"]
    return [result]


def sql_tasks(
    source: Source,
    entity: Entity,
    partition_dir: Path,
    meta: dict,
    *,
    after=None,
    before: dt.datetime | None = None,
) -> list:
    """Dask tasks extracting the table, rows with cursor in (after, before) when given."""
    where = _describe(source, entity)
    key = entity.contract.primary_key[0] if entity.contract.primary_key else None
    if not key:
        raise SourceError(
            f"{where}: a database table needs a primary_key to split it into partitions."
        )
    cursor = entity.cursor if entity.mode == "incremental" else None
    window = {"after": after, "before": before}
    try:
        engine = sa.create_engine(source.url)
    except ImportError as exc:
        raise _driver_error(where, source.url, exc) from None
    except sa.exc.SQLAlchemyError as exc:
        raise _db_error(where, exc) from None
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(entity.name):
                raise SourceError(
                    f"{where}: table {entity.name!r} does not exist in the source "
                    f"database {engine.url.render_as_string(hide_password=True)}."
                )
            table = sa.Table(entity.name, sa.MetaData(), autoload_with=conn)
            if key not in table.c:
                raise SourceError(
                    f"{where}: the primary key column {key!r} is not in the source table "
                    f"{entity.name!r} (it has {list(table.c.keys())})."
                )
            if cursor and cursor not in table.c:
                raise SourceError(
                    f"{where}: the cursor column {cursor!r} is not in the source table "
                    f"{entity.name!r}."
                )
            conds = _conditions(table, key, cursor, window)
            lo, hi, count = conn.execute(
                sa.select(
                    sa.func.min(table.c[key]), sa.func.max(table.c[key]), sa.func.count()
                ).where(*conds)
            ).one()
    except sa.exc.SQLAlchemyError as exc:
        raise _db_error(where, exc) from None
    finally:
        engine.dispose()
    windows = [{**window, "null_key": True}]
    if count and isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool):
        n = max(1, min(max(entity.partitions, math.ceil(count / CHUNK_LINES)), hi - lo + 1))
        step = (hi - lo + 1) / n
        bounds = [lo + round(i * step) for i in range(n)] + [hi]
        for i in range(n):
            lo_i = bounds[i] if i else None
            hi_i = bounds[i + 1] if i < n - 1 else None
            windows.append({**window, "lo": lo_i, "hi": hi_i})
    elif count:
        windows.append({**window, "lo": None, "hi": None})
    return [
        dask.delayed(extract_part)(
            source.url,
            entity.name,
            entity.contract,
            key,
            cursor,
            w,
            partition_dir / f"part-{i:04d}.parquet",
            meta,
            where,
        )
        for i, w in enumerate(windows)
    ]
