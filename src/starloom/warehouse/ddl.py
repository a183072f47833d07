"""The DDL the model runner sends, for one server or a cluster, as SQL strings (no engine).

Every statement that creates, swaps, alters or drops a model's table is written here, so the
runner works the same on embedded ClickHouse and on a cluster:

- without a cluster, a model `x` is one table `x` with the engine its header names;
- with a cluster (`warehouse.cluster` in env.yaml or STARLOOM_CLUSTER), `x__local` holds the
  rows on every node (`ON CLUSTER`, engine `Replicated<engine>` with the replica path
  `/clickhouse/tables/{uuid}/{shard}`), and `x` is a `Distributed` table over it, sharded by
  the model's unique key (so the rows of one key meet on one shard, as ReplacingMergeTree
  needs) or at random. Swaps exchange the local tables: the Distributed table of a name
  always points at that name's local table, so it shows the new rows at once.

Readers and `INSERT`s use the plain name `x` either way; `insert_settings` holds what a
cluster needs for an insert through a Distributed table to be complete when it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from starloom.warehouse import quote_identifier

REPLICA_PATH = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'"
LOCAL_SUFFIX = "__local"


@dataclass(frozen=True)
class TableSpec:
    """Physical layout of a model's table: engine, its arguments, sorting and partition keys.

    `engine_args` are column names (a ReplacingMergeTree's version column); `order_by` and
    `partition_by` are SQL expressions from the model's header, written by the project.
    """

    engine: str = "MergeTree"
    engine_args: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    partition_by: str | None = None
    shard_by: tuple[str, ...] = ()


class Ddl:
    """Statements for one database, on one server (`cluster=""`) or ON CLUSTER."""

    def __init__(self, database: str, cluster: str = ""):
        self.database = database
        self.cluster = cluster

    # -- names -----------------------------------------------------------------------------
    def qualified(self, table: str) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(table)}"

    def local(self, table: str) -> str:
        """The name of the table that holds the rows (the table itself without a cluster)."""
        return table + LOCAL_SUFFIX if self.cluster else table

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {quote_identifier(self.cluster)}" if self.cluster else ""

    @property
    def insert_settings(self) -> dict:
        return {"distributed_foreground_insert": 1} if self.cluster else {}

    # -- tables ----------------------------------------------------------------------------
    def engine(self, spec: TableSpec) -> str:
        args = [quote_identifier(a) for a in spec.engine_args]
        if self.cluster:
            name = (
                spec.engine if spec.engine.startswith("Replicated") else "Replicated" + spec.engine
            )
            return f"{name}({', '.join([REPLICA_PATH, *args])})"
        return f"{spec.engine}({', '.join(args)})" if args else spec.engine

    def create_table(
        self, table: str, columns: list[tuple[str, str]], spec: TableSpec
    ) -> list[str]:
        """CREATE TABLE statements (the local table, then the Distributed one on a cluster)."""
        cols = ",\n    ".join(f"{quote_identifier(n)} {t}" for n, t in columns)
        parts = [
            f"CREATE TABLE {self.qualified(self.local(table))}{self.on_cluster} (\n    {cols}\n)",
            f"ENGINE = {self.engine(spec)}",
        ]
        if spec.partition_by:
            parts.append(f"PARTITION BY {spec.partition_by}")
        parts.append(f"ORDER BY ({', '.join(spec.order_by) or 'tuple()'})")
        out = ["\n".join(parts)]
        if self.cluster:
            out.append(self._distributed(table, spec))
        return out

    def _distributed(self, table: str, spec: TableSpec) -> str:
        key = (
            f"cityHash64({', '.join(quote_identifier(c) for c in spec.shard_by)})"
            if spec.shard_by
            else "rand()"
        )
        return (
            f"CREATE TABLE {self.qualified(table)}{self.on_cluster} "
            f"AS {self.qualified(self.local(table))} ENGINE = Distributed("
            f"{_literal(self.cluster)}, {_literal(self.database)}, "
            f"{_literal(self.local(table))}, {key})"
        )

    def drop_table(self, table: str) -> list[str]:
        out = [f"DROP TABLE IF EXISTS {self.qualified(table)}{self.on_cluster} SYNC"]
        if self.cluster:
            out.append(
                f"DROP TABLE IF EXISTS {self.qualified(self.local(table))}{self.on_cluster} SYNC"
            )
        return out

    def exchange(self, a: str, b: str) -> list[str]:
        """Swap the rows of two tables atomically (their local tables on a cluster)."""
        return [
            f"EXCHANGE TABLES {self.qualified(self.local(a))} AND "
            f"{self.qualified(self.local(b))}{self.on_cluster}"
        ]

    def rename(self, old: str, new: str, spec: TableSpec) -> list[str]:
        """Give a built table its final name (when no table of that name exists yet)."""
        out = [
            f"RENAME TABLE {self.qualified(self.local(old))} TO "
            f"{self.qualified(self.local(new))}{self.on_cluster}"
        ]
        if self.cluster:
            out += [
                f"DROP TABLE IF EXISTS {self.qualified(old)}{self.on_cluster} SYNC",
                self._distributed(new, spec),
            ]
        return out

    def replace_partition(self, target: str, partition_id: str, source: str) -> str:
        """Replace one partition of `target` by the same partition of `source`, atomically."""
        return (
            f"ALTER TABLE {self.qualified(self.local(target))}{self.on_cluster} "
            f"REPLACE PARTITION ID {_literal(partition_id)} "
            f"FROM {self.qualified(self.local(source))}"
        )

    def attach_partition(self, target: str, partition_id: str, source: str) -> str:
        """Add the parts of one partition of `source` to `target` (hard links, no rewrite)."""
        return (
            f"ALTER TABLE {self.qualified(self.local(target))}{self.on_cluster} "
            f"ATTACH PARTITION ID {_literal(partition_id)} "
            f"FROM {self.qualified(self.local(source))}"
        )

    def alter_columns(self, table: str, actions: list[str]) -> list[str]:
        """ALTER TABLE with column actions (ADD/DROP/MODIFY COLUMN), on both tables of a cluster."""
        if not actions:
            return []
        body = ", ".join(actions)
        names = [self.local(table), table] if self.cluster else [table]
        return [f"ALTER TABLE {self.qualified(n)}{self.on_cluster} {body}" for n in names]

    # -- views -----------------------------------------------------------------------------
    def create_view(self, view: str, select: str) -> str:
        return f"CREATE OR REPLACE VIEW {self.qualified(view)}{self.on_cluster} AS\n{select}"

    def drop_view(self, view: str) -> str:
        return f"DROP VIEW IF EXISTS {self.qualified(view)}{self.on_cluster} SYNC"


def add_column(name: str, type_: str, after: str | None = None) -> str:
    where = f" AFTER {quote_identifier(after)}" if after else ""
    return f"ADD COLUMN {quote_identifier(name)} {type_}{where}"


def drop_column(name: str) -> str:
    return f"DROP COLUMN {quote_identifier(name)}"


def modify_column(name: str, type_: str) -> str:
    return f"MODIFY COLUMN {quote_identifier(name)} {type_}"


def _literal(value: str) -> str:
    """A ClickHouse string literal (for names and ids that the engine wants as strings)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
