"""A model's header, read once into typed values: `parse_config(header, where)`.

The keys a header may hold are those of starloom.keys.MODEL (and MODEL_COLUMN for a
column), the lists the reference docs are written from; each has one reader here
(`READERS`), and ModelConfig one field. A key that is not listed is an error naming the
closest one; a value of the wrong type, or a choice that is not offered, is an error naming
the key; the keys a materialization needs are checked together (an upsert needs
`unique_key` and `version`, a snapshot its `strategy` and what that strategy reads). The
declared tests are read here too, so a test of an unknown kind or with a missing argument
stops the load, naming the file, the column and the test.

A key written as null is a key left out: it takes its default.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starloom.errors import ConfigError, ModelError
from starloom.keys import MODEL_COLUMN, check_keys

MATERIALIZATIONS = ("view", "table", "incremental", "snapshot")
INCREMENTAL_STRATEGIES = ("append", "replace_partitions", "upsert")
SNAPSHOT_STRATEGIES = ("timestamp", "check")
ON_SCHEMA_CHANGE = ("fail", "append_new_columns", "sync_all_columns")
SEVERITIES = ("error", "warn")
# each kind of test, with the arguments it takes besides `severity`
COLUMN_TESTS = {
    "unique": (),
    "not_null": (),
    "accepted_values": ("values",),
    "relationships": ("to", "field"),
    "expression_is_true": ("expression",),
}
MODEL_TESTS = {"expression_is_true": ("expression",), "sql": ("sql", "name")}


@dataclass(frozen=True)
class DataTest:
    """One declared test: a query for the failing rows (run by starloom.models.data_tests)."""

    kind: str  # a key of COLUMN_TESTS (a column's test) or of MODEL_TESTS (the model's)
    severity: str = "error"
    values: tuple = ()  # accepted_values: the values allowed (compared as text)
    to: str = ""  # relationships: the model (or raw table) holding the values
    field: str = ""  # relationships: its column
    expression: str = ""  # expression_is_true: a boolean SQL expression over the columns
    sql: str = ""  # sql: a query for failing rows ({{ this }}, {{ ref('m') }}, source)
    name: str = ""  # sql: the test's name

    @property
    def label(self) -> str:
        """The test's name in results and messages: its kind, or a `sql` test's name."""
        return (self.name or "sql") if self.kind == "sql" else self.kind


@dataclass(frozen=True)
class ColumnConfig:
    description: str = ""
    type: str = ""
    tests: tuple[DataTest, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """A model's header; each field is the key of the same name (starloom.keys.MODEL)."""

    description: str = ""
    grain: str = ""
    materialization: str = "view"
    order_by: tuple[str, ...] = ()
    partition_by: str | None = None
    engine: str = "MergeTree"
    unique_key: tuple[str, ...] = ()
    incremental_strategy: str = "append"
    version: str | None = None
    lookback_days: int = 0
    on_schema_change: str = "fail"
    strategy: str | None = None
    updated_at: str | None = None
    check_cols: tuple[str, ...] = ()
    invalidate_hard_deletes: bool = True
    surrogate_key: str = "snapshot_key"
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    date_column: str | None = None
    columns: Mapping[str, ColumnConfig] = dataclasses.field(default_factory=dict)
    tests: tuple[DataTest, ...] = ()
    # The header as written: what a build's signature hashes (starloom.models.build_state),
    # so that how it is read into these fields can change without rebuilding every table.
    written: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def declared_tests(self) -> list[tuple[str, DataTest]]:
        """(column, test) of every test: the columns' in order, then the model's (column "")."""
        out = [(name, t) for name, column in self.columns.items() for t in column.tests]
        return out + [("", t) for t in self.tests]


# -- readers of one key: (key, value, where) -> the field's value ----------------------------
def _wrong(key: str, what: str, value: Any, where: str) -> ModelError:
    return ModelError(f"{where}: `{key}` must be {what}, not {value!r}.")


def _text(key: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(key, "text", value, where)
    return value


def _names(key: str, value: Any, where: str) -> tuple[str, ...]:
    """A column name or a list of them (or of SQL expressions, for order_by)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _wrong(key, "a column name or a list of column names", value, where)


def _choice(options: tuple[str, ...]) -> Callable[[str, Any, str], str]:
    def read(key: str, value: Any, where: str) -> str:
        if value not in options:
            raise ModelError(f"{where}: {key} {value!r} is not one of {options}.")
        return value

    return read


def _days(key: str, value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ModelError(f"{where}: {key} must be a whole number of days >= 0, not {value!r}.")
    return value


def _flag(key: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(key, "true or false", value, where)
    return value


def _settings(key: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ModelError(
            f"{where}: settings must map ClickHouse setting names to values, "
            "e.g. settings: {join_algorithm: grace_hash}."
        )
    return dict(value)


def _columns(key: str, value: Any, where: str) -> dict[str, ColumnConfig]:
    if not isinstance(value, dict):
        raise _wrong(key, "a mapping of column name to its keys", value, where)
    return {str(name): _column(str(name), spec, where) for name, spec in value.items()}


def _model_tests(key: str, value: Any, where: str) -> tuple[DataTest, ...]:
    if not isinstance(value, list):
        raise _wrong(key, "a list of tests", value, where)
    hint = f"Model tests: {', '.join(MODEL_TESTS)} (column tests go under the column)."
    return tuple(parse_test(t, f"{where}: model tests", MODEL_TESTS, hint) for t in value)


READERS: dict[str, Callable[[str, Any, str], Any]] = {
    "description": _text,
    "grain": _text,
    "materialization": _choice(MATERIALIZATIONS),
    "order_by": _names,
    "partition_by": _text,
    "engine": _text,
    "unique_key": _names,
    "incremental_strategy": _choice(INCREMENTAL_STRATEGIES),
    "version": _text,
    "lookback_days": _days,
    "on_schema_change": _choice(ON_SCHEMA_CHANGE),
    "strategy": _choice(SNAPSHOT_STRATEGIES),
    "updated_at": _text,
    "check_cols": _names,
    "invalidate_hard_deletes": _flag,
    "surrogate_key": _text,
    "settings": _settings,
    "date_column": _text,
    "columns": _columns,
    "tests": _model_tests,
}


def _column(name: str, spec: Any, where: str) -> ColumnConfig:
    spec = {} if spec is None else spec
    unknown = sorted(map(str, set(spec) - set(MODEL_COLUMN))) if isinstance(spec, dict) else []
    if not isinstance(spec, dict) or unknown:
        close = difflib.get_close_matches(unknown[0], list(MODEL_COLUMN), n=1) if unknown else []
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ModelError(
            f"{where}: column {name} has unknown key(s) {unknown or spec!r};{hint} a column "
            f"takes {sorted(MODEL_COLUMN)}. Quote a description that holds a comma."
        )
    where = f"{where}: column {name}"
    tests = spec.get("tests") or []
    if not isinstance(tests, list):
        raise _wrong("tests", "a list of tests", tests, where)
    hint = f"Column tests: {', '.join(COLUMN_TESTS)}."
    return ColumnConfig(
        description=_text("description", spec.get("description") or "", where),
        type=_text("type", spec.get("type") or "", where),
        tests=tuple(parse_test(t, where, COLUMN_TESTS, hint) for t in tests),
    )


# -- tests -----------------------------------------------------------------------------------
def _split_test(test: Any, where: str) -> tuple[str, dict]:
    """(kind, args) of one declared test: a name, or {name: args}, or {sql: ..., name: ...}."""
    if isinstance(test, str):
        return test, {}
    if isinstance(test, dict) and "sql" in test:
        return "sql", dict(test)
    if isinstance(test, dict) and "severity" in test and len(test) == 2:
        # {relationships: {...}, severity: warn}: the severity beside the test, not in it
        kind, args = next((k, v) for k, v in test.items() if k != "severity")
        if args is None or isinstance(args, dict):
            return str(kind), {**(args or {}), "severity": test["severity"]}
    if isinstance(test, dict) and len(test) == 1:
        kind, args = next(iter(test.items()))
        if args is None or isinstance(args, dict):
            return str(kind), dict(args or {})
    raise ModelError(
        f"{where}: cannot read the test {test!r}. Write a name (unique), a mapping of one name "
        "to its arguments ({accepted_values: {values: [a, b]}}), or {sql: 'SELECT ...'}; a "
        "severity goes with the arguments: {relationships: {to: m, field: f, severity: warn}}."
    )


def parse_test(test: Any, where: str, kinds: Mapping[str, tuple], hint: str) -> DataTest:
    """One declared test, checked: its kind is one of `kinds` (else an error ending with
    `hint`), its arguments are those of the kind, its severity is error or warn."""
    kind, args = _split_test(test, where)
    if kind not in kinds:
        close = difflib.get_close_matches(kind, list(kinds), n=1)
        also = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelError(f"{where}: unknown test {kind!r}.{also} {hint}")
    allowed = (*kinds[kind], "severity")
    for arg in args:
        if arg not in allowed:
            close = difflib.get_close_matches(str(arg), allowed, n=1)
            also = f" Did you mean `{close[0]}`?" if close else ""
            raise ModelError(
                f"{where}: the test {kind} has no argument `{arg}`.{also} It takes: "
                f"{', '.join(allowed)}."
            )
    severity = args.get("severity", "error")
    if severity not in SEVERITIES:
        raise ModelError(f"{where}: severity {severity!r} is not one of {SEVERITIES}.")
    values = args.get("values")
    if kind == "accepted_values" and (not isinstance(values, list) or not values):
        raise ModelError(f"{where}: accepted_values needs a list under `values`.")
    if kind == "relationships" and not (args.get("to") and args.get("field")):
        raise ModelError(f"{where}: relationships needs `to` (a model) and `field`.")
    expression = args.get("expression")
    if kind == "expression_is_true" and not (expression and isinstance(expression, str)):
        raise ModelError(f"{where}: expression_is_true needs an `expression` (SQL, boolean).")
    if kind == "sql" and not (args["sql"] and isinstance(args["sql"], str)):
        raise ModelError(f"{where}: a sql test needs its query under `sql` (text).")
    return DataTest(
        kind=kind,
        severity=severity,
        values=tuple(values or ()),
        to=str(args.get("to") or ""),
        field=str(args.get("field") or ""),
        expression=str(expression or ""),
        sql=str(args.get("sql") or ""),
        name=str(args.get("name") or ""),
    )


# -- the header ------------------------------------------------------------------------------
def parse_config(header: Any, where: str) -> ModelConfig:
    """The header `header` (parsed YAML; None for an empty one) of the model at `where`, read
    and checked; a ModelError names the file and the key that is wrong."""
    try:
        header = check_keys(header or {}, "model", where)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    values = {
        key: READERS[key](key, value, where) for key, value in header.items() if value is not None
    }
    config = ModelConfig(**values, written=header)
    _check_together(config, where)
    return config


def _check_together(config: ModelConfig, where: str) -> None:
    """Raise a ModelError naming a key the materialization needs and the header lacks."""
    if config.materialization == "snapshot":
        if config.strategy is None:
            raise ModelError(f"{where}: a snapshot needs `strategy:` one of {SNAPSHOT_STRATEGIES}.")
        if not config.unique_key:
            raise ModelError(f"{where}: a snapshot needs `unique_key:` (a column or a list).")
        if config.strategy == "timestamp" and not config.updated_at:
            raise ModelError(f"{where}: strategy timestamp needs `updated_at:` naming a column.")
        if config.strategy == "check" and not config.check_cols:
            raise ModelError(f"{where}: strategy check needs `check_cols:` (a list of columns).")
    if config.materialization != "incremental":
        return
    if config.incremental_strategy == "replace_partitions" and not config.partition_by:
        raise ModelError(f"{where}: incremental_strategy replace_partitions needs partition_by.")
    if config.incremental_strategy == "upsert" and not (config.unique_key and config.version):
        raise ModelError(
            f"{where}: incremental_strategy upsert needs unique_key (the key rows are replaced "
            "by) and version (a column that grows with each change, e.g. updated_at)."
        )
