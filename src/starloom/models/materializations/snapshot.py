"""Snapshots: the history of a mutable source as SCD type 2 versions, one row per version.

A snapshot is a model in sql/snapshots/ whose header says `materialization: snapshot`,
`unique_key` (one column or a list) and a `strategy`:

- `timestamp` (with `updated_at: <column>`): a row changed when its updated_at is later than
  the current version's; the new version is valid from that updated_at;
- `check` (with `check_cols: [...]`): a row changed when any of those columns differs from
  the current version; the new version is valid from the snapshot time.

The snapshot time is the end of the run day (midnight after `run_date`, UTC): the source
is read as it stands at the end of that day, so re-running a day gives the same versions.

Columns added to the source's: `valid_from`, `valid_to` (NULL while the version is current:
no sentinel date to remember, and `is_current` says it plainly), `is_current`, and the
surrogate key of the version, cityHash64(unique_key..., valid_from), named by the header's
`surrogate_key` (default `snapshot_key`). A key that disappears from the source (a hard
delete) has its current version closed at the snapshot time (`invalidate_hard_deletes`,
default true); if it comes back, it starts a new version.

Storage, and why a run costs what changed: the versions live in `<name>__data`, a
ReplacingMergeTree sorted by (unique_key, valid_from) with a `_version` column (the run's
number). A run never rewrites the table: it compares the source with the current versions
only, and INSERTs (1) a new version for each new or changed key and (2) for each changed or
deleted key, its current version again with valid_to set and is_current false, under a
higher `_version`, which replaces the open row of the same (key, valid_from). The rows a run
writes are the changed rows, whatever the length of the history. Readers use the view
`<name>` = `SELECT ... FROM <name>__data FINAL`, exact whatever the state of merges. The
rows of a run are built in `<name>__new` and tested there before they are inserted.
"""

from __future__ import annotations

import datetime as dt

from starloom.errors import ModelError
from starloom.models import data_tests
from starloom.models.definition import Model
from starloom.models.materializations.shared import (
    ASIDE,
    DATA,
    BuildContext,
    Outcome,
    Render,
    apply_schema_policy,
    column_list,
    create,
    drop,
    final_view,
    query_columns,
    table_engine,
)
from starloom.warehouse import quote_identifier
from starloom.warehouse.ddl import TableSpec

TS = "DateTime64(3, 'UTC')"
VERSION = "_version"


def snapshot_columns(model: Model) -> list[tuple[str, str]]:
    return [
        ("valid_from", TS),
        ("valid_to", f"Nullable({TS})"),
        ("is_current", "Bool"),
        (model.config.surrogate_key, "UInt64"),
        (VERSION, "UInt64"),
    ]


def spec_of(model: Model) -> TableSpec:
    keys = [quote_identifier(k) for k in model.config.unique_key]
    return TableSpec(
        engine="ReplacingMergeTree",
        engine_args=(VERSION,),
        order_by=(*keys, "valid_from"),
        shard_by=model.config.unique_key,
    )


def build(ctx: BuildContext, model: Model, render: Render) -> Outcome:
    """One snapshot run: insert the new and the closing versions of what changed."""
    wh, ddl, config, body = ctx.wh, ctx.ddl, model.config, render(False)
    data, aside, src = model.name + DATA, model.name + ASIDE, model.name + "__source"
    params = ctx.params(model)
    source_columns = query_columns(wh, body, params)
    names = {n for n, _ in source_columns}
    wanted = [*config.unique_key]
    wanted += [config.updated_at] if config.strategy == "timestamp" and config.updated_at else []
    wanted += config.check_cols
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ModelError(
            f"Snapshot {model.name} ({model.path.name}): the SELECT has no column(s) {missing} "
            "named in its header. Select them or fix unique_key / updated_at / check_cols."
        )
    extra = snapshot_columns(model)
    spec = spec_of(model)
    mode = "incremental"
    if table_engine(wh, data) is None:
        create(ctx, data, source_columns + extra, spec)
        mode = "full"
    else:
        _refuse_going_back(ctx, model, data)
        apply_schema_policy(ctx, model, data, source_columns, ignore={n for n, _ in extra})
    final_view(ctx, model.name, data, hidden=[VERSION])
    all_columns = wh.columns(data)
    present = [c for c in all_columns if c[0] in names]
    version = int(wh.scalar(f"SELECT max({VERSION}) FROM {ddl.qualified(data)}") or 0) + 1

    for table in (aside, src):
        drop(ctx, table)
    try:
        create(ctx, src, source_columns, TableSpec(order_by=spec.order_by[:-1]))
        wh.command(
            f"INSERT INTO {ddl.qualified(src)} ({column_list(source_columns)})\n{body}",
            params,
            settings=ddl.insert_settings or None,
        )
        try:
            _refuse_repeated_keys(ctx, model, src)
        except ModelError:
            if mode == "full":  # a first run leaves no table behind
                wh.command(ddl.drop_view(model.name))
                drop(ctx, data)
            raise
        create(ctx, aside, all_columns, spec)
        statements = change_statements(
            model, ddl.qualified(data), ddl.qualified(src), ddl.qualified(aside), present, version
        )
        for sql in statements:
            wh.command(sql, params, settings=ddl.insert_settings or None)
        rows = wh.count(aside)
        tests = data_tests.run_model_tests(
            wh, model, aside, ctx.run_id, shown_as=model.name, params=ctx.params(model)
        )
        wh.command(
            f"INSERT INTO {ddl.qualified(data)} SELECT * FROM {ddl.qualified(aside)}",
            settings=ddl.insert_settings or None,
        )
    finally:
        for table in (aside, src):
            drop(ctx, table)
    return Outcome(tests, mode, rows)


def _refuse_going_back(ctx: BuildContext, model: Model, data: str) -> None:
    """A `check` snapshot's versions open at the end of their run day: a run for a day
    before the latest version would write history before it and leave two current versions
    of a key, so it is refused. (Under `timestamp` a version opens at the row's updated_at,
    which says nothing of the day a run was for.)"""
    if model.config.strategy != "check":
        return
    latest = ctx.wh.scalar(f"SELECT max(valid_from) FROM {ctx.ddl.qualified(data)}")
    last_day = latest.date() - dt.timedelta(days=1)
    if ctx.run_date < last_day:
        raise ModelError(
            f"Snapshot {model.name} ({model.path.name}) already holds versions from its run of "
            f"{last_day}; a run for the earlier day {ctx.run_date} would write history before "
            "them and leave two current versions of a key. Run it for "
            f"{last_day} or later (set run_date in env.yaml, or --run-date). To rebuild its "
            f"history from an earlier day, remove its table {ctx.wh.database}.{model.name}{DATA} "
            "and build it day by day with `starloom backfill --from <first day> --to <last "
            "day>`."
        )


def _refuse_repeated_keys(ctx: BuildContext, model: Model, src: str) -> None:
    """A snapshot reads one row per unique_key: the key's state at the end of the run day.
    A SELECT that returns a key twice (say, every day's extract of a day-partitioned raw
    table) would open a version per row, so it is refused with examples."""
    keys = [quote_identifier(k) for k in model.config.unique_key]
    key_list = ", ".join(keys)
    repeated = ctx.wh.query_rows(  # the aliases cannot be a column's: it would clash
        f"SELECT {key_list}, count() AS _starloom_rows, count() OVER () AS _starloom_keys "
        f"FROM {ctx.ddl.qualified(src)} GROUP BY {key_list} HAVING _starloom_rows > 1 "
        f"ORDER BY _starloom_rows DESC, {key_list} LIMIT 3"
    )
    if not repeated:
        return
    names = model.config.unique_key
    examples = "; ".join(
        ", ".join(f"{k}={v!r}" for k, v in zip(names, row[: len(names)], strict=True))
        + f": {row[len(names)]} rows"
        for row in repeated
    )
    raise ModelError(
        f"Snapshot {model.name} ({model.path.name}): its SELECT returns {repeated[0][-1]} "
        f"value(s) of its unique_key ({', '.join(names)}) more than once ({examples}). A "
        "snapshot takes one row per key, the key as it stands on the run day. Select one: "
        "the run day's extract (`WHERE _partition = {run_date:Date}` on a day-partitioned "
        f"raw table) or the latest row of each key (`ORDER BY ... DESC LIMIT 1 BY "
        f"{', '.join(names)}`). Nothing was written."
    )


def change_statements(
    model: Model, data: str, src: str, aside: str, columns, version: int
) -> list[str]:
    """The INSERTs of one run: new versions, closed changed versions, closed deleted keys.

    `data`, `src` and `aside` are qualified names: the history, the source as read now, and
    the table collecting this run's rows. The statements use the query parameter run_date.
    """
    config = model.config
    keys = [quote_identifier(k) for k in config.unique_key]

    def match(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in keys)

    def key_of(alias: str) -> str:
        return "(" + ", ".join(f"{alias}.{k}" for k in keys) + ")"

    key_list = ", ".join(keys)
    sk = quote_identifier(config.surrogate_key)
    cols = column_list(columns)
    s_cols = ", ".join(f"s.{quote_identifier(n)}" for n, _ in columns)
    c_cols = ", ".join(f"c.{quote_identifier(n)}" for n, _ in columns)
    snap_at = "toDateTime64({run_date:Date} + 1, 3, 'UTC')"
    if config.strategy == "timestamp":
        upd = quote_identifier(str(config.updated_at))
        new_from = f"CAST(s.{upd} AS {TS})"
        changed = f"s.{upd} > c.{upd}"
    else:
        checked = [quote_identifier(c) for c in config.check_cols]
        new_from = snap_at
        changed = (
            f"cityHash64(tuple({', '.join(f's.{c}' for c in checked)})) != "
            f"cityHash64(tuple({', '.join(f'c.{c}' for c in checked)}))"
        )
    current = f"SELECT * FROM {data} FINAL WHERE is_current"
    changed_keys = (
        f"SELECT {', '.join(f's.{k}' for k in keys)}, {new_from} AS new_from "
        f"FROM {src} AS s INNER JOIN current AS c ON {match('s', 'c')} WHERE {changed}"
    )
    target = f"INSERT INTO {aside} ({cols}, valid_from, valid_to, is_current, {sk}, _version)"
    statements = [
        # new keys and changed keys: a new, open version from the source row
        f"{target}\nWITH current AS ({current}), changed AS ({changed_keys})\n"
        f"SELECT {s_cols}, {new_from} AS vf, NULL, true, "
        f"cityHash64({', '.join(f's.{k}' for k in keys)}, vf), {version}\nFROM {src} AS s\n"
        f"WHERE {key_of('s')} NOT IN (SELECT {key_list} FROM current) "
        f"OR {key_of('s')} IN (SELECT {key_list} FROM changed)",
        # changed keys: their current version closed where the new one begins
        f"{target}\nWITH current AS ({current}), changed AS ({changed_keys})\n"
        f"SELECT {c_cols}, c.valid_from, ch.new_from, false, c.{sk}, {version}\n"
        f"FROM current AS c INNER JOIN changed AS ch ON {match('c', 'ch')}\n"
        "WHERE ch.new_from > c.valid_from",
    ]
    if config.invalidate_hard_deletes:
        statements.append(
            # keys gone from the source: their current version closed at the snapshot time
            f"{target}\nWITH current AS ({current})\n"
            f"SELECT {c_cols}, c.valid_from, greatest({snap_at}, c.valid_from), false, c.{sk}, "
            f"{version}\nFROM current AS c\n"
            f"WHERE {key_of('c')} NOT IN (SELECT {key_list} FROM {src})"
        )
    return statements
