"""Materializations: how a model's rendered SELECT becomes a view or a table.

- `view`: CREATE OR REPLACE VIEW.
- `table`: the rows are built into `<name>__new`, tested there, then swapped in with EXCHANGE
  TABLES. If the build or a test fails, `<name>__new` is dropped and `<name>` is untouched.
- `incremental`: the first run, and every run with `full_refresh=True`, builds like a table.
  Later runs render the SQL with `is_incremental()` true, build only the new rows into
  `<name>__new`, test them there, and then, by `incremental_strategy`:
  - `append`: add them to the table (ATTACH PARTITION ... FROM: their parts are linked in,
    not copied);
  - `replace_partitions`: ALTER TABLE ... REPLACE PARTITION for each partition they fall in, so
    a day rebuilt from a lookback window replaces that day whole (late rows land, nothing
    is counted twice, and partitions outside the window are not touched);
  - `upsert`: the rows live in `<name>__data`, a ReplacingMergeTree sorted by `unique_key`
    with `version` as its version column, and `<name>` is a view `SELECT ... FINAL` over it;
    the new rows' parts are attached to it as for `append`.
    FINAL is chosen over argMax-style reads because it is exact whatever the state of the
    background merges, keeps every column readable as it is, and costs readers nothing to
    write; with the partition key fixed per key it merges partitions independently.
  Tests of an incremental model check the rows of the run (`<name>__new`), before they land.
  When the new rows' columns differ from the table's, `on_schema_change` decides: `fail`
  (the default: an error listing the differences), `append_new_columns` (ALTER TABLE ADD
  COLUMN, older rows get the type's default) or `sync_all_columns` (also drop removed
  columns and change types).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starloom.errors import ModelError, WarehouseError
from starloom.models import data_tests
from starloom.warehouse import Warehouse, quote_identifier
from starloom.warehouse.ddl import Ddl, TableSpec, add_column, drop_column, modify_column

if TYPE_CHECKING:
    from starloom.models import Model

ASIDE = "__new"
MOVING = "__moving"  # exists while partitions move into a table (see move_partitions)
DATA = "__data"


@dataclass
class BuildContext:
    """What every materialization needs: the warehouse, its DDL, the run and its parameters."""

    wh: Warehouse
    ddl: Ddl
    run_id: str
    run_date: dt.date
    full_refresh: bool = False

    def params(self, model: Model) -> dict:
        """Query parameters bound to every statement of the model."""
        return {
            "run_date": self.run_date,
            "lookback_start": self.run_date - dt.timedelta(days=model.config.lookback_days),
        }


@dataclass
class Outcome:
    """What a materialization did: test rows, mode (full or incremental), rows it wrote."""

    tests: list
    mode: str
    rows_written: int


# -- columns ---------------------------------------------------------------------------------
def query_columns(wh: Warehouse, body: str, params: dict) -> list[tuple[str, str]]:
    """(name, type) of the columns a SELECT returns, without running it."""
    rows = wh.query_rows(f"DESCRIBE (SELECT * FROM (\n{body}\n))", params)
    prefixed = [r[0] for r in rows if "." in r[0]]
    if prefixed:
        raise ModelError(
            f"The SELECT names column(s) {prefixed} with a table alias in front, which would "
            "become part of the column name. Name each of them with AS (for example "
            "`c.customer_id AS customer_id`)."
        )
    return [(r[0], r[1]) for r in rows]


def table_columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    rows = wh.query_rows(
        "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String} "
        "ORDER BY position",
        {"d": wh.database, "t": table},
    )
    return [(r[0], r[1]) for r in rows]


def table_engine(wh: Warehouse, table: str) -> str | None:
    return wh.scalar(
        "SELECT engine FROM system.tables WHERE database = {d:String} AND name = {n:String}",
        {"d": wh.database, "n": table},
    )


def column_list(columns: list[tuple[str, str]]) -> str:
    return ", ".join(quote_identifier(n) for n, _ in columns)


def schema_changes(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> dict[str, list]:
    """Columns added, removed and retyped from `old` to `new`."""
    before, after = dict(old), dict(new)
    return {
        "added": [(n, t) for n, t in new if n not in before],
        "removed": [n for n, _ in old if n not in after],
        "retyped": [(n, before[n], t) for n, t in new if n in before and before[n] != t],
    }


def describe_changes(changes: dict[str, list]) -> str:
    parts = []
    if changes["added"]:
        parts.append("new columns " + ", ".join(f"{n} {t}" for n, t in changes["added"]))
    if changes["removed"]:
        parts.append("columns no longer selected " + ", ".join(changes["removed"]))
    if changes["retyped"]:
        parts.append(
            "changed types " + ", ".join(f"{n} {a} -> {b}" for n, a, b in changes["retyped"])
        )
    return "; ".join(parts)


def apply_schema_policy(
    ctx: BuildContext, model: Model, table: str, new: list[tuple[str, str]], ignore=()
) -> bool:
    """Bring `table` in line with the new columns as `on_schema_change` says; True if altered.

    `ignore` names columns of the table that the SELECT does not produce (a snapshot's own).
    """
    old = [(n, t) for n, t in table_columns(ctx.wh, table) if n not in ignore]
    changes = schema_changes(old, new)
    if not any(changes.values()):
        return False
    policy = model.config.on_schema_change
    if policy == "fail" or (policy == "append_new_columns" and changes["retyped"]):
        raise ModelError(
            f"Model {model.name} ({model.path.name}) selects other columns than its table "
            f"{table} holds: {describe_changes(changes)}. The table was kept as it was. Set "
            "`on_schema_change: append_new_columns` or `sync_all_columns` in the model's "
            "header, or rebuild it with models.build(..., full_refresh=True)."
        )
    actions = [add_column(n, t) for n, t in changes["added"]]
    if policy == "sync_all_columns":
        actions += [drop_column(n) for n in changes["removed"]]
        actions += [modify_column(n, t) for n, _, t in changes["retyped"]]
    try:
        for sql in ctx.ddl.alter_columns(table, actions):
            ctx.wh.command(sql)
    except WarehouseError as exc:
        raise ModelError(
            f"Model {model.name}: could not change the columns of {table} "
            f"({describe_changes(changes)}): {exc}. Columns of the sorting or partition key "
            "cannot be dropped or retyped: rebuild with models.build(..., full_refresh=True)."
        ) from None
    return True


# -- building blocks -------------------------------------------------------------------------
def drop(ctx: BuildContext, table: str) -> None:
    for sql in ctx.ddl.drop_table(table):
        ctx.wh.command(sql)


def create(ctx: BuildContext, table: str, columns, spec: TableSpec) -> None:
    for sql in ctx.ddl.create_table(table, columns, spec):
        ctx.wh.command(sql)


def swap_in(ctx: BuildContext, aside: str, target: str, spec: TableSpec) -> None:
    """Put the table `aside` in the place of `target` (a table, a view, or nothing)."""
    kind = table_engine(ctx.wh, target)
    if kind == "View":
        ctx.wh.command(ctx.ddl.drop_view(target))
        kind = None
    statements = ctx.ddl.exchange(aside, target) if kind else ctx.ddl.rename(aside, target, spec)
    for sql in statements:
        ctx.wh.command(sql)


def spec_of(model: Model, upsert: bool = False) -> TableSpec:
    """The table of a `table` or `incremental` model; an upsert's is a ReplacingMergeTree
    sorted by `unique_key` with `version` as its version column."""
    config = model.config
    keys = config.unique_key
    if upsert:
        return TableSpec(
            engine="ReplacingMergeTree",
            engine_args=(config.version,),
            order_by=tuple(quote_identifier(k) for k in keys),
            partition_by=config.partition_by,
            shard_by=keys,
        )
    return TableSpec(
        engine=config.engine,
        order_by=config.order_by,
        partition_by=config.partition_by,
        shard_by=keys,
    )


def build_tested(
    ctx: BuildContext,
    model: Model,
    aside: str,
    body: str,
    selected: list[tuple[str, str]],
    spec: TableSpec,
    land: Callable[[str], None],
    columns: list[tuple[str, str]] | None = None,
) -> tuple[list, int]:
    """Build the rows of `body` (its columns: `selected`) into the table `aside`, run the
    model's tests on them, then `land(aside)`. `aside` is dropped in every case, so a failed
    build or test changes nothing else. `columns` are the table's (default: `selected`).
    Returns the test rows and the number of rows built."""
    params = ctx.params(model)
    drop(ctx, aside)
    try:
        create(ctx, aside, columns or selected, spec)
        ctx.wh.command(
            f"INSERT INTO {ctx.ddl.qualified(aside)} ({column_list(selected)})\n{body}",
            params,
            settings={**ctx.ddl.insert_settings, **model.config.settings} or None,
        )
        rows = ctx.wh.count(aside)
        tests = data_tests.run_model_tests(ctx.wh, model, aside, ctx.run_id, shown_as=model.name)
        land(aside)
    finally:
        drop(ctx, aside)
    return tests, rows


def build_aside_and_swap(
    ctx: BuildContext, model: Model, target: str, body: str, spec: TableSpec
) -> Outcome:
    """Build `body` into `<target>__new`, test it, swap it in; on failure drop it, keep target."""
    columns = query_columns(ctx.wh, body, ctx.params(model))
    tests, rows = build_tested(
        ctx,
        model,
        target + ASIDE,
        body,
        columns,
        spec,
        lambda aside: swap_in(ctx, aside, target, spec),
    )
    return Outcome(tests, "full", rows)


def move_partitions(ctx: BuildContext, aside: str, target: str, strategy: str) -> None:
    """Land the rows of `aside` in `target` by moving parts, not rows: REPLACE PARTITION swaps
    a partition whole, ATTACH PARTITION ... FROM adds the new parts beside the old ones."""
    statement = (
        ctx.ddl.replace_partition if strategy == "replace_partitions" else ctx.ddl.attach_partition
    )
    ids = ctx.wh.query_rows(
        f"SELECT DISTINCT _partition_id FROM {ctx.ddl.qualified(aside)} ORDER BY 1"
    )
    # The engine does not move several partitions atomically, and a kill inside one REPLACE
    # can leave its old and new parts both visible. While the marker table exists, a reader
    # can tell the table is mid-move, and the next build rebuilds it whole.
    marker = ctx.ddl.qualified(target + MOVING)
    ctx.wh.command(f"CREATE TABLE IF NOT EXISTS {marker} (started DateTime) ENGINE = TinyLog")
    for (partition_id,) in ids:
        ctx.wh.command(statement(target, partition_id, aside))
    ctx.wh.command(f"DROP TABLE IF EXISTS {marker}")


# -- materializations ------------------------------------------------------------------------
def view(ctx: BuildContext, model: Model, body: str) -> Outcome:
    if table_engine(ctx.wh, model.name) not in (None, "View"):
        drop(ctx, model.name)
    ctx.wh.command(ctx.ddl.create_view(model.name, body), ctx.params(model))
    tests = data_tests.run_model_tests(ctx.wh, model, model.name, ctx.run_id)
    return Outcome(tests, "full", 0)


def table(ctx: BuildContext, model: Model, body: str) -> Outcome:
    return build_aside_and_swap(ctx, model, model.name, body, spec_of(model))


def storage_of(model: Model) -> str:
    """The table holding a model's rows: `<name>__data` for an upsert, else `<name>`."""
    return model.name + DATA if model.config.incremental_strategy == "upsert" else model.name


def final_view(ctx: BuildContext, name: str, storage: str, hidden=()) -> None:
    """The view readers use over a ReplacingMergeTree: its rows deduplicated with FINAL."""
    if table_engine(ctx.wh, name) not in (None, "View"):
        drop(ctx, name)
    except_ = f" EXCEPT ({column_list([(h, '') for h in hidden])})" if hidden else ""
    ctx.wh.command(
        ctx.ddl.create_view(name, f"SELECT *{except_} FROM {ctx.ddl.qualified(storage)} FINAL")
    )


def needs_full_build(ctx: BuildContext, model: Model) -> bool:
    """A first build, a full refresh, or a table whose last move of partitions was cut off."""
    storage = storage_of(model)
    return (
        ctx.full_refresh
        or table_engine(ctx.wh, storage) in (None, "View")
        or ctx.wh.table_exists(storage + MOVING)
    )


def incremental(ctx: BuildContext, model: Model, body: str) -> Outcome:
    """Build the new rows aside, test them, then append / replace partitions / upsert."""
    strategy = model.config.incremental_strategy
    upsert = strategy == "upsert"
    target, spec = storage_of(model), spec_of(model, upsert=upsert)
    if needs_full_build(ctx, model):
        outcome = build_aside_and_swap(ctx, model, target, body, spec)
        if upsert:
            final_view(ctx, model.name, target)
        ctx.wh.command(f"DROP TABLE IF EXISTS {ctx.ddl.qualified(target + MOVING)}")
        return outcome

    new_columns = query_columns(ctx.wh, body, ctx.params(model))
    if apply_schema_policy(ctx, model, target, new_columns) and upsert:
        final_view(ctx, model.name, target)
    tests, rows = build_tested(
        ctx,
        model,
        model.name + ASIDE,
        body,
        new_columns,
        spec,
        lambda aside: move_partitions(ctx, aside, target, strategy),
        columns=table_columns(ctx.wh, target),
    )
    return Outcome(tests, "incremental", rows)
