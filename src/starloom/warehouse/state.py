"""The bookkeeping tables: one registry, one way to create them and bring them up to date.

Every `starloom_*` table starloom keeps in the warehouse is declared here as plain data
(`TABLES`): its columns (name, type, default), engine, sorting key and a line on what it
holds. Its DDL is rendered from that declaration by starloom.warehouse.ddl, so with
`warehouse.cluster` set the bookkeeping tables go ON CLUSTER, replicated, like the models.

Versions: each column says in which version of its table it appeared (`since`); a table's
version is the largest. `starloom_state` records the version each table was brought to.
`ensure(wh)` reads those versions in one query; when every table is at its version it does
nothing more. Otherwise it reads the columns the tables have, creates the missing tables,
adds the missing columns (ALTER TABLE ... ADD COLUMN IF NOT EXISTS, with the declared
default: older rows read it) and records the new versions. A warehouse left by any older
release, with some tables absent and others short of columns, is brought up to date so.
Columns are only ever added: a declared column is never retyped or dropped.

Every module that writes a bookkeeping table calls `ensure` first; it runs its query once
per warehouse connection (`Warehouse.session`).
"""

from __future__ import annotations

from dataclasses import dataclass

from starloom.errors import WarehouseError
from starloom.warehouse import Warehouse, quote_identifier, quote_literal
from starloom.warehouse.ddl import Ddl, TableSpec, add_column

UTC_MS = "DateTime64(3, 'UTC')"


@dataclass(frozen=True)
class Column:
    """A column of a bookkeeping table: its SQL type, its default (a SQL expression; None:
    the type's own), and the version of its table that added it."""

    name: str
    type: str
    default: str | None = None
    since: int = 1

    @property
    def sql_type(self) -> str:
        """The type as the DDL writes it, with its default."""
        return f"{self.type} DEFAULT {self.default}" if self.default else self.type


@dataclass(frozen=True)
class StateTable:
    """A bookkeeping table: name, columns, engine (with its arguments) and sorting key."""

    name: str
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    engine: str = "MergeTree"
    engine_args: tuple[str, ...] = ()
    holds: str = ""

    @property
    def version(self) -> int:
        return max(c.since for c in self.columns)

    @property
    def spec(self) -> TableSpec:
        """The table's layout; on a cluster rows are sharded by the sorting key, so that
        a ReplacingMergeTree's rows of one key meet on one shard."""
        return TableSpec(
            engine=self.engine,
            engine_args=self.engine_args,
            order_by=tuple(quote_identifier(c) for c in self.order_by),
            shard_by=self.order_by,
        )

    def column_types(self) -> list[tuple[str, str]]:
        return [(c.name, c.sql_type) for c in self.columns]

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _columns(text: str, since: int = 1) -> tuple[Column, ...]:
    """Columns from `name Type, name Type DEFAULT expr, ...` (types hold no top-level comma)."""
    out, depth, start = [], 0, 0
    parts = []
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        name, _, rest = part.strip().partition(" ")
        type_, _, default = rest.partition(" DEFAULT ")
        out.append(Column(name, type_.strip(), default.strip() or None, since))
    return tuple(out)


STATE = "starloom_state"

TABLES: dict[str, StateTable] = {
    t.name: t
    for t in (
        StateTable(
            "starloom_loads",
            _columns(
                "load_id String, source String, entity String, run_date Date32, "
                "partitions Array(Date32), rows_read UInt64, rows_loaded UInt64, "
                f"rows_quarantined UInt64, seconds Float64, started_at {UTC_MS}"
            )
            + _columns(
                "schema_version String, schema_changes Array(String), high_water_from String, "
                "high_water String, rows_engine UInt64, notes Array(String), "
                "file_errors Array(String), run_id String",
                since=2,
            )
            + _columns("error String", since=3),
            order_by=("source", "entity", "started_at"),
            holds="one row per load of a table: rows read, loaded, quarantined, seconds, "
            "schema version and changes, high-water marks, notes, refused files, run id, "
            "and the error of a load refused as a whole",
        ),
        StateTable(
            "starloom_quarantine",
            _columns(
                "load_id String, source String, entity String, partition Date32, file String, "
                f"line Nullable(UInt64), reason String, record String, "
                f"quarantined_at {UTC_MS} DEFAULT now64(3)"
            ),
            order_by=("source", "entity", "partition"),
            holds="every row that broke its contract: file, line, reason, the record",
        ),
        StateTable(
            "starloom_manifest",
            _columns(
                "source String, entity String, file String, partition Date32, size UInt64, "
                f"sha256 String, load_id String, loaded_at {UTC_MS}"
            )
            + _columns("mtime_ns Int64", since=2),
            order_by=("source", "entity", "file"),
            engine="ReplacingMergeTree",
            engine_args=("loaded_at",),
            holds="every file loaded, with its size, checksum and modification time",
        ),
        StateTable(
            "starloom_test_results",
            _columns(
                "run_id String, model String, test String, column String, severity String, "
                f"failures UInt64, status String, checked_at {UTC_MS}"
            )
            + _columns("sample String", since=2),
            order_by=("model", "checked_at"),
            holds="every model test result, with a sample of the failing rows "
            "(see [models.md](models.md))",
        ),
        StateTable(
            "starloom_model_runs",
            _columns(
                "run_id String, model String, layer String, materialization String, "
                "mode String, rows_written UInt64, rows UInt64, seconds Float64, "
                f"finished_at {UTC_MS}, step UInt32"
            ),
            order_by=("run_id", "model"),
            holds="every model a build went through: built (full, incremental), up to date, "
            "or failed",
        ),
        StateTable(
            "starloom_builds",
            _columns(
                f"model String, run_id String, built_at {UTC_MS}, signature String, version String"
            ),
            order_by=("model",),
            engine="ReplacingMergeTree",
            engine_args=("built_at",),
            holds="what each table model was last built from, to skip it when nothing changed",
        ),
        StateTable(
            "starloom_runs",
            _columns(f"run_date Date32, finished_at {UTC_MS}, seconds Float64, arguments String"),
            order_by=("run_date",),
            engine="ReplacingMergeTree",
            engine_args=("finished_at",),
            holds="every run date a backfill built",
        ),
        StateTable(
            "starloom_commands",
            _columns(
                "run_id String, command String, run_date Nullable(Date32), "
                f"started_at {UTC_MS}, finished_at {UTC_MS}, status String, "
                "failed Array(String), error String"
            ),
            order_by=("run_id", "started_at"),
            holds="every command that ran (run, backfill, ingest, build, test): its run id "
            "and run date, whether it failed, what failed (tasks) and its error",
        ),
        StateTable(
            "starloom_freshness",
            _columns(
                "run_id String, source String, table String, column String, "
                f"latest_at Nullable({UTC_MS}), reference_at {UTC_MS}, "
                "age_hours Nullable(Float64), warn_after_hours Nullable(Float64), "
                f"error_after_hours Nullable(Float64), status String, checked_at {UTC_MS}"
            ),
            order_by=("source", "table", "checked_at"),
            holds="each source table's age at each run, against its limits",
        ),
        StateTable(
            "starloom_table_stats",
            _columns(
                f"run_id String, run_date Date32, recorded_at {UTC_MS}, table String, "
                "partition_date Nullable(Date32), rows UInt64"
            ),
            order_by=("table", "recorded_at"),
            holds="row counts of each table per run, and rows per day of the fact tables",
        ),
        StateTable(
            "starloom_column_stats",
            _columns(
                f"run_id String, run_date Date32, recorded_at {UTC_MS}, table String, "
                "column String, rows UInt64, nulls UInt64, null_rate Float64"
            ),
            order_by=("table", "column", "recorded_at"),
            holds="the null rate of each column per run",
        ),
        StateTable(
            STATE,
            _columns(f"table String, version UInt32, migrated_at {UTC_MS}"),
            order_by=("table",),
            engine="ReplacingMergeTree",
            engine_args=("migrated_at",),
            holds="the version each bookkeeping table was brought to",
        ),
    )
}


# -- DDL ------------------------------------------------------------------------------------
def create_statements(ddl: Ddl, table: StateTable) -> list[str]:
    """CREATE TABLE IF NOT EXISTS for a bookkeeping table (local and Distributed on a cluster)."""
    return ddl.create_table(table.name, table.column_types(), table.spec, if_not_exists=True)


def add_column_statements(ddl: Ddl, table: StateTable, missing: list[str]) -> list[str]:
    """One ALTER TABLE adding the columns `missing` (with their defaults), if absent."""
    by_name = {c.name: c for c in table.columns}
    actions = [add_column(n, by_name[n].sql_type, if_not_exists=True) for n in missing]
    return ddl.alter_columns(table.name, actions)


def migration(ddl: Ddl, present: dict[str, set[str]], tables=None) -> list[str]:
    """The statements that bring the `tables` (default: all) from the columns `present`
    ({table: its columns}; an absent table is not in it) to the registry's."""
    out = []
    for table in tables or TABLES.values():
        if table.name not in present:
            out += create_statements(ddl, table)
            continue
        missing = [n for n in table.column_names() if n not in present[table.name]]
        out += add_column_statements(ddl, table, missing)
    return out


def record_versions_sql(ddl: Ddl, tables) -> str:
    """The INSERT recording the current version of each of `tables`."""
    values = ", ".join(f"({quote_literal(t.name)}, {t.version}, now64(3))" for t in tables)
    return f"INSERT INTO {ddl.qualified(STATE)} (`table`, version, migrated_at) VALUES {values}"


# -- the warehouse --------------------------------------------------------------------------
def recorded_versions(wh: Warehouse) -> dict[str, int]:
    """{table: version} as recorded, for the bookkeeping tables that exist ({} in a
    warehouse that records none yet)."""
    try:
        rows = wh.query_rows(
            f"SELECT `table`, argMax(version, migrated_at) FROM {wh.qualified(STATE)} "
            "WHERE `table` IN (SELECT name FROM system.tables WHERE database = {d:String}) "
            "GROUP BY `table`",
            {"d": wh.database},
        )
    except WarehouseError as exc:
        if "UNKNOWN_TABLE" in str(exc) or "does not exist" in str(exc):
            return {}
        raise
    return {name: int(version) for name, version in rows}


def present_columns(wh: Warehouse) -> dict[str, set[str]]:
    """{table: its columns} for the bookkeeping tables that exist."""
    rows = wh.query_rows(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = {d:String} "
        "AND table IN {t:Array(String)} GROUP BY table",
        {"d": wh.database, "t": list(TABLES)},
    )
    return {name: set(columns) for name, columns in rows}


def ensure(wh: Warehouse) -> list[str]:
    """Bring the bookkeeping tables up to date; returns the DDL it ran (none when they
    were). Once per connection: later calls on the same session cost nothing."""
    with wh.session():
        if STATE in wh.prepared:
            return []
        recorded = recorded_versions(wh)
        stale = [t for t in TABLES.values() if recorded.get(t.name, 0) < t.version]
        ran: list[str] = []
        if stale:
            ddl = Ddl.of(wh)
            ran = migration(ddl, present_columns(wh), stale)
            for sql in ran:
                wh.command(sql)
            wh.command(record_versions_sql(ddl, stale), settings=ddl.insert_settings or None)
        wh.prepared.add(STATE)
    return ran


def current_versions() -> dict[str, int]:
    """{table: version} of the registry."""
    return {t.name: t.version for t in TABLES.values()}


def markdown_table() -> str:
    """The bookkeeping tables as the Markdown table in docs/project.md."""
    lines = ["| table | what it holds |", "|---|---|"]
    lines += [f"| `{t.name}` | {t.holds} |" for t in TABLES.values()]
    return "\n".join(lines)
