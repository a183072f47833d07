"""`incremental`: the first build, and every build with `full_refresh=True` (or after a move
of partitions was cut off), builds like a table. Later builds render the SQL with
`is_incremental()` true, build only the new rows into `<name>__new`, test them there, and
then, by `incremental_strategy`:

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

from starloom.models.definition import Model
from starloom.models.materializations.shared import (
    ASIDE,
    MOVING,
    BuildContext,
    Outcome,
    Render,
    apply_schema_policy,
    build_aside_and_swap,
    build_tested,
    final_view,
    query_columns,
    spec_of,
    storage_of,
    table_engine,
)


def needs_full_build(ctx: BuildContext, model: Model) -> bool:
    """A first build, a full refresh, or a table whose last move of partitions was cut off."""
    storage = storage_of(model)
    return (
        ctx.full_refresh
        or table_engine(ctx.wh, storage) in (None, "View")
        or ctx.wh.table_exists(storage + MOVING)
    )


def move_partitions(ctx: BuildContext, aside: str, target: str, strategy: str) -> None:
    """Land the rows of `aside` in `target` by moving parts, not rows: REPLACE PARTITION swaps
    a partition whole, ATTACH PARTITION ... FROM adds the new parts beside the old ones."""
    statement = (
        ctx.ddl.replace_partitions
        if strategy == "replace_partitions"
        else ctx.ddl.attach_partitions
    )
    ids = ctx.wh.query_rows(
        f"SELECT DISTINCT _partition_id FROM {ctx.ddl.qualified(aside)} ORDER BY 1"
    )
    # The engine does not move several partitions atomically, and a kill inside one REPLACE
    # can leave its old and new parts both visible. While the marker table exists, a reader
    # can tell the table is mid-move, and the next build rebuilds it whole.
    for sql in ctx.ddl.create_marker(target + MOVING):
        ctx.wh.command(sql)
    if ids:  # one statement for all: a statement costs ~10 ms on the embedded engine
        ctx.wh.command(statement(target, [i for (i,) in ids], aside))
    for sql in ctx.ddl.drop_marker(target + MOVING):
        ctx.wh.command(sql)


def build(ctx: BuildContext, model: Model, render: Render) -> Outcome:
    """Build the new rows aside, test them, then append / replace partitions / upsert."""
    strategy = model.config.incremental_strategy
    upsert = strategy == "upsert"
    target, spec = storage_of(model), spec_of(model, upsert=upsert)
    if needs_full_build(ctx, model):
        outcome = build_aside_and_swap(ctx, model, target, render(False), spec)
        if upsert:
            final_view(ctx, model.name, target)
        for sql in ctx.ddl.drop_marker(target + MOVING):
            ctx.wh.command(sql)
        return outcome

    body = render(True)
    new_columns = query_columns(ctx.wh, body, ctx.params(model))
    columns = ctx.wh.columns(target)
    if apply_schema_policy(ctx, model, target, new_columns, columns=columns):
        columns = ctx.wh.columns(target)  # altered
        if upsert:
            final_view(ctx, model.name, target)
    tests, rows = build_tested(
        ctx,
        model,
        model.name + ASIDE,
        body,
        new_columns,
        spec,
        lambda aside: move_partitions(ctx, aside, target, strategy),
        columns=columns,
    )
    return Outcome(tests, "incremental", rows)
