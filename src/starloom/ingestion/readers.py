"""File readers: CSV, JSON lines and Parquet, read in bounded chunks and landed as Parquet.

Each reader is a pure function of its inputs (it runs on a Dask worker). It reads one file
in chunks (CSV by blocks of bytes, JSON lines by lines, Parquet by row groups), checks
each chunk against the contract and writes the good rows to a landing Parquet file. It
returns one result per chunk: rows read, rows loaded and the quarantined rows with their
reason, file and line, so that rows read = rows loaded + rows quarantined.

A file that cannot be read at all (empty, no header, a column the contract needs is absent,
not Parquet) gives one result with `file_error` and no rows: the load goes on with the
other files and leaves that file's day as it was.

Lines are the file's own 1-based lines (the header is line 1 of a CSV file; a CSV record
spanning lines has the number of its first), and row numbers for Parquet.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from starloom.ingestion import csv_records
from starloom.ingestion.contracts import Contract, validate
from starloom.ingestion.csv_records import (
    CsvDialect,
    open_stream,
    read_header,
    read_records,
    skip_bom,
)

CHUNK_LINES = 200_000  # JSON lines and Parquet rows per chunk
RECORD_CHARS = 10_000  # characters of a quarantined record kept
QUARANTINE_COLUMNS = ["file", "line", "reason", "record", "partition"]


def land(df: pd.DataFrame, contract: Contract, out: Path, meta: dict) -> dict:
    """Validate one chunk, write its good rows to `out`, return counts and bad rows."""
    checked = validate(df, contract, check_keys=meta.get("check_keys", True))
    table = checked.table
    n = table.num_rows
    df = df.reset_index(drop=True)
    good = checked.good
    files = df["_source_file"].to_numpy(dtype=object)[good] if "_source_file" in df else None
    lines = df["_source_line"].to_numpy()[good] if "_source_line" in df else None
    table = table.append_column("_load_id", pa.array([meta["load_id"]] * n, pa.string()))
    table = table.append_column("_partition", pa.array([meta["partition"]] * n, pa.date32()))
    table = table.append_column(
        "_source_file", pa.array(files if files is not None else [meta["file"]] * n, pa.string())
    )
    table = table.append_column(
        "_source_line",
        pa.array(lines if lines is not None else [None] * n, pa.int64(), from_pandas=True),
    )
    if n:
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out, compression="zstd", compression_level=1)
    bad = checked.bad
    records = bad[[c for c in bad.columns if not c.startswith("_") or c == "_raw"]]
    quarantined = pd.DataFrame(
        {
            "file": bad["_source_file"] if "_source_file" in bad else meta["file"],
            "line": bad["_source_line"] if "_source_line" in bad else None,
            "reason": bad["_reason"],
            "record": [record_text(r) for r in records.to_dict("records")],
            "partition": meta["partition"],
        },
        index=bad.index,
    )
    return {
        "rows_read": len(df),
        "rows_loaded": n,
        "bad": quarantined,
        "partition": meta["partition"],
    }


def record_text(record: dict) -> str:
    """A quarantined row as text: the raw line when known, else its fields as JSON."""
    if isinstance(record.get("_raw"), str):
        return record["_raw"][:RECORD_CHARS]
    return json.dumps(
        {
            k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v)
            for k, v in record.items()
            if k != "_raw"
        },
        default=str,
        ensure_ascii=False,
    )[:RECORD_CHARS]


def _unreadable(meta: dict, reasons_records: list[tuple]) -> dict:
    """A result for rows that could not be parsed at all: all quarantined."""
    return {
        "rows_read": len(reasons_records),
        "rows_loaded": 0,
        "bad": pd.DataFrame(
            {
                "file": meta["file"],
                "line": [line for line, _, _ in reasons_records],
                "reason": [reason for _, reason, _ in reasons_records],
                "record": [str(rec)[:RECORD_CHARS] for _, _, rec in reasons_records],
                "partition": meta["partition"],
            },
            columns=QUARANTINE_COLUMNS,
        ),
        "partition": meta["partition"],
    }


def file_error(meta: dict, message: str) -> dict:
    """The result of a file that cannot be loaded: no rows, and why."""
    return {
        "rows_read": 0,
        "rows_loaded": 0,
        "bad": pd.DataFrame(columns=QUARANTINE_COLUMNS),
        "file_error": f"{meta['file']}: {message}",
        "partition": meta["partition"],
    }


def _no_rows(meta: dict, results: list[dict], what: str) -> list[dict]:
    """A file that held no row is refused unless the table allows an empty file."""
    if any(r["rows_read"] for r in results) or meta.get("range"):
        return results
    if meta.get("allow_empty"):
        return results
    return [
        file_error(
            meta,
            f"{what}; refused so that the day keeps its rows (a failed export often looks "
            "like this). Set `allow_empty: true` on the table if a day may have no rows.",
        )
    ]


def missing_columns(contract: Contract, have: list[str], meta: dict) -> dict | None:
    """A file error when a column that may not be null is absent from the file; notes the
    nullable ones absent (they load as NULL) in `meta["missing"]`."""
    absent = [c for c in contract.columns if c.name not in have]
    required = [c.name for c in absent if not c.nullable]
    if required:
        return file_error(
            meta,
            f"column(s) {required} of the contract are not in the file (it has {have}); "
            "they may not be null. Fix the export, or declare them `nullable: true`.",
        )
    meta["missing"] = [c.name for c in absent]
    return None


def _noted(results: list[dict], meta: dict) -> list[dict]:
    if meta.get("missing") and results:
        results[0]["missing_columns"] = list(meta["missing"])
    return results


# -- JSON lines ---------------------------------------------------------------------------
def read_jsonl(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Parse a JSON-lines file in chunks; a line that is not a JSON object is quarantined."""
    keep = None if contract.extra_columns == "fail" else set(contract.names)
    results, rows, chunk_no = [], [], 0
    with open_source(path) as fh:
        first = fh.read(1)
        if not first:
            return [file_error(meta, "empty file (0 bytes)")]
        fh.seek(0)
        for line_no, raw in bounded_lines(fh):
            if raw is None:  # too long to read: one bad row
                rows.append(
                    {
                        "_reason_parse": csv_records.too_long(),
                        "_raw": "",
                        "_source_file": meta["file"],
                        "_source_line": line_no,
                    }
                )
            elif not raw.strip():
                continue
            else:
                rows.append(parse_json_line(raw, keep, meta["file"], line_no))
            if len(rows) >= CHUNK_LINES:
                results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
                chunk_no, rows = chunk_no + 1, []
    if rows:
        results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
    return _no_rows(meta, results, "the file holds no line")


def bounded_lines(fh):
    """(line number, bytes) of each line; None for a line longer than the cap
    (csv_records.MAX_RECORD_BYTES),
    which is read past in bounded memory rather than held whole."""
    line_no = 0
    while True:
        cap = csv_records.MAX_RECORD_BYTES
        raw = fh.readline(cap)
        if not raw:
            return
        line_no += 1
        if len(raw) == cap and not raw.endswith(b"\n"):
            while True:
                piece = fh.readline(1 << 20)
                if not piece or piece.endswith(b"\n"):
                    break
            yield line_no, None
            continue
        yield line_no, raw


def strict_json(text: str, **kwargs):
    """json.loads, refusing NaN, Infinity and -Infinity: Python reads them, JSON has no such
    values, and a NaN would reach the table as a missing value."""
    return json.loads(text, parse_constant=_not_json, **kwargs)


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON value")


def parse_json_line(raw: bytes, keep: set | None, file: str, line_no: int) -> dict:
    """One line as a dict of fields, or a dict with `_reason_parse` and `_raw`. Numbers
    are kept as the text the file wrote (an int64 or a decimal is then read exactly)."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        obj = {"_reason_parse": f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})"}
        obj["_raw"] = raw.decode("utf-8", errors="replace").strip()
    else:
        try:
            obj = strict_json(text, parse_float=str, parse_int=str)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            obj = {k: v for k, v in obj.items() if keep is None or k in keep}
        except (ValueError, RecursionError) as exc:
            obj = {"_reason_parse": f"line is not a JSON object ({str(exc)[:80]})", "_raw": text}
    obj["_source_file"], obj["_source_line"] = file, line_no
    return obj


def _jsonl_chunk(rows, contract, landing: Path, meta: dict, chunk_no: int) -> dict:
    df = pd.DataFrame(rows)
    out = landing / f"{meta['stem']}-{chunk_no:04d}.parquet"
    if "_reason_parse" not in df:
        return land(df, contract, out, meta)
    broken = df["_reason_parse"].notna().to_numpy()
    result = land(df[~broken].drop(columns=["_reason_parse", "_raw"]), contract, out, meta)
    parse_bad = pd.DataFrame(
        {
            "file": meta["file"],
            "line": df["_source_line"].to_numpy()[broken],
            "reason": df["_reason_parse"].to_numpy()[broken],
            "record": [str(r)[:RECORD_CHARS] for r in df["_raw"].to_numpy()[broken]],
            "partition": meta["partition"],
        }
    )
    result["bad"] = pd.concat([result["bad"], parse_bad], ignore_index=True)
    result["rows_read"] += int(broken.sum())
    return result


def open_source(path: str):
    """A source file opened for reading: a local path, or an fsspec URL (s3://, gs://, ...)."""
    if "://" in path:
        import fsspec

        return fsspec.open(path, "rb").open()
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


# -- CSV ----------------------------------------------------------------------------------
def scan(path: str, split_bytes: int | None = None, dialect: CsvDialect | None = None):
    """Size, sha256 and, with `split_bytes`, the file cut at line ends into byte ranges.

    Each range is (start, end, line number of its first line), so that several workers can
    read one large CSV file at once and still name the file's lines. A file holding a
    quote (or escape) character, where a line end may sit inside a value, or a compressed
    one, is not cut.
    """
    dialect = dialect or CsvDialect()
    special = [c.encode() for c in (dialect.quote, dialect.escape) if c]
    if split_bytes and dialect.compression_of(path) != "none":
        split_bytes = None
    digest, size, lines, ranges, start, start_line = hashlib.sha256(), 0, 0, [], 0, 1
    with open_source(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            if split_bytes and any(c in block for c in special):
                split_bytes, ranges = None, []
            while split_bytes and size + len(block) > start + split_bytes:
                cut = block.find(b"\n", max(start + split_bytes - size, 0))
                if cut < 0:
                    break
                ranges.append((start, size + cut + 1, start_line))
                start = size + cut + 1
                start_line = lines + block.count(b"\n", 0, cut + 1) + 1
            lines += block.count(b"\n")
            size += len(block)
    if split_bytes and start < size:
        ranges.append((start, size, start_line))
    return size, digest.hexdigest(), ranges


def csv_columns(path: str, dialect: CsvDialect, contract: Contract) -> tuple[list[str], int]:
    """The file's column names and the line its data starts on. Raises ValueError naming
    what is wrong with the file (empty, an unreadable header)."""
    with open_stream(path, dialect) as fh:
        if not fh.read(1):
            raise ValueError("empty file (0 bytes)")
    if not dialect.header:
        return contract.names, 1
    with open_stream(path, dialect) as fh:
        names, used = read_header(fh, dialect)
    return names, used + 1


def read_csv(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Read a CSV file (or the byte range `meta["range"]` of it) record by record (see
    starloom.ingestion.csv_records), every field as text, then check it.

    A record with the wrong number of fields, a quote never closed or bytes that are not
    in the file's encoding is quarantined as one row: its first line.
    """
    dialect: CsvDialect = meta.get("csv") or CsvDialect()
    meta = dict(meta)
    try:
        names, data_line = csv_columns(path, dialect, contract)
    except (ValueError, OSError, EOFError) as exc:
        return [file_error(meta, str(exc))]
    missing = missing_columns(contract, names, meta)
    if missing:
        return [missing]
    start, end, first_line = meta.get("range") or (0, None, data_line)
    results = []
    try:
        with open_stream(path, dialect) as fh:
            if start:
                fh.seek(start)
            elif dialect.header:
                for _ in range(data_line - 1):
                    fh.readline()
            else:
                skip_bom(fh)
            length = None if end is None else end - max(start, fh.tell())
            for chunk_no, chunk in enumerate(
                read_records(fh, dialect, names, max(first_line, data_line), length)
            ):
                results.extend(_land_csv_chunk(chunk, contract, landing, meta, chunk_no))
    except (OSError, EOFError) as exc:  # a compressed file cut short, a read error
        return [file_error(meta, f"cannot be read to its end ({str(exc)[:200]})")]
    return _noted(_no_rows(meta, results, "the file has a header and no rows"), meta)


def _land_csv_chunk(chunk, contract: Contract, landing: Path, meta: dict, chunk_no: int):
    out = []
    if len(chunk.lines):
        df = pd.DataFrame({n: a.to_pandas() for n, a in chunk.columns.items()})
        df["_source_file"] = meta["file"]
        df["_source_line"] = chunk.lines
        if chunk.broken:
            df["_reason_pre"] = pd.Series(chunk.broken, dtype=object)
        target = landing / f"{meta['stem']}-{chunk_no:04d}.parquet"
        out.append(land(df, contract, target, meta))
    if chunk.bad:
        out.append(_unreadable(meta, chunk.bad))
    return out


# -- Parquet ------------------------------------------------------------------------------
def read_parquet(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Read a Parquet file by batches of row groups (memory bounded by CHUNK_LINES)."""
    meta = dict(meta)
    try:
        pf = pq.ParquetFile(open_source(path) if "://" in path else path)
        have = pf.schema_arrow.names
        missing = missing_columns(contract, have, meta)
        if missing:
            return [missing]
        wanted = [n for n in have if n in contract.names or contract.extra_columns == "fail"]
        results, row = [], 1
        for chunk_no, batch in enumerate(pf.iter_batches(batch_size=CHUNK_LINES, columns=wanted)):
            df = batch.to_pandas()
            if not wanted:
                df = pd.DataFrame(index=range(batch.num_rows))
            df["_source_file"] = meta["file"]
            df["_source_line"] = np.arange(row, row + len(df))
            row += len(df)
            out = landing / f"{meta['stem']}-{chunk_no:04d}.parquet"
            results.append(land(df, contract, out, meta))
    except (pa.ArrowException, OSError) as exc:
        return [
            file_error(
                meta,
                f"not a readable Parquet file ({str(exc).splitlines()[0][:200]}). It may be "
                "truncated or still being written; replace it with a complete file.",
            )
        ]
    return _noted(_no_rows(meta, results, "the file holds no row"), meta)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}
