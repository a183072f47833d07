"""What the materializations share: the build context and outcome, the columns of a query
and of a table, a build aside tested before it lands, the swap, the FINAL view over a
ReplacingMergeTree, and `on_schema_change`.

Tables are built aside (`<name>__new`), tested there, then landed; whatever fails, the
table aside is dropped and the model's table is left as it was. The runner drops what a
killed build left aside (`ASIDE`) and rebuilds whole a table whose move of partitions was
cut off (`MOVING`, see starloom.models.materializations.incremental).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from starloom.errors import ModelError, WarehouseError
from starloom.models import data_tests
from starloom.models.definition import Model
from starloom.warehouse import Warehouse, quote_identifier
from starloom.warehouse.ddl import Ddl, TableSpec, add_column, drop_column, modify_column

ASIDE = "__new"
MOVING = "__moving"  # exists while partitions move into a table (incremental.move_partitions)
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


# The model's SELECT rendered, with `is_incremental()` true or false as asked.
Render = Callable[[bool], str]


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
    ctx: BuildContext,
    model: Model,
    table: str,
    new: list[tuple[str, str]],
    ignore=(),
    columns: list[tuple[str, str]] | None = None,
) -> bool:
    """Bring `table` in line with the new columns as `on_schema_change` says; True if altered.

    `ignore` names columns of the table that the SELECT does not produce (a snapshot's own);
    `columns` are the table's, when the caller has read them.
    """
    columns = ctx.wh.columns(table) if columns is None else columns
    old = [(n, t) for n, t in columns if n not in ignore]
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
        tests = data_tests.run_model_tests(
            ctx.wh, model, aside, ctx.run_id, shown_as=model.name, params=ctx.params(model)
        )
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
