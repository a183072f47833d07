"""Source declarations: one YAML file per source under sources/.

A source is either `kind: sql` (a SQLAlchemy URL and its tables) or `kind: files`
(files by glob, local or fsspec URL, in `format` csv, jsonl, parquet, or debezium for
change events in JSON lines). Each table (entity) declares its contract (`columns`,
`primary_key`, `extra_columns: ignore|fail`), its schema policy (`schema: strict|additive`)
and, for database tables, its mode (`mode: snapshot|incremental` with a `cursor`).
A csv source may say `landing: none`: no landing Parquet copy is kept, and on the
embedded engine local files are then read and checked by the engine itself
(starloom.ingestion.engine_csv), several times faster.
`${VAR}` and `${VAR:-default}` in URLs and paths are taken from the environment,
so credentials never sit in the repository.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from starloom.errors import ConfigError
from starloom.ingestion.contracts import Contract, with_article
from starloom.ingestion.csv_records import COMPRESSIONS, CsvDialect, check_encoding
from starloom.ingestion.raw_names import raw_table
from starloom.keys import check_keys
from starloom.settings import parse_yaml

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
FILE_FORMATS = ("jsonl", "csv", "parquet", "debezium")
SCHEMA_POLICIES = ("strict", "additive")
MODES = ("snapshot", "incremental")
LANDINGS = ("parquet", "none")
PARTITIONS = ("folder", "filename", "none")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expand(value: str, where: str) -> str:
    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where} uses ${{{name}}}, which is not set. Set the variable.")

    return _VAR.sub(sub, value)


_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True)
class Freshness:
    """How old a table's newest value may be at the end of the run date."""

    column: str = "_loaded_at"  # the datetime column judged; _loaded_at: when rows landed
    warn_after_hours: float | None = None
    error_after_hours: float | None = None


def _duration_hours(value, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value or set(value) - set(_UNITS):
        raise ConfigError(
            f"{where}: write the duration as {{hours: N}} (or minutes / days), not {value!r}."
        )
    try:
        return sum(float(n) * _UNITS[u] for u, n in value.items()) / 3600
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: the duration {value!r} is not a number.") from None


def _freshness(spec, where: str) -> Freshness | None:
    if spec is None:
        return None
    check_keys(spec, "freshness", where)
    warn = _duration_hours(spec.get("warn_after"), where + " warn_after")
    error = _duration_hours(spec.get("error_after"), where + " error_after")
    if warn is None and error is None:
        raise ConfigError(f"{where}: give warn_after, error_after or both.")
    return Freshness(str(spec.get("column") or "_loaded_at"), warn, error)


def _check_freshness_column(column: str, contract: Contract, where: str) -> None:
    """Freshness is the time since the newest value of a timestamp: `_loaded_at`, or a
    `datetime` column of the contract. Checked here, not at the first freshness check."""
    if column == "_loaded_at":
        return
    if column not in contract.names:
        raise ConfigError(
            f"{where}: column {column!r} is not a column of the contract. Name a `datetime` "
            "column of it, or leave `column` out to measure the time since the last load "
            "(_loaded_at)."
        )
    col = contract.column(column)
    if col.kind != "datetime":
        raise ConfigError(
            f"{where}: column {column!r} is {with_article(col.type)}; freshness needs a "
            "timestamp. Declare it `type: datetime` (with `format:` if it is not written "
            "YYYY-MM-DD HH:MM:SS), or leave `column` out to use _loaded_at."
        )


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    contract: Contract
    cursor: str | None = None
    path: str | None = None  # files: glob relative to the project or a URL
    partition_key: str | None = None  # files: the hive key in the path giving the date
    partitions: int = 2  # sql: number of Dask partitions
    schema: str = "strict"  # strict: any change fails; additive: new columns are added
    mode: str = "snapshot"  # sql: snapshot (full extract per run date) or incremental
    csv: CsvDialect = CsvDialect()  # csv files: how they are written
    partition: str = "folder"  # files: a file's date from its folder, its name, or none
    allow_empty: bool = False  # files: a header-only file may empty its day
    freshness: Freshness | None = None

    @property
    def raw_table(self) -> str:
        return raw_table(self.source, self.name)


def entity_files(project_dir: Path, entity: Entity) -> list[str]:
    """The files of a files-source table, sorted: its `path` glob, relative to the project
    unless absolute or a URL (s3://bucket/day=*/x.csv, through fsspec). The project's own
    folder is escaped: a `[`, `*` or `?` in it is part of a name, not of the pattern."""
    if "://" in entity.path:
        import fsspec

        fs, _, _ = fsspec.core.get_fs_token_paths(entity.path)
        return sorted(fs.unstrip_protocol(p) for p in fs.glob(entity.path))
    pattern = (
        entity.path
        if entity.path.startswith("/")
        else os.path.join(glob.escape(str(project_dir)), entity.path)
    )
    return sorted(glob.glob(pattern))


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    entities: tuple[Entity, ...]
    url: str = ""
    format: str = ""
    file: Path | None = None
    landing: str = "parquet"  # files: parquet (a landing copy of the checked rows) or none

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise ConfigError(
            f"Source {self.name!r} has no table {name!r}; it has {[e.name for e in self.entities]}."
        )


def _resolve_url(url: str, project_dir: Path) -> str:
    """sqlite:///relative/path is taken relative to the project, not the working folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(project_dir / url[len(prefix) :])
    return url


def _name(value, key: str, where: str) -> str:
    """A name used in table names and paths: letters, digits and underscores."""
    text = str(value)
    if not _NAME.match(text):
        raise ConfigError(
            f"{where}: {key} {text!r} may hold only letters, digits and underscores (and not "
            "start with a digit); it names warehouse tables and folders."
        )
    return text


def _csv_dialect(spec, where: str) -> tuple[CsvDialect, tuple[str, ...]]:
    """A table's `csv:` keys: the dialect and the table's null markers."""
    spec = check_keys(spec, "csv", f"{where} csv")
    where = f"{where} csv"

    def char(key: str, default, allow_none: bool):
        value = spec.get(key, default)
        if value is None or (allow_none and str(value).lower() == "none"):
            if not allow_none:
                raise ConfigError(f"{where}: `{key}` needs one character.")
            return None
        value = str(value)
        if len(value) != 1 or value in "\r\n":
            raise ConfigError(
                f"{where}: `{key}` must be one character (not a line break), not {value!r}."
            )
        return value

    delimiter = char("delimiter", ",", False)
    quote = char("quote", '"', True)
    escape = char("escape", None, True)
    if len({delimiter, quote, escape} - {None}) != len(
        [c for c in (delimiter, quote, escape) if c]
    ):
        raise ConfigError(f"{where}: the delimiter, quote and escape must differ.")
    header = spec.get("header", True)
    if not isinstance(header, bool):
        raise ConfigError(f"{where}: `header` must be true or false, not {header!r}.")
    encoding = str(spec.get("encoding", "utf-8"))
    problem = check_encoding(encoding)
    if problem:
        raise ConfigError(f"{where}: {problem}; use utf-8, latin-1 or cp1252.")
    compression = str(spec.get("compression", "auto"))
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"{where}: `compression` must be one of {COMPRESSIONS}, not {compression!r}."
        )
    nulls = spec.get("null_values") or []
    if not isinstance(nulls, list):
        raise ConfigError(f"{where}: `null_values` must be a list of texts, e.g. [NA, NULL].")
    dialect = CsvDialect(delimiter, quote, escape, header, encoding, compression)
    return dialect, tuple(str(v) for v in nulls)


def _shown(path: Path, project_dir: Path) -> str:
    """A project file's path as messages show it: relative to the project when inside it."""
    return str(path.relative_to(project_dir)) if path.is_relative_to(project_dir) else str(path)


def load_source(path: Path, project_dir: Path) -> Source:
    """The source declared in the file `path`, validated; relative paths and sqlite URLs are
    taken relative to `project_dir`."""
    where = _shown(path, project_dir)
    spec = parse_yaml(path.read_text(), where) or {}
    check_keys(spec, "source", where)
    name = _name(spec.get("source") or path.stem, "source", where)
    kind = spec.get("kind")
    if kind not in ("sql", "files"):
        raise ConfigError(f"{where}: `kind` must be sql or files, not {kind!r}.")
    fmt = spec.get("format", "")
    if kind == "files" and fmt not in FILE_FORMATS:
        raise ConfigError(f"{where}: `format` must be one of {FILE_FORMATS}, not {fmt!r}.")
    landing = spec.get("landing", "parquet")
    if landing not in LANDINGS or (landing == "none" and fmt != "csv"):
        raise ConfigError(
            f"{where}: `landing` must be parquet, or none for a csv source, not {landing!r}."
        )
    url = (
        _resolve_url(expand(str(spec.get("url", "")), where), project_dir) if kind == "sql" else ""
    )
    if kind == "sql" and not url:
        raise ConfigError(f"{where}: a sql source needs a SQLAlchemy `url`.")
    entities = []
    tables = spec.get("tables") or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: `tables` must map each table's name to its keys.")
    for ename, espec in tables.items():
        ewhere = f"{where} table {ename}"
        espec = check_keys(espec or {}, "table", ewhere)
        ename = _name(ename, "table", where)
        only = {
            "files": ("path", "partition", "partition_key", "csv", "allow_empty"),
            "sql": ("cursor", "partitions"),
        }
        for other_kind, keys in only.items():
            for key in keys:
                if key in espec and kind != other_kind:
                    raise ConfigError(f"{ewhere}: `{key}` is for {other_kind} sources only.")
        if "csv" in espec and fmt != "csv":
            raise ConfigError(f"{ewhere}: `csv` options are for `format: csv` sources only.")
        dialect, nulls = _csv_dialect(espec.get("csv"), ewhere)
        columns = espec.get("columns")
        if isinstance(columns, dict):
            for cname, rules in columns.items():
                check_keys(rules or {}, "column", f"{ewhere} column {cname}")
        contract = Contract.from_dict(
            columns,
            ewhere,
            espec.get("primary_key", ()),
            extra_columns=espec.get("extra_columns", "ignore"),
            null_values=nulls,
        )
        freshness = _freshness(espec.get("freshness"), f"{ewhere} freshness")
        if freshness:
            _check_freshness_column(freshness.column, contract, f"{ewhere} freshness")
        if kind == "files" and not espec.get("path"):
            raise ConfigError(f"{ewhere}: a files table needs a `path` (glob).")
        schema = espec.get("schema", "strict")
        if schema not in SCHEMA_POLICIES:
            raise ConfigError(
                f"{ewhere}: `schema` must be one of {SCHEMA_POLICIES}, not {schema!r}."
            )
        mode = espec.get("mode", "snapshot")
        if mode not in MODES or (mode == "incremental" and kind != "sql"):
            raise ConfigError(
                f"{ewhere}: `mode` must be one of {MODES} (incremental for sql tables only), "
                f"not {mode!r}; file sources are incremental by their manifest."
            )
        cursor = espec.get("cursor")
        if mode == "incremental" and cursor not in contract.names:
            raise ConfigError(
                f"{ewhere}: `mode: incremental` needs a `cursor` column of the contract "
                f"(a datetime or int64 that grows on every change), not {cursor!r}."
            )
        if fmt == "debezium" and not contract.primary_key:
            raise ConfigError(f"{ewhere}: change events need a `primary_key` to apply them.")
        partition = str(espec.get("partition", "folder"))
        if partition not in PARTITIONS:
            raise ConfigError(
                f"{ewhere}: `partition` must be one of {PARTITIONS}, not {partition!r}."
            )
        if not isinstance(espec.get("allow_empty", False), bool):
            raise ConfigError(f"{ewhere}: `allow_empty` must be true or false.")
        entities.append(
            Entity(
                source=name,
                name=ename,
                contract=contract,
                cursor=cursor,
                path=expand(str(espec["path"]), ewhere) if espec.get("path") else None,
                partition_key=espec.get("partition_key"),
                partitions=int(espec.get("partitions", 2)),
                schema=schema,
                mode=mode,
                csv=dialect,
                partition=partition,
                allow_empty=bool(espec.get("allow_empty", False)),
                freshness=freshness,
            )
        )
    if not entities:
        raise ConfigError(f"{where}: the source declares no `tables`.")
    return Source(
        name=name,
        kind=kind,
        entities=tuple(entities),
        url=url,
        format=fmt,
        file=path,
        landing=landing,
    )


def load_sources(sources_dir: Path, project_dir: Path) -> dict[str, Source]:
    """Every source of `sources_dir`/*.yml by name (see Project.sources); two files that
    declare the same name are an error naming both."""
    sources: dict[str, Source] = {}
    for path in sorted(Path(sources_dir).glob("*.yml")):
        src = load_source(path, project_dir)
        if src.name in sources:
            first = _shown(sources[src.name].file, project_dir)
            raise ConfigError(
                f"Two sources are named {src.name!r}: {first} and "
                f"{_shown(path, project_dir)}. A source's name "
                "(its `source:` key, else its file name) names its raw tables: rename one."
            )
        sources[src.name] = src
    return sources
