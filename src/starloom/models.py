"""SQL models: files under sql/ with a YAML header, built in dependency order.

A model is `sql/<layer>/<name>.sql`. Its header is a block comment holding YAML:

    /* ---
    description: One row per customer.
    grain: customer_id
    materialization: table        # view | table
    order_by: [customer_id]
    columns:
      customer_id: {description: ..., tests: [unique, not_null]}
    --- */
    SELECT ... FROM {{ ref('stg_shop__customers') }}

Inputs are named through `ref('model')` and `source('source', 'table')`, never by database.
Values come as ClickHouse query parameters, e.g. `{run_date:Date}`, bound by the runner.
A table is built aside (`<name>__new`), tested, then swapped in with EXCHANGE TABLES, so a
failed build or test leaves the previous table as it was.
"""

from __future__ import annotations

import graphlib
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from starloom import checks
from starloom.errors import ModelError
from starloom.warehouse import Warehouse

_HEADER = re.compile(r"^\s*/\*\s*---\s*\n(.*?)\n\s*---\s*\*/", re.S)
MATERIALIZATIONS = ("view", "table")


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


def _render(model: Model, resolve_ref, resolve_source) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(model.sql).render(ref=resolve_ref, source=resolve_source)
    except jinja2.TemplateError as exc:
        raise ModelError(f"{model.path}: template error: {exc}") from None


def load_models(sql_dir: Path) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for path in sorted(sql_dir.rglob("*.sql")):
        text = path.read_text()
        m = _HEADER.match(text)
        if not m:
            raise ModelError(
                f"{path}: no YAML header. Start the file with /* --- ... --- */ "
                "holding at least `description` and `materialization`."
            )
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise ModelError(f"{path}: the header is not valid YAML: {exc}") from None
        mat = meta.get("materialization", "view")
        if mat not in MATERIALIZATIONS:
            raise ModelError(f"{path}: materialization {mat!r} is not one of {MATERIALIZATIONS}.")
        if path.stem in models:
            raise ModelError(f"Two models are named {path.stem}: {models[path.stem].path}, {path}.")
        model = Model(path.stem, path, path.parent.name, text[m.end() :].strip(), meta)
        # discover refs by rendering with recording functions
        refs, srcs = model.refs, model.sources
        _render(model, lambda n, r=refs: r.add(n) or n, lambda s, t, r=srcs: r.add((s, t)) or t)
        models[model.name] = model
    for model in models.values():
        unknown = model.refs - set(models)
        if unknown:
            raise ModelError(f"{model.path}: ref to unknown model(s) {sorted(unknown)}.")
    return models


def build_order(models: dict[str, Model]) -> list[str]:
    sorter = graphlib.TopologicalSorter({n: m.refs for n, m in models.items()})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ModelError(f"The models refer to each other in a cycle: {exc.args[1]}") from None


def _select(models: dict[str, Model], select) -> list[str]:
    order = build_order(models)
    if select is None:
        return order
    wanted = {select} if isinstance(select, str) else set(select)
    chosen = [n for n in order if n in wanted or models[n].layer in wanted]
    if not chosen:
        raise ModelError(f"No model matches {sorted(wanted)}; models: {order}.")
    return chosen


def _ddl_table(wh: Warehouse, model: Model, target: str, body: str) -> str:
    meta = model.meta
    order = meta.get("order_by") or []
    order_sql = ", ".join(order) if isinstance(order, list) else str(order)
    engine = meta.get("engine", "MergeTree")
    parts = [f"CREATE TABLE {wh.qualified(target)} ENGINE = {engine}"]
    if meta.get("partition_by"):
        parts.append(f"PARTITION BY {meta['partition_by']}")
    parts.append(f"ORDER BY ({order_sql or 'tuple()'})")
    return " ".join(parts) + f" AS\n{body}"


def build(
    wh: Warehouse, select=None, *, run_date=None, sql_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the selected models in dependency order; returns (builds, test results)."""
    sql_dir = sql_dir or wh.settings.project_dir / "sql"
    models = load_models(sql_dir)
    names = _select(models, select)
    params = {"run_date": run_date} if run_date else {}
    run_id = uuid.uuid4().hex[:12]
    builds, results = [], []
    with wh.session():
        for name in names:
            model = models[name]
            started = time.perf_counter()
            body = _render(model, wh.qualified, lambda s, t: wh.qualified(f"raw_{s}__{t}"))
            if model.materialization == "view":
                wh.command(f"CREATE OR REPLACE VIEW {wh.qualified(name)} AS\n{body}", params)
                tests = checks.run_model_tests(wh, model, name, run_id)
            else:
                aside = f"{name}__new"
                wh.command(f"DROP TABLE IF EXISTS {wh.qualified(aside)}")
                try:
                    wh.command(_ddl_table(wh, model, aside, body), params)
                    tests = checks.run_model_tests(wh, model, aside, run_id, shown_as=name)
                    _swap(wh, aside, name)
                finally:
                    wh.command(f"DROP TABLE IF EXISTS {wh.qualified(aside)}")
            results.extend(tests)
            builds.append(
                {
                    "model": name,
                    "layer": model.layer,
                    "materialization": model.materialization,
                    "rows": wh.count(name),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
        if results:
            checks.record_results(wh, results)
    return pd.DataFrame(builds), pd.DataFrame(results)


def _swap(wh: Warehouse, aside: str, name: str) -> None:
    if wh.table_exists(name):
        kind = wh.scalar(
            "SELECT engine FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": wh.database, "n": name},
        )
        if kind == "View":
            wh.command(f"DROP VIEW {wh.qualified(name)}")
            wh.command(f"RENAME TABLE {wh.qualified(aside)} TO {wh.qualified(name)}")
        else:
            wh.command(f"EXCHANGE TABLES {wh.qualified(aside)} AND {wh.qualified(name)}")
    else:
        wh.command(f"RENAME TABLE {wh.qualified(aside)} TO {wh.qualified(name)}")


def lineage(sql_dir: Path) -> pd.DataFrame:
    """Edges (upstream, model) between models and raw tables, from the refs in the SQL."""
    rows = []
    for m in load_models(sql_dir).values():
        rows += [{"upstream": r, "model": m.name} for r in sorted(m.refs)]
        rows += [{"upstream": f"raw_{s}__{t}", "model": m.name} for s, t in sorted(m.sources)]
    return pd.DataFrame(rows, columns=["upstream", "model"])
