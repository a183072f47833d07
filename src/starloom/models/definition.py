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

The header is read into a typed ModelConfig (starloom.models.config, which lists every
key and checks it); `Model.config` holds it. How a model is built from it is the business
of the runner (starloom.models.runner) and of its materializations
(starloom.models.materializations): this module names none of them.
"""

from __future__ import annotations

import difflib
import graphlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2

from starloom.errors import ConfigError, ModelError
from starloom.ingestion.raw_names import raw_table
from starloom.models.config import ModelConfig, parse_config
from starloom.settings import parse_yaml

_HEADER = re.compile(r"^\s*/\*\s*---\s*\n(.*?)\n\s*---\s*\*/", re.S)


@dataclass
class Model:
    """One file of sql/: its name and layer (its folder), its SQL after the header, the
    header read (`config`), and the models and raw tables its SQL names. `file` is its
    path as messages show it, from the project's folder (sql/<layer>/<name>.sql): the
    user finds it there, where the absolute path would be a long line of someone's disk."""

    name: str
    path: Path
    layer: str
    sql: str
    config: ModelConfig = field(default_factory=ModelConfig)
    refs: set[str] = field(default_factory=set)
    sources: set[tuple[str, str]] = field(default_factory=set)
    file: str = ""

    def __post_init__(self):
        self.file = self.file or self.path.as_posix()

    @cached_property
    def tables_read(self) -> set[str]:
        """Every table the model and its tests read (raw tables as raw_<source>__<table>):
        its refs and sources, relationships' `to`, and the refs and sources of SQL tests."""
        names = set(self.refs) | {raw_table(s, t) for s, t in self.sources}
        for _, test in self.config.declared_tests():
            if test.kind == "relationships":
                names.add(test.to)
            elif test.kind == "sql":
                try:
                    jinja2.Environment(autoescape=False).from_string(test.sql).render(
                        this="",
                        ref=lambda n: names.add(n) or n,
                        source=lambda s, t: names.add(raw_table(s, t)) or t,
                    )
                except jinja2.TemplateError as exc:
                    raise ModelError(
                        f"{self.path}: template error in the test {test.label}'s SQL: {exc}"
                    ) from None
        return names


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
            header = parse_yaml(m.group(1), f"{path}: the header")
        except ConfigError as exc:
            raise ModelError(str(exc)) from None
        if not isinstance(header, dict | None):
            raise ModelError(
                f"{path}: the header must be YAML keys (description: ..., materialization: ...), "
                f"not {header!r}."
            )
        config = parse_config(header, str(path))
        if path.stem in models:
            raise ModelError(f"Two models are named {path.stem}: {models[path.stem].path}, {path}.")
        model = Model(path.stem, path, path.parent.name, text[m.end() :].strip(), config)
        model.file = Path(os.path.relpath(path, Path(sql_dir).parent)).as_posix()
        # discover refs by rendering with recording functions
        refs, srcs = model.refs, model.sources
        render(model, lambda n, r=refs: r.add(n) or n, lambda s, t, r=srcs: r.add((s, t)) or t)
        models[model.name] = model
    for model in models.values():
        unknown = sorted(model.refs - set(models))
        if unknown:
            raise ModelError(_unknown_refs(model, unknown, list(models)))
    return models


def _unknown_refs(model: Model, unknown: list[str], names: list[str]) -> str:
    """The error of refs to no model: each with the closest model names (a typo in a name is
    the usual cause), then what a ref names and, when they are few, the models there are."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        parts.append(f"ref({name!r}) names no model.{hint}")
    listed = f": {', '.join(sorted(names))}" if 0 < len(names) <= 20 else ""
    return (
        f"{model.file}: {' '.join(parts)} A ref names a model by its file name without .sql, "
        f"anywhere under sql/ ({len(names)} models{listed})."
    )


def build_order(models: dict[str, Model]) -> list[str]:
    """Model names, each after the models it and its tests read."""
    sorter = graphlib.TopologicalSorter(
        {n: (m.tables_read & set(models)) - {n} for n, m in models.items()}
    )
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ModelError(f"The models refer to each other in a cycle: {exc.args[1]}") from None
