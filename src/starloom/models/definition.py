"""SQL models: files under sql/ with a YAML header, built in dependency order.

A model is `sql/<layer>/<name>.sql`. Its header is a block comment holding YAML:

    /* ---
    description: One row per customer.
    grain: customer_id
    materialization: table        # view | table | incremental | snapshot
    order_by: [customer_id]
    columns:
      customer_id: {description: ..., tests: [unique, not_null]}
    --- */
    SELECT ... FROM {{ ref('stg_shop__customers') }}

Inputs are named through `ref('model')` and `source('source', 'table')`, never by database.
Values come as ClickHouse query parameters bound by the runner: `{run_date:Date}` and
`{lookback_start:Date}` (run_date minus the header's `lookback_days`). In the SQL,
`is_incremental()` is true when an incremental model adds to an existing table, and
`this` names that table.

Header keys by materialization (see starloom.models.materialize and starloom.models.snapshots):
- table: engine, order_by, partition_by;
- incremental: those, plus incremental_strategy (append | replace_partitions | upsert),
  unique_key and version (upsert), lookback_days, on_schema_change (fail |
  append_new_columns | sync_all_columns);
- snapshot: unique_key, strategy (timestamp with updated_at | check with check_cols),
  surrogate_key, invalidate_hard_deletes, on_schema_change.
`settings` (table and incremental) maps ClickHouse settings to values for the statement
that builds the rows, e.g. `{join_algorithm: full_sorting_merge}` to join in bounded memory.
A table is built aside (`<name>__new`), tested, then swapped in with EXCHANGE TABLES, so a
failed build or test leaves the previous table as it was. A table or incremental model
whose SQL, header and input tables did not change since its last build is skipped, with
its tests (starloom.models.build_state); `full_refresh` rebuilds it.
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2

from starloom.errors import ConfigError, ModelError
from starloom.ingestion.sources import raw_table
from starloom.keys import MODEL_COLUMN, check_keys
from starloom.models import checks, materialize, snapshots
from starloom.settings import parse_yaml

_HEADER = re.compile(r"^\s*/\*\s*---\s*\n(.*?)\n\s*---\s*\*/", re.S)
MATERIALIZATIONS = ("view", "table", "incremental", "snapshot")


@dataclass
class Model:
    name: str
    path: Path
    layer: str
    sql: str
    meta: dict
    refs: set[str] = field(default_factory=set)
    sources: set[tuple[str, str]] = field(default_factory=set)

    @property
    def materialization(self) -> str:
        return self.meta.get("materialization", "view")

    @property
    def columns(self) -> dict:
        return self.meta.get("columns") or {}

    @property
    def settings(self) -> dict:
        """ClickHouse settings for the statements that build the model (e.g. join_algorithm)."""
        return self.meta.get("settings") or {}

    @cached_property
    def tables_read(self) -> set[str]:
        """Every table the model and its tests read (raw tables as raw_<source>__<table>):
        its refs and sources, relationships' `to`, and the refs and sources of SQL tests."""
        names = set(self.refs) | {raw_table(s, t) for s, t in self.sources}
        declared = [t for spec in self.columns.values() for t in (spec or {}).get("tests") or []]
        for test in declared + list(self.meta.get("tests") or []):
            kind, args = checks.parse_test(test, str(self.path))
            if kind == "relationships" and args.get("to"):
                names.add(str(args["to"]))
            elif kind == "sql":
                jinja2.Environment(autoescape=False).from_string(str(args["sql"])).render(
                    this="",
                    ref=lambda n: names.add(n) or n,
                    source=lambda s, t: names.add(raw_table(s, t)) or t,
                )
        return names

    @property
    def unique_key(self) -> list[str]:
        key = self.meta.get("unique_key") or []
        return [key] if isinstance(key, str) else list(key)


def render(model: Model, resolve_ref, resolve_source, incremental=False, this="") -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(model.sql).render(
            ref=resolve_ref,
            source=resolve_source,
            is_incremental=lambda: incremental,
            this=this,
        )
    except jinja2.TemplateError as exc:
        raise ModelError(f"{model.path}: template error: {exc}") from None


COLUMN_KEYS = set(MODEL_COLUMN)


def _validate(model: Model) -> None:
    """Raise a ModelError naming a header key that is missing or wrong for the materialization."""
    meta, where = model.meta, model.path
    try:
        check_keys(meta, "model", str(where))
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    for column, spec in model.columns.items():
        unknown = set(spec or {}) - COLUMN_KEYS
        if not isinstance(spec, (dict, type(None))) or unknown:
            raise ModelError(
                f"{where}: column {column} has unknown key(s) {sorted(unknown) or spec!r}; a "
                f"column takes {sorted(COLUMN_KEYS)}. Quote a description that holds a comma."
            )
    if not isinstance(meta.get("settings") or {}, dict):
        raise ModelError(
            f"{where}: settings must map ClickHouse setting names to values, "
            "e.g. settings: {join_algorithm: grace_hash}."
        )
    if model.materialization == "snapshot":
        snapshots.validate(model)
    policy = meta.get("on_schema_change", "fail")
    if policy not in materialize.ON_SCHEMA_CHANGE:
        raise ModelError(
            f"{where}: on_schema_change {policy!r} is not one of {materialize.ON_SCHEMA_CHANGE}."
        )
    if model.materialization != "incremental":
        return
    strategy = meta.get("incremental_strategy", "append")
    if strategy not in materialize.STRATEGIES:
        raise ModelError(
            f"{where}: incremental_strategy {strategy!r} is not one of {materialize.STRATEGIES}."
        )
    if strategy == "replace_partitions" and not meta.get("partition_by"):
        raise ModelError(f"{where}: incremental_strategy replace_partitions needs partition_by.")
    if strategy == "upsert" and not (model.unique_key and meta.get("version")):
        raise ModelError(
            f"{where}: incremental_strategy upsert needs unique_key (the key rows are replaced "
            "by) and version (a column that grows with each change, e.g. updated_at)."
        )
    days = meta.get("lookback_days", 0)
    if not isinstance(days, int) or days < 0:
        raise ModelError(f"{where}: lookback_days must be a whole number of days >= 0.")


def load_models(sql_dir: str | Path) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for path in sorted(Path(sql_dir).rglob("*.sql")):
        text = path.read_text()
        m = _HEADER.match(text)
        if not m:
            raise ModelError(
                f"{path}: no YAML header. Start the file with /* --- ... --- */ "
                "holding at least `description` and `materialization`."
            )
        try:
            meta = parse_yaml(m.group(1), f"{path}: the header") or {}
        except ConfigError as exc:
            raise ModelError(str(exc)) from None
        if not isinstance(meta, dict):
            raise ModelError(
                f"{path}: the header must be YAML keys (description: ..., materialization: ...), "
                f"not {meta!r}."
            )
        mat = meta.get("materialization", "view")
        if mat not in MATERIALIZATIONS:
            raise ModelError(f"{path}: materialization {mat!r} is not one of {MATERIALIZATIONS}.")
        if path.stem in models:
            raise ModelError(f"Two models are named {path.stem}: {models[path.stem].path}, {path}.")
        model = Model(path.stem, path, path.parent.name, text[m.end() :].strip(), meta)
        # discover refs by rendering with recording functions
        refs, srcs = model.refs, model.sources
        render(model, lambda n, r=refs: r.add(n) or n, lambda s, t, r=srcs: r.add((s, t)) or t)
        _validate(model)
        models[model.name] = model
    for model in models.values():
        unknown = model.refs - set(models)
        if unknown:
            raise ModelError(f"{model.path}: ref to unknown model(s) {sorted(unknown)}.")
    return models


def build_order(models: dict[str, Model]) -> list[str]:
    """Model names, each after the models it and its tests read."""
    sorter = graphlib.TopologicalSorter(
        {n: (m.tables_read & set(models)) - {n} for n, m in models.items()}
    )
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ModelError(f"The models refer to each other in a cycle: {exc.args[1]}") from None
