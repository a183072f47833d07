"""What each table model was last built from, so that a build skips what did not change.

A `table` or `incremental` model is up to date, and is skipped with its tests, when
- its signature equals the one recorded at its last build: a hash of its SQL and header,
  the run parameters it uses (`{run_date}`, `{lookback_start}`), and the version of every
  table it reads: its refs and sources, and what its tests read (relationships' `to`, the
  refs and sources of its SQL tests). A snapshot or an upserted model is read through a
  view over `<name>__data`, made again at each of their builds: the version of `__data`
  stands for it;
- and its own table is still the one that build left.

A table's version is read from the warehouse's system tables: its UUID and creation time,
its rows, and the checksums of its active parts' files. Any insert, replaced or dropped
partition, delete or update, or a table dropped and made again changes it. (Block numbers
alone would not do: after a drop, a reopened engine numbers the next insert as it numbered
the one dropped.) A background merge changes it too, which costs a rebuild, never a stale
table. A view model's version is its own signature. So a rerun with no new data rebuilds
nothing, and an increment rebuilds only what reads the tables it changed.

`full_refresh` rebuilds everything. On a cluster (`cluster` set) every model is rebuilt:
each node's system tables see only its own parts. A test that names a table other than
through ref(), source() or relationships' `to` is not followed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from starloom.models.definition import Model
from starloom.models.materializations.shared import DATA
from starloom.warehouse import Warehouse, state

TABLE = "starloom_builds"


def _catalog(wh: Warehouse, names: set[str]) -> dict[str, tuple[str, int | None]]:
    """{table: (version, rows in its active parts; None for a view)} for the tables among
    `names` that exist (the version: see the module docstring)."""
    if not names:
        return {}
    rows = wh.query_rows(
        "SELECT t.name, toString(t.uuid), toString(t.metadata_modification_time), p.rows, "
        "p.content, p.table != '' FROM system.tables AS t LEFT JOIN ("
        "  SELECT table, sum(rows) AS rows, "
        "  cityHash64(arraySort(groupArray(hash_of_all_files))) AS content FROM system.parts "
        "  WHERE database = {d:String} AND table IN {n:Array(String)} AND active "
        "  GROUP BY table) AS p ON p.table = t.name "
        "WHERE t.database = {d:String} AND t.name IN {n:Array(String)}",
        {"d": wh.database, "n": sorted(names)},
    )
    return {  # no active part (a view, an empty table): rows unknown, count() says
        name: ("/".join(str(v) for v in rest), int(rest[2]) if has_parts else None)
        for name, *rest, has_parts in rows
    }


def signature(model: Model, params: dict, versions: dict[str, str]) -> str:
    """The hash of what the model's build depends on; `versions` covers its tables_read.
    A run parameter counts where the model's SQL or its tests (in its header) use it."""
    used = model.sql + json.dumps(model.config.written, sort_keys=True, default=str)
    payload = {
        "sql": model.sql,
        "meta": model.config.written,  # the header as written: the same hash however it is read
        "params": {k: str(v) for k, v in params.items() if "{" + k + ":" in used},
        "inputs": {n: versions.get(n, "absent") for n in sorted(model.tables_read)},
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class BuildState:
    """Signatures and recorded builds of the models of one build run.

    The versions of every table the models read or write are read in one query at the
    start, and again only for a table this build changed (see `changed`): a build with
    nothing to do costs a few statements, not a few per model. A table another process
    changes during the build is seen at the next build (a rebuild, never a stale table).
    On a server, where other processes write at any time, each model reads the versions
    of its tables at its turn."""

    def __init__(self, wh: Warehouse, models: dict[str, Model], params_of):
        self.wh, self.models, self.params_of = wh, models, params_of
        state.ensure(wh)
        self.recorded = last_builds(wh)
        tables: set[str] = set()
        if wh.embedded:  # on a server each model reads its tables' versions at its turn
            tables = {self.data_of(n) for m in models.values() for n in m.tables_read}
            tables |= {self.data_of(n) for n in models}
        self.catalog = _catalog(wh, tables)
        self.read = set(tables)  # the tables whose entry in `catalog` is current

    def _versions(self, names: set[str]) -> dict[str, str]:
        # on a server, other processes may write any table during the build: read at the
        # model's turn, as late as possible
        unread = names - self.read if self.wh.embedded else names
        if unread:
            self.catalog.update(_catalog(self.wh, unread))
            self.read |= unread
        return {n: self.catalog[n][0] for n in names if n in self.catalog}

    def changed(self, model: str, storage: str) -> None:
        """The model was built: the versions of its tables are read again when next needed."""
        for table in {model, storage, self.data_of(model)}:
            self.read.discard(table)
            self.catalog.pop(table, None)

    def rows(self, table: str) -> int | None:
        """The rows of `table` as of its version known here (None if unknown)."""
        return self.catalog.get(table, (None, None))[1] if table in self.read else None

    def data_of(self, name: str) -> str:
        """The table holding what readers of `name` see: `<name>__data` for a snapshot or an
        upserted model (read through a FINAL view made again at each of their builds), else
        the table itself."""
        model = self.models.get(name)
        if model is not None and (
            model.config.materialization == "snapshot"
            or model.config.incremental_strategy == "upsert"
        ):
            return name + DATA
        return name

    def signature(self, model: Model, storage: str | None = None) -> tuple[str, str | None]:
        """The model's signature, and the version of its table `storage` (read in the same
        query; None if it does not exist)."""
        data = {name: self.data_of(name) for name in model.tables_read}
        found = self._versions(set(data.values()) | ({storage} if storage else set()))
        versions = {name: found[table] for name, table in data.items() if table in found}
        for name in model.tables_read:  # a view's data is its definition over its inputs
            if name in self.models and self.models[name].config.materialization == "view":
                versions[name] = self.signature(self.models[name])[0]
        return signature(model, self.params_of(model), versions), found.get(storage)

    def up_to_date(self, model: Model, sig: str, version: str | None) -> bool:
        """Whether the last build recorded this signature and left the table as it is."""
        return version is not None and self.recorded.get(model.name) == (sig, version)

    def record(self, model: Model, storage: str, run_id: str, sig: str) -> None:
        self.changed(model.name, storage)
        version = self._versions({storage}).get(storage, "absent")
        record(self.wh, model.name, run_id, sig, version)


def last_builds(wh: Warehouse) -> dict[str, tuple[str, str]]:
    """{model: (signature, version of its table)} as recorded at its last build."""
    rows = wh.query_rows(f"SELECT model, signature, version FROM {wh.qualified(TABLE)} FINAL")
    return {model: (sig, version) for model, sig, version in rows}


def record(wh: Warehouse, model: str, run_id: str, sig: str, version: str) -> None:
    wh.command(
        f"INSERT INTO {wh.qualified(TABLE)} (model, run_id, built_at, signature, version) "
        "VALUES ({m:String}, {r:String}, {b:DateTime64(3, 'UTC')}, {s:String}, {v:String})",
        {"m": model, "r": run_id, "b": dt.datetime.now(dt.UTC), "s": sig, "v": version},
    )
