"""File readers: CSV, JSON lines and Parquet, read in bounded chunks and landed as Parquet.

Each reader is a pure function of its inputs (it runs on a Dask worker). It reads one file
in chunks (CSV by blocks of bytes, JSON lines by lines, Parquet by row groups), checks
each chunk against the contract and writes the good rows to a landing Parquet file. It
returns one result per chunk: rows read, rows loaded and the quarantined rows with their
reason, file and line, so that rows read = rows loaded + rows quarantined.

Lines are 1-based file lines for JSON lines, data rows counted from the header line
(blank lines skipped) for CSV, and row numbers for Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from starloom.contracts import Contract, to_arrow, validate
from starloom.errors import SourceError

CHUNK_LINES = 200_000  # JSON lines and Parquet rows per chunk
CSV_BLOCK_BYTES = 32 << 20  # CSV bytes per chunk; also the largest row a CSV may hold
RECORD_CHARS = 10_000  # characters of a quarantined record kept
QUARANTINE_COLUMNS = ["file", "line", "reason", "record", "partition"]


def land(df: pd.DataFrame, contract: Contract, out: Path, meta: dict) -> dict:
    """Validate one chunk, write its good rows to `out`, return counts and bad rows."""
    good, bad = validate(
        df,
        contract,
        header_columns=meta.get("header", False),
        check_keys=meta.get("check_keys", True),
    )
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
        pq.write_table(table, out, compression="zstd", compression_level=1)
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
    return {"rows_read": len(df), "rows_loaded": n, "bad": quarantined}


def record_text(record: dict) -> str:
    """A quarantined row as text: the raw line when known, else its fields as JSON."""
    if isinstance(record.get("_raw"), str):
        return record["_raw"][:RECORD_CHARS]
    return json.dumps(
        {
            k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else str(v))
            for k, v in record.items()
            if k != "_raw"
        },
        default=str,
        ensure_ascii=False,
    )[:RECORD_CHARS]


def _unreadable(rows: int, meta: dict, reasons_records: list[tuple]) -> dict:
    """A result for rows that could not be parsed at all: all quarantined."""
    return {
        "rows_read": rows,
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
    }


# -- JSON lines ---------------------------------------------------------------------------
def read_jsonl(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Parse a JSON-lines file in chunks; a line that is not a JSON object is quarantined."""
    keep = None if contract.extra_columns == "fail" else set(contract.names)
    results, rows, chunk_no = [], [], 0
    with open_source(path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            rows.append(parse_json_line(raw, keep, meta["file"], line_no))
            if len(rows) >= CHUNK_LINES:
                results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
                chunk_no, rows = chunk_no + 1, []
    if rows or chunk_no == 0:
        results.append(_jsonl_chunk(rows, contract, landing, meta, chunk_no))
    return results


def parse_json_line(raw: bytes, keep: set | None, file: str, line_no: int) -> dict:
    """One line as a dict of fields, or a dict with `_reason_parse` and `_raw`."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        obj = {"_reason_parse": f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})"}
        obj["_raw"] = raw.decode("utf-8", errors="replace").strip()
    else:
        try:
            obj = json.loads(text)
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
    broken = df["_reason_parse"].notna()
    result = land(df[~broken].drop(columns=["_reason_parse", "_raw"]), contract, out, meta)
    parse_bad = pd.DataFrame(
        {
            "file": meta["file"],
            "line": df.loc[broken, "_source_line"],
            "reason": df.loc[broken, "_reason_parse"],
            "record": df.loc[broken, "_raw"].str[:RECORD_CHARS],
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
def scan(path: str, split_bytes: int | None = None) -> tuple[int, str, list[tuple]]:
    """Size, sha256 and, with `split_bytes`, the file cut at line ends into byte ranges.

    Each range is (start, end, line number of its first line), so that several workers can
    read one large CSV file at once and still name the file's lines.
    """
    digest, size, lines, ranges, start, start_line = hashlib.sha256(), 0, 0, [], 0, 1
    with open_source(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
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


def csv_header(path: str) -> list[str] | None:
    """The header's column names (None for an empty file); fails on duplicates."""
    with open_source(path) as fh:
        first = fh.readline(CSV_BLOCK_BYTES)
    if not first.strip():
        return None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(
            f"{path}: the CSV header line is not valid UTF-8. Save the file as UTF-8."
        ) from None
    names = [n.strip() for n in next(csv.reader([text]))]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or "" in names:
        raise SourceError(
            f"{path}: the CSV header names column(s) {dupes or ['(blank)']} more than once "
            "or not at all; every column needs a distinct name. Fix the header line."
        )
    return names


class _ByteRange(io.RawIOBase):
    """The bytes start..end of a file, as a file object (memory stays one block)."""

    def __init__(self, path: str, start: int, end: int):
        self._fh = open_source(path)  # closed with the range
        self._fh.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:n])
        self._left -= got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


def read_csv(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Read a CSV file (or the byte range `meta["range"]` of it) in blocks with pyarrow,
    every column as text, then check it.

    A row with the wrong number of fields, or bytes that are not UTF-8, is quarantined.
    Values may be quoted but not hold line breaks (each line is a row).
    """
    meta = {**meta, "header": True}
    names = csv_header(path)
    if names is None:
        return []
    start, end, first_line = meta.get("range") or (0, None, 1)
    skip = 1 if start == 0 else 0  # the header line is in the first range only
    bad_rows: list[tuple[int | None, str, str]] = []

    def on_invalid(row) -> str:
        bad_rows.append(
            (
                None if row.number is None else first_line + row.number - 1,
                f"malformed CSV line ({row.actual_columns} fields, "
                f"expected {row.expected_columns})",
                row.text,
            )
        )
        return "skip"

    try:
        if end is not None:
            data = io.BufferedReader(_ByteRange(path, start, end), 1 << 20)
        else:
            data = open_source(path) if "://" in path else path
        reader = pacsv.open_csv(
            data,
            read_options=pacsv.ReadOptions(
                block_size=CSV_BLOCK_BYTES, use_threads=False, column_names=names, skip_rows=skip
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                check_utf8=False,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
        results, next_row = [], first_line + skip
        for chunk_no, batch in enumerate(_batches(reader)):
            n = batch.num_rows
            skipped = [b[0] for b in bad_rows if b[0] is not None and b[0] >= next_row]
            candidates = np.arange(next_row, next_row + n + len(skipped))
            lines = candidates[~np.isin(candidates, skipped)][:n]
            next_row = int(lines[-1]) + 1 if n else next_row
            df = _utf8_checked(batch)
            df["_source_file"] = meta["file"]
            df["_source_line"] = lines
            out = landing / f"{meta['stem']}-{chunk_no:04d}.parquet"
            results.append(land(df, contract, out, meta))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: cannot parse the CSV file ({str(exc).splitlines()[0][:200]}). A row "
            f"may be larger than {CSV_BLOCK_BYTES >> 20} MiB or a quote never closed; "
            "fix the file."
        ) from None
    if bad_rows:
        results.append(_unreadable(len(bad_rows), meta, bad_rows))
    return results


def _batches(reader):
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _utf8_checked(batch: pa.RecordBatch) -> pd.DataFrame:
    """The batch as pandas; values that are not UTF-8 are decoded with U+FFFD and flagged."""
    columns, reasons = {}, None
    for name, arr in zip(batch.schema.names, batch.columns):
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            raw = arr.cast(pa.binary()).to_pylist()
            fixed, broken = [], np.zeros(len(raw), dtype=bool)
            for i, v in enumerate(raw):
                try:
                    fixed.append(None if v is None else v.decode("utf-8"))
                except UnicodeDecodeError:
                    fixed.append(v.decode("utf-8", errors="replace"))
                    broken[i] = True
            arr = pa.array(fixed, pa.string())
            note = np.where(broken, f"column {name}: bytes that are not UTF-8", None)
            reasons = note if reasons is None else np.where(broken, note, reasons)
        columns[name] = arr
    df = pa.table(columns).to_pandas()
    if reasons is not None:
        df["_reason_pre"] = pd.Series(reasons, index=df.index, dtype=object)
    return df


# -- Parquet ------------------------------------------------------------------------------
def read_parquet(path: str, contract: Contract, landing: Path, meta: dict) -> list[dict]:
    """Read a Parquet file by batches of row groups (memory bounded by CHUNK_LINES)."""
    meta = {**meta, "header": True}
    try:
        pf = pq.ParquetFile(open_source(path) if "://" in path else path)
        have = pf.schema_arrow.names
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
        raise SourceError(
            f"{path}: not a readable Parquet file ({str(exc).splitlines()[0][:200]}). It may "
            "be truncated or still being written; replace it with a complete file."
        ) from None
    return results


READERS = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}
