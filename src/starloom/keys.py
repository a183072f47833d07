"""Every key a source file (sources/*.yml) or a model's header (sql/**/*.sql) may hold,
where, and what it means.

One definition serves the loaders, which refuse a key not listed here (naming the key,
where it is, the keys allowed there and the closest match), and the reference docs, whose
key tables are written from it (`python -m starloom.keys docs/sources.md docs/models.md`).
A model's keys are read into typed fields by starloom.models.config, one reader per key
listed here (tests/unit/test_models_config.py holds the two lists equal).
"""

from __future__ import annotations

import difflib

from starloom.errors import ConfigError

SOURCE = {
    "source": "the source's name (default: the file name); tables load into raw_<source>__<table>",
    "kind": "`files` (CSV, JSON lines, Parquet, change events) or `sql` (a database)",
    "format": "files: `csv`, `jsonl`, `parquet` or `debezium` (change events in JSON lines)",
    "url": "sql: a SQLAlchemy URL; `${VAR}` and `${VAR:-default}` are read from the environment",
    "landing": "files: `parquet` (default; a checked copy under output/landing) or `none` "
    "(csv: the embedded engine reads and checks each local file itself)",
    "description": "free text, shown in the docs",
    "tables": "the source's tables: a mapping of table name to its keys",
}
TABLE = {
    "description": "free text, shown in the docs",
    "columns": "the contract: a mapping of column name to its rules",
    "primary_key": "list of columns; unique per partition (later duplicates are quarantined), "
    "never null",
    "extra_columns": "`ignore` (default) or `fail`: a row with a column the contract lacks breaks",
    "schema": "`strict` (default: any change of the contract fails) or `additive` (new columns "
    "are added to the raw table)",
    "freshness": "the newest value may be at most this old at the end of the run date",
    "path": "files: a glob relative to the project (or absolute, or an fsspec URL)",
    "partition": "files: where a file's date comes from: `folder` (default: a `KEY=YYYY-MM-DD` "
    "folder, KEY from `partition_key`), `filename` (the first YYYY-MM-DD or YYYYMMDD in the "
    "file's name) or `none` (all files are one snapshot, replaced whole when one changes)",
    "partition_key": "files: the folder key giving the date with `partition: folder` "
    "(default `date`)",
    "csv": "csv files: how they are written (delimiter, quote, header, null markers, "
    "encoding, compression)",
    "allow_empty": "files: `true` lets a file with a header and no rows empty its day "
    "(default false: such a file is refused and the day keeps its rows)",
    "mode": "sql: `snapshot` (default; a full extract per run date) or `incremental` "
    "(rows past the high-water mark of `cursor`)",
    "cursor": "sql: the column that grows on every change (datetime or int64)",
    "partitions": "sql: how many key ranges to read at once (default 2)",
}
COLUMN = {
    "type": "int64, float64, decimal(P,S), string (default), bool, date, datetime "
    "(microseconds, UTC) or datetime(P) with P digits of a second",
    "nullable": "false: a missing value breaks the row (default true; key columns never null)",
    "description": "free text, shown in the docs",
    "accepted_values": "list: any other value breaks the row",
    "min": "smallest value allowed (numbers, dates as YYYY-MM-DD)",
    "max": "largest value allowed",
    "max_length": "most characters allowed in a text",
    "pattern": "a regular expression the whole text must match",
    "unique": "true: a value seen before in the same partition breaks the later rows",
    "format": "date/datetime: the strptime format of the text (default YYYY-MM-DD "
    "[HH:MM[:SS[.fraction]]]), e.g. '%d/%m/%Y'",
    "null_values": "list of texts meaning a missing value in this column (replaces the "
    "table's `csv: null_values`)",
}
CSV = {
    "delimiter": 'one character between fields (default `,`; e.g. `;`, `|`, a tab as "\\t")',
    "quote": 'the quote character (default `"`); `none` for files without quoting',
    "escape": "a character that makes the next one literal, e.g. a backslash (default none; "
    "a doubled quote inside quotes is always one quote)",
    "header": "true (default): the first line names the columns; false: the columns are "
    "the contract's, in order",
    "null_values": "list of texts meaning a missing value, quoted or not, e.g. [NA, '\\N', "
    "NULL] (an unquoted empty field is always missing)",
    "encoding": "utf-8 (default), latin-1, cp1252 or another ASCII-compatible encoding",
    "compression": "`auto` (default: .gz is gzip, .zst is zstd, .zip a zip archive of one "
    "file), `none`, `gzip`, `zstd` or `zip`",
}
FRESHNESS = {
    "column": "a `datetime` column of the contract to judge (default `_loaded_at`, when the "
    "row was loaded); another type is refused when the source is read",
    "warn_after": "a duration such as {hours: 24}: older gives a warning",
    "error_after": "a duration such as {days: 3}: older gives an error",
}
MODEL = {
    "description": "what the model holds, shown in the docs",
    "grain": "what one row is, e.g. `one row per order line`",
    "materialization": "`view` (default), `table`, `incremental` or `snapshot` (in sql/snapshots/)",
    "order_by": "table, incremental: the sort key, a column or a list (default: none)",
    "partition_by": "table, incremental: a partition expression, e.g. `toYYYYMM(order_date)`",
    "engine": "table, incremental: a ClickHouse table engine (default `MergeTree`)",
    "unique_key": "incremental upsert and snapshot: the column (or list) a row is replaced by",
    "incremental_strategy": "incremental: `append` (default), `replace_partitions` or `upsert`",
    "version": "incremental upsert: a column that grows with each change (e.g. updated_at)",
    "lookback_days": "incremental: `{lookback_start:Date}` is this many days before the run "
    "date, to rebuild late rows (default 0)",
    "on_schema_change": "incremental, snapshot: when the SELECT's columns change, `fail` "
    "(default), `append_new_columns` or `sync_all_columns`",
    "strategy": "snapshot: `timestamp` (with `updated_at`) or `check` (with `check_cols`)",
    "updated_at": "snapshot, timestamp strategy: the source column of the change time",
    "check_cols": "snapshot, check strategy: the columns whose change makes a new version",
    "invalidate_hard_deletes": "snapshot: close the version of a key gone from the source "
    "(default true)",
    "surrogate_key": "snapshot: the name of the version's key column (default `snapshot_key`)",
    "settings": "ClickHouse settings for the statement that builds the rows, e.g. "
    "`{join_algorithm: grace_hash}`",
    "date_column": "the date column the quality history counts rows per day by",
    "columns": "column name -> its `description`, `type` and `tests` (column keys below)",
    "tests": "a list of tests of the whole model: `expression_is_true` and custom `sql` "
    "(docs/models.md)",
}
MODEL_COLUMN = {
    "description": "what the column holds, shown in the docs",
    "type": "the ClickHouse type, for the docs",
    "tests": "a list of `unique`, `not_null`, `accepted_values`, `relationships`, "
    "`expression_is_true` (docs/models.md)",
}
LEVELS = {
    "source": SOURCE,
    "table": TABLE,
    "column": COLUMN,
    "csv": CSV,
    "freshness": FRESHNESS,
    "model": MODEL,
    "model_column": MODEL_COLUMN,
}


def check_keys(spec, level: str, where: str) -> dict:
    """`spec` as a mapping whose every key is allowed at `level`; else a ConfigError that
    names the key, where it is, the keys allowed there and the closest match."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, not {spec!r}.")
    allowed = LEVELS[level]
    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            page = "docs/models.md" if level.startswith("model") else "docs/sources.md"
            raise ConfigError(
                f"{where}: unknown key `{key}`.{hint} The keys allowed here are: "
                f"{', '.join(allowed)} ({page})."
            )
    return spec


def markdown_table(level: str) -> str:
    """The keys of a level as a Markdown table, for the docs."""
    rows = [f"| `{k}` | {v.replace('|', '&#124;')} |" for k, v in LEVELS[level].items()]
    return "\n".join(["| key | meaning |", "|---|---|", *rows])


def write_key_tables(text: str) -> str:
    """`text` (a Markdown page) with each `<!-- keys:LEVEL -->...<!-- /keys -->` block
    holding the current table of that level."""
    for level in LEVELS:
        start, end = f"<!-- keys:{level} -->", "<!-- /keys -->"
        if start in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{start}\n{markdown_table(level)}\n{end}{tail}"
    return text


if __name__ == "__main__":  # python -m starloom.keys docs/sources.md docs/models.md
    import sys
    from pathlib import Path

    for arg in sys.argv[1:]:
        page = Path(arg)
        page.write_text(write_key_tables(page.read_text()))
