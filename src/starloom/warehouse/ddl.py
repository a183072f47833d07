"""The DDL starloom sends, for one server or a cluster, as SQL strings (no engine).

Every statement that creates, swaps, alters or drops a table is written here: models, raw
tables, the tables a load or a build fills aside, the marker tables of a move in progress,
and the bookkeeping tables (starloom.warehouse.state). So everything works the same on
embedded ClickHouse and on a cluster:

- without a cluster, a table `x` is one table `x` with the engine it asks for;
- with a cluster (`warehouse.cluster` in env.yaml or STARLOOM_CLUSTER), `x__local` holds the
  rows on every node (`ON CLUSTER`, engine `Replicated<engine>` with the replica path
  `/clickhouse/tables/{uuid}/{shard}`), and `x` is a `Distributed` table over it, sharded by
  the table's unique key (so the rows of one key meet on one shard, as ReplacingMergeTree
  needs) or at random. Swaps exchange the local tables: the Distributed table of a name
  always points at that name's local table, so it shows the new rows at once.

Readers and `INSERT`s use the plain name `x` either way; `insert_settings` holds what a
cluster needs for an insert through a Distributed table to be complete when it returns.
Statements that change rows in place (a mutation's `ALTER TABLE ... DELETE`, a lightweight
`DELETE FROM`) go to the local tables, ON CLUSTER. A marker table (`create_marker`) is one
table of its own name on every node: its existence is all it says.
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

    @classmethod
    def of(cls, wh) -> Ddl:
        """The statements for a Warehouse: its database, and its settings' cluster."""
        return cls(wh.database, wh.settings.cluster)

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

    def _storage(self, spec: TableSpec) -> list[str]:
        parts = [f"ENGINE = {self.engine(spec)}"]
        if spec.partition_by:
            parts.append(f"PARTITION BY {spec.partition_by}")
        parts.append(f"ORDER BY ({', '.join(spec.order_by) or 'tuple()'})")
        return parts

    def create_table(
        self,
        table: str,
        columns: list[tuple[str, str]],
        spec: TableSpec,
        if_not_exists: bool = False,
    ) -> list[str]:
        """CREATE TABLE statements (the local table, then the Distributed one on a cluster).

        A column's type may carry its default (`String DEFAULT ''`)."""
        cols = ",\n    ".join(f"{quote_identifier(n)} {t}" for n, t in columns)
        create = "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE TABLE"
        parts = [
            f"{create} {self.qualified(self.local(table))}{self.on_cluster} (\n    {cols}\n)",
            *self._storage(spec),
        ]
        out = ["\n".join(parts)]
        if self.cluster:
            out.append(self._distributed(table, spec, if_not_exists))
        return out

    def create_like(self, table: str, existing: str, spec: TableSpec) -> list[str]:
        """An empty table with the columns of `existing` (on a cluster with the engine of
        `spec`: a replicated table needs a replica path of its own)."""
        if not self.cluster:
            return [f"CREATE TABLE {self.qualified(table)} AS {self.qualified(existing)}"]
        storage = " ".join(self._storage(spec))
        return [
            f"CREATE TABLE {self.qualified(self.local(table))}{self.on_cluster} "
            f"AS {self.qualified(self.local(existing))} {storage}",
            self._distributed(table, spec),
        ]

    def create_marker(self, table: str) -> list[str]:
        """A table whose existence marks work in progress (one table of this name, on every
        node of a cluster)."""
        cols = f"{quote_identifier('started')} DateTime"
        if not self.cluster:
            return [f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} ({cols}) ENGINE = TinyLog"]
        return [
            f"CREATE TABLE IF NOT EXISTS {self.qualified(table)}{self.on_cluster} ({cols}) "
            + " ".join(self._storage(TableSpec()))
        ]

    def drop_marker(self, table: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.qualified(table)}{self.on_cluster} SYNC"]

    def _distributed(self, table: str, spec: TableSpec, if_not_exists: bool = False) -> str:
        key = (
            f"cityHash64({', '.join(quote_identifier(c) for c in spec.shard_by)})"
            if spec.shard_by
            else "rand()"
        )
        create = "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE TABLE"
        return (
            f"{create} {self.qualified(table)}{self.on_cluster} "
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

    def replace_partitions(self, target: str, partition_ids: list[str], source: str) -> str:
        """Replace partitions of `target` by the same partitions of `source`, in one ALTER
        (each partition atomically, not all of them together)."""
        return self._partitions(target, "REPLACE", partition_ids, source)

    def attach_partitions(self, target: str, partition_ids: list[str], source: str) -> str:
        """Add the parts of partitions of `source` to `target` (hard links, no rewrite), in
        one ALTER."""
        return self._partitions(target, "ATTACH", partition_ids, source)

    def _partitions(self, target: str, verb: str, partition_ids: list[str], source: str) -> str:
        if not partition_ids:
            raise ValueError("no partition to move")
        origin = self.qualified(self.local(source))
        moves = ", ".join(f"{verb} PARTITION ID {_literal(p)} FROM {origin}" for p in partition_ids)
        return f"ALTER TABLE {self.qualified(self.local(target))}{self.on_cluster} {moves}"

    def drop_partition(self, target: str, partition_id: str) -> str:
        """Drop one partition of `target`."""
        return (
            f"ALTER TABLE {self.qualified(self.local(target))}{self.on_cluster} "
            f"DROP PARTITION ID {_literal(partition_id)}"
        )

    def delete_rows(self, table: str, where: str) -> str:
        """A mutation deleting the rows of `table` where `where` holds (run it with the
        setting mutations_sync to wait for it); `where` may hold query parameters."""
        return (
            f"ALTER TABLE {self.qualified(self.local(table))}{self.on_cluster} DELETE WHERE {where}"
        )

    def lightweight_delete(self, table: str, where: str) -> str:
        """DELETE FROM: the rows are hidden at once and removed by later merges."""
        return f"DELETE FROM {self.qualified(self.local(table))}{self.on_cluster} WHERE {where}"

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


def add_column(
    name: str,
    type_: str,
    after: str | None = None,
    *,
    first: bool = False,
    if_not_exists: bool = False,
) -> str:
    """ADD COLUMN (its type may carry a DEFAULT), placed AFTER a column, FIRST, or last."""
    where = f" AFTER {quote_identifier(after)}" if after else (" FIRST" if first else "")
    exists = " IF NOT EXISTS" if if_not_exists else ""
    return f"ADD COLUMN{exists} {quote_identifier(name)} {type_}{where}"


def drop_column(name: str) -> str:
    return f"DROP COLUMN {quote_identifier(name)}"


def modify_column(name: str, type_: str) -> str:
    return f"MODIFY COLUMN {quote_identifier(name)} {type_}"


def _literal(value: str) -> str:
    """A ClickHouse string literal (for names and ids that the engine wants as strings)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
