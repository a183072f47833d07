"""CSV read and checked by the embedded engine itself: the contract compiled to SQL.

For a files source with `landing: none`, a local CSV file on the embedded engine is loaded
with one `INSERT ... SELECT ... FROM file()`: ClickHouse parses the file in parallel, every
column as text, and the contract's rules become SQL expressions that type each value and
decide whether the row keeps the contract. The insert stops at the first row that breaks
it (`throwIf`); the caller then removes what the file put in and reads the file again by
the Python path (starloom.ingestion.readers), which quarantines each bad row with its
reason and line.
So a clean file loads at the engine's speed, and a dirty one gives the same result as
before, only later.

The SQL is never laxer than the Python checks: where a value could be read in two ways
(a date not written the one way the engine writes it back, an offset on a timestamp, a day
that does not exist, a decimal with more digits than its scale, spaces around a number, an
integer that overflows, a line break in a value, text blank but for Unicode spaces), the
expression rejects the row and the Python path decides. tests/integration/test_engine_csv.py
loads each such case both ways and compares the tables and the quarantine.

Keys repeated across the load are found afterwards, in the warehouse, for both paths
(starloom.ingestion.load). Not for the engine: URLs (fsspec), a server (it cannot read local
files), a contract column missing from the header, `extra_columns: fail` with extra
columns, a one-column file, a rule without an exact SQL form (min/max on text or dates).
"""

from __future__ import annotations

import datetime as dt
import decimal
import mmap
import numbers
import os

from starloom.errors import WarehouseError
from starloom.ingestion import csv_records
from starloom.ingestion.contracts import Column, Contract
from starloom.ingestion.csv_records import CsvDialect
from starloom.warehouse import Warehouse, quote_identifier
from starloom.warehouse.ddl import Ddl

# ClickHouse's CSV reader, set to read like the Python path's pyarrow reader: no single
# quotes, spaces kept, `\N` is text (pyarrow's only null is the empty unquoted field)
GLOB = set("*?{}[]")  # the engine reads these in a path as a pattern, even when bound


def has_glob(path: str) -> bool:
    """True when the engine's file() would read `path` as a pattern of several files."""
    return bool(GLOB & set(path))


READ_SETTINGS = {
    "format_csv_allow_single_quotes": 0,
    "format_csv_allow_double_quotes": 1,
    "format_csv_delimiter": ",",
    "input_format_csv_trim_whitespaces": 0,
    "input_format_csv_empty_as_default": 1,
    "format_csv_null_representation": "\x01starloom-no-null\x01",
    "input_format_csv_allow_variable_number_of_columns": 0,
    "input_format_csv_skip_trailing_empty_lines": 1,
    "input_format_allow_errors_num": 0,
    "input_format_with_names_use_header": 0,  # columns by position: _c0, _c1, ...
    "input_format_skip_unknown_fields": 0,
    "min_insert_block_size_rows": 1048449,  # the engine's own default (see insert_block_bytes)
    "storage_file_read_method": "pread",  # not mmap: a mapped file counts whole in RSS
}
BROKEN = "a row breaks the contract"
_BLANK = r"^[\s\x0b\x1c-\x1f\x{85}\pZ]*$"  # what Python's str.strip() leaves empty
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _datetime_text(precision: int) -> str:
    """A timestamp as the contract reads it, without an offset, to `precision` digits."""
    fraction = rf"(\.[0-9]{{1,{precision}}})?" if precision else ""
    time = rf"[ T][0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}{fraction})?Z?"
    return rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}({time})?$"


_DATE_RANGE = ("1900-01-01", "2299-12-31")


def _text(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(col: Column, value) -> str | None:
    """A rule's value as a literal of the column's type, or None when it cannot be one."""
    if col.type == "string":
        return _text(value) if isinstance(value, str) else None
    if col.kind == "date" and isinstance(value, dt.date):
        return f"toDate32('{value.isoformat()}')"
    if col.kind == "datetime" and isinstance(value, dt.datetime):
        stamp = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime64('{stamp}', {col.precision}, 'UTC')"
    if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):
        return None
    if col.type == "int64":
        return str(int(value)) if float(value).is_integer() else None
    if col.type == "float64":
        return repr(float(value))
    if col.decimal:
        return f"toDecimal128('{value}', {col.decimal[1]})"
    return None


# A decimal of at most 15 digits that keeps its shape (the regex of _typed) is read as a
# float and scaled to an integer: the float is within 2^-53 of the value, so the scaled
# float is within 0.25 of the exact integer (below 10^15) and rounds to it. The engine's
# own decimal parser costs about three times as much (~55 against ~19 ns a value), and
# TPC-H's lineitem has four decimal columns.
_FLOAT_DECIMAL = 15


def _typed(col: Column, v: str) -> tuple[str, str] | None:
    """(the value typed, the text is a valid value) as SQL, for a non-blank text `v`.

    An integer is what `toInt64OrNull` reads: digits with an optional sign and leading
    zeros, in range (Python reads those alike; spaces, `2.0`, `1e3` or an overflow give NULL
    and send the file to the Python path). A date must be written the one way the engine
    writes it back (YYYY-MM-DD), so that a day that does not exist is not moved.
    """
    dec = col.decimal
    if dec:
        precision, scale = dec
        number = (
            rf"^[+-]?([0-9]{{1,{precision - scale}}}(\.[0-9]{{0,{scale}}})?|\.[0-9]{{1,{scale}}})$"
        )
        if precision <= _FLOAT_DECIMAL:
            scaled = f"toInt64(round(toFloat64OrZero({v}) * {10**scale}))"
            typed = f"if({v} = '', NULL, reinterpret({scaled}, 'Decimal64({scale})'))"
        else:
            cast = "toDecimal64OrNull" if precision <= 18 else "toDecimal128OrNull"
            typed = f"{cast}({v}, {scale})"
        typed = f"CAST({typed} AS Nullable(Decimal({precision}, {scale})))"
        return typed, f"match({v}, {_text(number)})"
    if col.type == "int64":
        return f"toInt64OrNull({v})", f"toInt64OrNull({v}) IS NOT NULL"
    if col.type == "float64":
        return (
            f"toFloat64OrNull({v})",
            f"match({v}, {_text(_FLOAT)}) AND isFinite(toFloat64OrNull({v}))",
        )
    lo, hi = _DATE_RANGE
    in_range = f"BETWEEN toDate32('{lo}') AND toDate32('{hi}')"
    if col.type == "date":  # a day that does not exist is moved by the engine: refused here
        typed = f"toDate32OrNull({v})"
        return typed, f"toString({typed}) = {v} AND {typed} {in_range}"
    if col.kind == "datetime":
        typed = f"parseDateTime64BestEffortOrNull({v}, {col.precision}, 'UTC')"
        day = f"toDate32({typed})"
        return typed, (
            f"match({v}, {_text(_datetime_text(col.precision))}) AND toString({day}) = "
            f"substring({v}, 1, 10) AND {day} {in_range}"
        )
    if col.type == "bool":
        return (
            f"(lower({v}) IN ('true', '1', 't'))",
            f"lower({v}) IN ('true', 'false', '1', '0', 't', 'f')",
        )
    return None


def _column(col: Column, name: str) -> tuple[str, str] | None:
    """(typed value, the row keeps this column's rules) as SQL, or None if not compilable.
    The rules may be NULL where a value is missing; the caller reads NULL as broken."""
    v = quote_identifier(name)
    if col.null_values:  # a null marker is a missing value: NULL as text, blank otherwise
        markers = ", ".join(_text(m) for m in col.null_values)
        missing = "NULL" if col.type == "string" else "''"
        v = f"if({v} IN ({markers}), {missing}, {v})"
    blank = f"{v} = ''"  # text columns are Nullable (see compile_select), the others are not
    checks: list[str] = []
    if col.type == "string":
        typed = v
        checks.append(
            f"({v} IS NULL OR (isValidUTF8({v}) AND position({v}, '\\n') = 0 "
            f"AND position({v}, '\\r') = 0))"
        )
        blank_accepted = col.accepted_values is None or any(
            not str(a).strip() for a in col.accepted_values
        )
        given = (
            f"({v} IS NOT NULL AND NOT match({v}, {_text(_BLANK)}))"
            if blank_accepted
            else f"{v} IS NOT NULL"  # the accepted values check the rest
        )
    else:
        compiled = _typed(col, v)
        if compiled is None:
            return None
        typed, valid = compiled
        if col.type == "bool":
            typed = f"if({blank}, NULL, {typed})"
        checks.append(f"({blank} OR ({valid}))")
        given = f"NOT {blank}"
    if not col.nullable:
        checks.append(given)
    if col.accepted_values is not None:
        values = [_literal(col, a) for a in col.accepted_values]
        if None in values:
            return None
        checks.append(f"({typed} IS NULL OR {typed} IN ({', '.join(values)}))")
    for bound, op in ((col.min, ">="), (col.max, "<=")):
        if bound is not None:
            lit = _literal(col, bound) if col.type != "string" else None
            if lit is None:
                return None
            checks.append(f"({typed} IS NULL OR {typed} {op} {lit})")
    if col.max_length is not None:
        checks.append(f"({typed} IS NULL OR lengthUTF8({typed}) <= {int(col.max_length)})")
    if col.pattern:
        if col.type != "string":
            return None
        checks.append(f"({typed} IS NULL OR match({typed}, {_text('^(?:' + col.pattern + ')$')}))")
    if not col.nullable:
        typed = f"assumeNotNull({typed})"
    return typed, " AND ".join(checks) or "1"


def _not_for_engine(
    contract: Contract, header: list[str], dialect: CsvDialect, meta_file: str = ""
) -> str | None:
    """Why this file is read by Python rather than the engine, or None."""
    if dialect.quote not in ('"', "'"):
        return "`csv: quote` is none (the engine always reads quotes)"
    if dialect.compression == "zip" or str(meta_file).lower().endswith(".zip"):
        return "a zip archive (read by Python)"
    if dialect.delimiter in "\t ":
        return "a tab or space delimiter (the engine's CSV reader refuses it)"
    if dialect.escape:
        return "`csv: escape` is set (the engine has no escape character for CSV)"
    if dialect.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return f"the files are {dialect.encoding}, not UTF-8"
    if len(header) < 2:
        return "a file of one column (its blank lines would be rows)"
    absent = [c.name for c in contract.columns if c.name not in header]
    if absent:
        return f"column(s) {absent} are not in the file"
    if contract.extra_columns == "fail" and set(header) - set(contract.names):
        return "the file has columns the contract lacks (`extra_columns: fail`)"
    for col in contract.columns:
        if col.format:
            return f"column {col.name} has a `format`"
        if _column(col, "_c0") is None:
            return f"a rule of column {col.name} has no exact SQL form"
    return None


def lines_within_cap(path: str, dialect: CsvDialect) -> bool:
    """Whether no line of the file can be longer than the cap of a line
    (csv_records.MAX_RECORD_BYTES): every stretch of half the cap holds a line break, so no
    two breaks are a whole cap apart. Found by reading a few bytes per stretch (the first
    break in it), not the file: the engine would hold a longer line whole in memory, where
    the Python path reads past it in bounded memory (and makes it one bad row). A
    compressed file cannot be looked into this way and is taken as it is."""
    window = csv_records.MAX_RECORD_BYTES // 2
    size = os.path.getsize(path)
    if size <= window or dialect.compression_of(path) != "none":
        return True
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        # the last stretch may lack a break: the line it ends began at most a stretch before
        return all(data.find(b"\n", at, at + window) >= 0 for at in range(0, size - window, window))


def _within_cap(width: int, nullable: set[int]) -> str:
    """The row's line cannot be longer than the cap of a line (csv_records.MAX_RECORD_BYTES),
    where the Python path makes a longer line one bad row. The raw line is at most twice its
    values (every quote doubled) plus quotes, delimiters and line end; a row that might be
    over goes to the Python path, which measures the line itself."""
    lengths = " + ".join(
        f"length(ifNull(_c{i}, ''))" if i in nullable else f"length(_c{i})" for i in range(width)
    )
    return f"(2 * ({lengths}) + {3 * width + 4} <= {csv_records.MAX_RECORD_BYTES})"


def compile_select(
    contract: Contract, header: list[str], meta: dict, dialect: CsvDialect = CsvDialect()
) -> tuple[str | None, str | None]:
    """(the SELECT that types and checks one CSV file, its columns in raw-table order; None
    and the reason when this file is not for the engine). `meta` gives the load id,
    partition and file name. The length of a row's line is checked per row only in a
    compressed file: an uncompressed one goes to the engine only when lines_within_cap
    found every line shorter than the cap."""
    why = _not_for_engine(contract, header, dialect, meta["file"])
    if why:
        return None, why
    selects, checks = [], []
    for col in contract.columns:
        typed, ok = _column(col, f"_c{header.index(col.name)}")
        selects.append(f"{typed} AS {quote_identifier(col.name)}")
        checks.append(ok)
    # a text column is Nullable: the engine reads an empty field as NULL and a quoted ""
    # as '', as Python does; any other column is read as plain text, which is faster
    text = {header.index(c.name) for c in contract.columns if c.type == "string"}
    compression = dialect.compression_of(meta["file"])
    if compression != "none":  # an uncompressed file's lines are measured by lines_within_cap
        checks.append(_within_cap(len(header), text))
    structure = ", ".join(
        f"_c{i} {'Nullable(String)' if i in text else 'String'}" for i in range(len(header))
    )
    day: dt.date = meta["partition"]
    fmt, first = ("CSVWithNames", 2) if dialect.header else ("CSV", 1)
    return (
        f"SELECT {', '.join(selects)}, {_text(meta['load_id'])} AS _load_id, "
        f"toDate32('{day.isoformat()}') AS _partition, {_text(meta['file'])} AS _source_file, "
        f"toInt64(_row_number + {first}) AS _source_line "
        f"FROM file({{path:String}}, '{fmt}', {_text(structure)}, {_text(compression)}) "
        f"WHERE throwIf(NOT ifNull({' AND '.join(checks)}, 0), {_text(BROKEN)}) = 0"
    ), None


def insert_block_bytes(memory_limit_mb: int) -> int:
    """How large a block the engine gathers before it writes a part: 128 MiB, or an eighth
    of the engine's memory limit when that is less (at least 16 MiB). Each part is sorted,
    compressed and later merged: blocks of a quarter million rows made a load of TPC-H's
    lineitem at SF 1 about a quarter slower than blocks of a million rows, for ~350 MB
    less peak memory, which the engine's memory limit now bounds instead."""
    cap = 128 << 20
    if memory_limit_mb:
        cap = max(16 << 20, min(cap, (memory_limit_mb << 20) // 8))
    return cap


def read_settings(dialect: CsvDialect, memory_limit_mb: int = 0) -> dict:
    """The engine's CSV settings for a dialect, its insert blocks sized for the memory limit."""
    return {
        **READ_SETTINGS,
        "min_insert_block_size_bytes": insert_block_bytes(memory_limit_mb),
        "format_csv_delimiter": dialect.delimiter,
        "format_csv_allow_single_quotes": int(dialect.quote == "'"),
        "format_csv_allow_double_quotes": int(dialect.quote == '"'),
    }


def load_file(
    wh: Warehouse,
    target: str,
    names: list[str],
    path: str,
    file: str,
    select: str,
    dialect: CsvDialect = CsvDialect(),
):
    """Insert one file's rows into `target`. Returns False, leaving none of its rows in
    `target`, when a row breaks the contract or the engine cannot read the file."""
    cols = ", ".join(quote_identifier(n) for n in names)
    try:
        wh.command(
            f"INSERT INTO {wh.qualified(target)} ({cols}) {select}",
            {"path": path},
            settings=read_settings(dialect, wh.settings.memory_limit_mb),
        )
        return True
    except WarehouseError:
        wh.command(
            Ddl.of(wh).delete_rows(target, "_source_file = {f:String}"),
            {"f": file},
            settings={"mutations_sync": 2},
        )
        return False
