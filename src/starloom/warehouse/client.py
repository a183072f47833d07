"""The warehouse: one class over clickhouse-connect for embedded chdb and ClickHouse servers.

Connections are short-lived: every call opens a client and closes it, unless a
`session()` block holds one open for a group of calls. The embedded engine allows one
process per data directory, so a notebook kernel never keeps it locked while idle.

In a Jupyter kernel an embedded connection lingers `LINGER_S` seconds after its last use,
and `connect()` gives every cell the same Warehouse: a loop of calls, or a notebook run cell
after cell, opens the engine once. Each open of the engine leaves a few idle threads in the
process (about five, with three file descriptors each), so a kernel that opened it on every
call would run out of file descriptors after a day's work; a build in another process waits
at most `LINGER_S` longer for the directory.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from starloom.errors import ConfigError, WarehouseError, WarehouseLockedError
from starloom.kernel import in_jupyter_kernel
from starloom.settings import Settings, load_settings, redact_text, redact_url, split_userinfo


def quote_identifier(name: str) -> str:
    """A ClickHouse identifier in backquotes, with backquotes and backslashes escaped."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"not an identifier: {name!r}")
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_literal(value: str) -> str:
    """A ClickHouse string literal, with backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _holder_of(path: Path) -> str:
    """Who holds the embedded directory, from the engine's status file and /proc."""
    status = path / "status"
    try:
        text = status.read_text()
    except OSError:
        return "another process"
    pid = ""
    for line in text.splitlines():
        if line.startswith("PID:"):
            pid = line.split(":", 1)[1].strip()
    if not pid:
        return "another process"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd[:160]})" if cmd else "")


class _EngineStderr:
    """What the embedded engine prints on the process's stderr (file descriptor 2) within a
    `with` block, caught, and written back at its end unless `drop()` was called.

    At each attempt to open a directory another process holds, the engine prints its own
    "Cannot lock file ..." line there, beyond the reach of Python's sys.stderr: waiting for
    the lock would print it at every retry. starloom drops those lines and says once, naming
    the holder, if the wait runs out. Anything else the engine prints is kept.
    """

    _one_at_a_time = threading.Lock()  # file descriptor 2 is the whole process's

    def __enter__(self) -> _EngineStderr:
        self._keep, self._saved, self._caught = True, None, None
        self._one_at_a_time.acquire()
        try:
            sys.stderr.flush()
            self._caught = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._caught.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no stderr to catch: leave it be
            self._restore()
        return self

    def drop(self) -> None:
        self._keep = False

    def __exit__(self, *exc_info) -> None:
        try:
            if self._saved is None:
                return self._restore()
            self._restore_fd()
            with self._caught:
                self._caught.seek(0)
                text = self._caught.read()
            if self._keep and text:
                os.write(2, text)
        finally:
            self._one_at_a_time.release()

    def _restore_fd(self) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None

    def _restore(self) -> None:
        """Undo what was done of the redirection (after a failure to set it up)."""
        if self._saved is not None:
            self._restore_fd()
        if self._caught is not None:
            self._caught.close()
            self._caught = None


def _clickhouse_error() -> type[Exception]:
    """clickhouse-connect's error class, imported when a client is first used: the client
    library takes a noticeable part of a second to import, which `starloom sql` on the
    embedded engine does without (Warehouse.query_output)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    return ClickHouseError


LINGER_S = 2.0  # in a Jupyter kernel: how long an idle embedded connection stays open
_LINGERING: weakref.WeakSet = weakref.WeakSet()  # warehouses that may hold an idle connection


@atexit.register
def _close_lingering() -> None:
    for wh in list(_LINGERING):
        wh.release()


def _give_back_memory(client) -> None:
    """Return the embedded engine's freed memory to the system before its connection
    closes. The engine's allocator keeps what its queries freed for later ones and lets it
    go only seconds later: a process that had loaded TPC-H's lineitem (SF 1) was still
    1.05-1.13 GB resident a second after the close, and 0.43-0.45 GB with the purge, which
    takes 0.3 ms when there is little to give back and ~60 ms after a large load. So a
    report kernel started right after a build does not count the build's memory twice.
    An engine built without that allocator refuses the statement: nothing to give back."""
    with contextlib.suppress(Exception):
        client.command("SYSTEM JEMALLOC PURGE")


class Warehouse:
    """ClickHouse, embedded (chdb) or a server, with the same methods either way."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self._client = None
        self._depth = 0
        self._database_ready = False
        # what has been checked on the open connection (starloom.warehouse.state), forgotten
        # when it closes
        self.prepared: set[str] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        # seconds an idle embedded connection stays open (see the module docstring)
        self.linger = LINGER_S if self.settings.embedded and in_jupyter_kernel() else 0.0

    # -- connections -------------------------------------------------------------------
    @property
    def database(self) -> str:
        return self.settings.database

    @property
    def embedded(self) -> bool:
        return self.settings.embedded

    def describe(self) -> str:
        return self.settings.describe()

    def _open(self):
        if self.embedded:
            client = self._open_embedded()
        else:
            client = self._open_server()
        if not self._database_ready:
            try:
                client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}")
            except _clickhouse_error() as exc:
                client.close()
                raise WarehouseError(
                    f"Could not create database {self.database!r} on {self.describe()}: "
                    f"{_first_line(exc)}. Check the user's rights or choose another database "
                    "(STARLOOM_DATABASE or warehouse.database in env.yaml)."
                ) from None
            self._database_ready = True
        client.database = self.database
        return client

    def _memory_settings(self, per_query: bool = False) -> dict:
        """Session settings under a memory limit: a sort or an aggregation past a third of
        it spills to disk rather than failing the query; `per_query`, the limit itself for
        each query (a server's own limit is the server's business)."""
        limit = self._memory_limit
        if not limit:
            return {}
        spill = limit // 3
        bounded = {
            "max_bytes_before_external_group_by": spill,
            "max_bytes_before_external_sort": spill,
        }
        return {**bounded, "max_memory_usage": limit} if per_query else bounded

    @property
    def _memory_limit(self) -> int:
        """The memory limit in bytes (0: none set)."""
        return self.settings.memory_limit_mb << 20

    def _engine_options(self) -> dict:
        """Options of the embedded engine: its memory limit, for all its queries at once."""
        limit = self._memory_limit
        return {"max_server_memory_usage": limit} if limit else {}

    def _open_embedded(self):
        import clickhouse_connect

        return self._wait_for_engine(
            lambda path: clickhouse_connect.get_client(
                interface="chdb",
                path=str(path),
                chdb_options=self._engine_options() or None,
                settings=self._memory_settings() or None,
            ),
            _clickhouse_error(),
        )

    def _wait_for_engine(self, open_engine, error: type[Exception]):
        """`open_engine(path)` on the embedded directory, waiting (up to the lock timeout)
        while another process holds it."""
        path = self.settings.warehouse_path
        path.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.settings.lock_timeout
        delay = 0.2
        while True:
            with _EngineStderr() as printed:
                try:
                    return open_engine(path)
                except error as exc:
                    failure = _first_line(exc)
                    locked = (path / "status").exists()
                    if locked:  # starloom says so once, naming the holder, if the wait runs out
                        printed.drop()
            if not locked:
                raise WarehouseError(
                    f"Could not open the embedded warehouse at {path}: {failure}. "
                    "Check that the folder is writable and holds a ClickHouse data directory "
                    "(or remove it to start empty)."
                )
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"The embedded warehouse at {path} is held by {_holder_of(path)} and was "
                    f"not released within {self.settings.lock_timeout:.0f} s. Only one process "
                    "at a time can open it: wait for that process to finish (a build, or an "
                    "idle JupyterLab kernel: restart or shut it down), or raise "
                    "STARLOOM_LOCK_TIMEOUT. For concurrent use, point STARLOOM_CLICKHOUSE_URL "
                    "at a ClickHouse server."
                )
            time.sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 1.6, 3.0)

    def _open_server(self):
        url = self.settings.warehouse_url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"Warehouse URL {redact_url(url)!r} is not understood: use "
                "http://user@host:8123 or https://user@host:8443 (the password goes in "
                "STARLOOM_CLICKHOUSE_PASSWORD, never in the URL)."
            )
        if _userinfo_misread(url):
            raise ConfigError(
                f"Warehouse URL {redact_url(url)!r} cannot be read: a `#`, `/` or `?` comes "
                "before its last `@` (as in a password holding one unencoded), so the host would "
                "be read from the middle of the password. Leave the password out of the URL and "
                "set STARLOOM_CLICKHOUSE_PASSWORD instead, or percent-encode it (# as %23, / as "
                "%2F, ? as %3F, @ as %40)."
            )
        try:
            port = parts.port or (8443 if parts.scheme == "https" else 8123)
        except ValueError:
            raise ConfigError(
                f"Warehouse URL {redact_url(url)!r} has an invalid port: give a number from 1 to "
                "65535 after the host (the password goes in STARLOOM_CLICKHOUSE_PASSWORD)."
            ) from None
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kwargs: dict[str, Any] = {}
        if "compress" in options:
            kwargs["compress"] = options["compress"].lower() not in ("0", "false", "no")
        import clickhouse_connect

        try:
            return clickhouse_connect.get_client(
                host=parts.hostname,
                port=port,
                username=unquote(parts.username or "") or "default",
                password=self.settings.password or unquote(parts.password or ""),
                secure=parts.scheme == "https",
                connect_timeout=int(options.get("connect_timeout", 10)),
                settings=self._memory_settings(per_query=True) or None,
                **kwargs,
            )
        except _clickhouse_error() as exc:
            raise WarehouseError(
                f"Could not reach the ClickHouse server at {redact_url(url)}: "
                f"{redact_text(_first_line(exc), url)}. "
                "Check that the server runs and the URL, user and STARLOOM_CLICKHOUSE_PASSWORD are "
                "right, or unset STARLOOM_CLICKHOUSE_URL to use the embedded warehouse."
            ) from None

    @contextlib.contextmanager
    def session(self) -> Iterator[Warehouse]:
        """Hold one connection open for a block of calls; released at the end of the block
        (or `linger` seconds later, if no other call comes first)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._client is None:
                self._client = self._open()
                self.prepared = set()
            self._depth += 1
        try:
            yield self
        finally:
            with self._lock:
                self._depth -= 1
                idle = self._depth == 0
                if idle and self.linger > 0:
                    _LINGERING.add(self)
                    self._timer = threading.Timer(self.linger, self.release)
                    self._timer.daemon = True
                    self._timer.start()
            if idle and self.linger <= 0:
                self.release()

    def release(self) -> None:
        """Close the connection now if no call is using it (a lingering one included)."""
        with self._lock:
            if self._depth or self._client is None:
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            client, self._client = self._client, None
        if self.embedded:
            _give_back_memory(client)
        client.close()

    @contextlib.contextmanager
    def _use(self):
        with self.session():
            yield self._client

    # -- statements ----------------------------------------------------------------------
    def _run(self, what: str, sql: str, fn):
        with self._use() as client:
            try:
                return fn(client)
            except _clickhouse_error() as exc:
                raise WarehouseError(
                    f"ClickHouse refused {what}: {_first_line(exc)}{self._memory_hint(exc)}"
                    f"\n--- statement ---\n{sql.strip()[:2000]}"
                ) from None

    def _memory_hint(self, exc: Exception) -> str:
        """What to do when a statement ran out of memory."""
        if "MEMORY_LIMIT_EXCEEDED" not in str(exc):
            return ""
        limit = self.settings.memory_limit_mb
        now = f"is {limit} MiB" if limit else "is the engine's default"
        return (
            f"\nThe warehouse's memory limit {now}: raise STARLOOM_MEMORY_LIMIT_MB (or "
            "warehouse.memory_limit_mb in env.yaml), or run fewer things at once."
        )

    # Every statement method takes `parameters` for its `{name:Type}` placeholders, bound by
    # the server; the ones a statement does not declare are dropped (see bound_parameters).
    def command(self, sql: str, parameters: dict | None = None, settings: dict | None = None):
        """Run a statement that returns no rows (DDL, INSERT ... SELECT)."""
        parameters = bound_parameters(sql, parameters)
        return self._run(
            "a command",
            sql,
            lambda c: c.command(sql, parameters=parameters, settings=settings),
        )

    def query_output(self, sql: str, fmt: str, settings: dict | None = None) -> bytes:
        """A query's result written by the engine itself in the output format `fmt`
        (CSVWithNames, JSONEachRow, TSVWithNames, ...). On the embedded engine the query goes
        to chdb directly, without the client library or pandas: this is what `starloom sql`
        uses, where the start of the process is most of the wait."""
        if not self.embedded:
            return self._run("a query", sql, lambda c: c.raw_query(sql, settings=settings, fmt=fmt))
        import chdb

        options = self._engine_options()
        query = f"?{urlencode(options)}" if options else ""
        conn = self._wait_for_engine(lambda path: chdb.connect(f"file:{path}{query}"), Exception)
        try:
            conn.query(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}")
            conn.query(f"USE {quote_identifier(self.database)}")
            for name, value in (settings or {}).items():
                conn.query(
                    f"SET {name} = {value if isinstance(value, int) else quote_literal(str(value))}"
                )
            return conn.query(sql, fmt).bytes()
        except Exception as exc:
            raise WarehouseError(
                f"ClickHouse refused a query: {_first_line(exc)}\n--- statement ---\n"
                f"{sql.strip()[:2000]}"
            ) from None
        finally:
            conn.close()

    def query_df(self, sql: str, parameters: dict | None = None):
        """A query's result as a pandas DataFrame, with its columns even when it has no row."""
        parameters = bound_parameters(sql, parameters)
        df = self._run("a query", sql, lambda c: c.query_df(sql, parameters=parameters))
        if len(df.columns) == 0 and len(df) == 0:
            df = self._no_rows(sql, parameters, df)
        return df

    def _no_rows(self, sql: str, parameters: dict | None, df):
        """An empty frame with the columns of the query (the embedded engine sends no header
        with an empty result), or `df` as it is when the statement cannot be described."""
        import pandas as pd

        body = sql.strip().rstrip(";")
        described = f"DESCRIBE (\n{body}\n)"
        try:
            rows = self._run(
                "a query",
                described,
                lambda c: c.query(described, parameters=parameters).result_rows,
            )
        except WarehouseError:
            return df
        return pd.DataFrame({row[0]: pd.Series(dtype=_empty_dtype(row[1])) for row in rows})

    def query_arrow(self, sql: str, parameters: dict | None = None):
        """A query's result as a pyarrow Table."""
        parameters = bound_parameters(sql, parameters)
        return self._run("a query", sql, lambda c: c.query_arrow(sql, parameters=parameters))

    def query_rows(
        self, sql: str, parameters: dict | None = None, settings: dict | None = None
    ) -> list[tuple]:
        parameters = bound_parameters(sql, parameters)
        return self._run(
            "a query",
            sql,
            lambda c: c.query(sql, parameters=parameters, settings=settings).result_rows,
        )

    def scalar(self, sql: str, parameters: dict | None = None, settings: dict | None = None):
        rows = self.query_rows(sql, parameters, settings)
        return rows[0][0] if rows else None

    def insert_df(self, table: str, df, **kwargs):
        return self._run(
            f"an insert into {table}",
            f"INSERT INTO {table}",
            lambda c: c.insert_df(table, df, database=self.database, **kwargs),
        )

    def insert_arrow(self, table: str, arrow_table, **kwargs):
        return self._run(
            f"an insert into {table}",
            f"INSERT INTO {table}",
            lambda c: c.insert_arrow(table, arrow_table, database=self.database, **kwargs),
        )

    # -- writers -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer_lock(self, name: str) -> Iterator[None]:
        """Hold the lock of `name` (a table being loaded or built) in the warehouse itself,
        so that writers of one table in several processes take turns on a server.

        The lock is a table `_starloom_lock__<name>`: creating it is atomic, so one process
        gets it; the others wait, up to STARLOOM_LOCK_TIMEOUT seconds, then fail naming the
        holder (host, process, since when). The embedded engine needs none: only one
        process can open its directory. A lock left by a killed process is a table to drop.
        """
        if self.embedded:
            yield
            return
        table = self.qualified(f"_starloom_lock__{name}")
        holder = (
            f"{socket.gethostname()} pid {os.getpid()} since "
            f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"
        )
        deadline = time.monotonic() + self.settings.lock_timeout
        with self.session():
            while True:
                try:
                    self.command(
                        f"CREATE TABLE {table} (holder String) ENGINE = Memory "
                        f"COMMENT {quote_literal(holder)}"
                    )
                    break
                except WarehouseError as exc:
                    if "already exists" not in str(exc).lower() and "TABLE_ALREADY" not in str(exc):
                        raise
                    if time.monotonic() > deadline:
                        held = self.scalar(
                            "SELECT comment FROM system.tables WHERE database = {d:String} "
                            "AND name = {t:String}",
                            {"d": self.database, "t": f"_starloom_lock__{name}"},
                        )
                        raise WarehouseError(
                            f"{name} is being written by another run ({held or 'holder unknown'}"
                            f"); waited {self.settings.lock_timeout:.0f} s (STARLOOM_LOCK_TIMEOUT)."
                            f" If that process is gone, release the lock: DROP TABLE {table}"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                self.command(f"DROP TABLE IF EXISTS {table}")

    # -- helpers -------------------------------------------------------------------------
    def qualified(self, table: str) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(table)}"

    def table_exists(self, table: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count() FROM system.tables "
                "WHERE database = {db:String} AND name = {t:String}",
                {"db": self.database, "t": table},
            )
        )

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column of `table`, in order ([] when there is no such table)."""
        return self.columns_of([table])[table]

    def columns_of(self, tables: list[str]) -> dict[str, list[tuple[str, str]]]:
        """{table: its columns as `columns` gives them} for several tables, in one query."""
        found: dict[str, list[tuple[str, str]]] = {t: [] for t in tables}
        for table, name, ctype in self.query_rows(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String} "
            "AND table IN {t:Array(String)} ORDER BY table, position",
            {"db": self.database, "t": list(tables)},
        ):
            found[table].append((name, ctype))
        return found

    def tables(self) -> list[str]:
        rows = self.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": self.database},
        )
        return [r[0] for r in rows]

    def table_list(self):
        """The database's tables as people read them (`starloom tables`, the reports' index):
        name, engine and rows, as a pandas DataFrame, without the tables that builds and loads
        work in (`<name>__new`, `<name>__load_<id>`). The rows of a view (or of any table
        whose engine does not count them) are blank: the engine's NULL would show as <NA>.
        The engine's row total still counts rows a DELETE took out until its parts merge, so
        a table with such parts is counted."""
        df = self.query_df(
            "SELECT name, engine, total_rows AS rows FROM system.tables "
            "WHERE database = {d:String} AND name NOT LIKE '%\\_\\_new' "
            "AND name NOT LIKE '%\\_\\_load\\_%' ORDER BY name",
            {"d": self.database},
        )
        import pandas as pd

        deleted = {
            r[0]
            for r in self.query_rows(
                "SELECT DISTINCT table FROM system.parts WHERE database = {d:String} AND active "
                "AND has_lightweight_delete",
                {"d": self.database},
            )
        }
        df["rows"] = [
            str(self.count(n)) if n in deleted else "" if pd.isna(v) else str(int(v))
            for n, v in zip(df["name"].tolist(), df["rows"].tolist(), strict=True)
        ]
        return df

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count() FROM {self.qualified(table)}"))


def _empty_dtype(clickhouse_type: str) -> str:
    """The pandas dtype of an empty column of this ClickHouse type: numbers and booleans as
    pandas reads them, anything else as object."""
    nullable = clickhouse_type.startswith("Nullable(")
    base = re.sub(r"^(?:LowCardinality\()?(?:Nullable\()?([A-Za-z0-9]+).*$", r"\1", clickhouse_type)
    if re.fullmatch(r"U?Int\d+", base):
        return "Int64" if nullable else "int64"
    if base.startswith("Float"):
        return "float64"
    if base == "Bool":
        return "boolean" if nullable else "bool"
    return "object"


# A `{name:Type}` placeholder, as clickhouse-connect finds them (its names are a subset of
# these): with one the driver sends the parameters to the server, without it formats them in.
_PLACEHOLDER = re.compile(r"\{[\w$]+:[^}]+\}")


def bound_parameters(sql: str, parameters: dict | None) -> dict | None:
    """The parameters to send with `sql`: None when it declares no `{name:Type}` placeholder.

    Given parameters but no placeholder, clickhouse-connect pastes them into the SQL with
    Python's %-formatting, which reads every `%` of the SQL (LIKE '%a%', formatDateTime(d,
    '%Y'), "100%" in a comment) as a format and fails. starloom binds values only through
    placeholders, so the parameters of a statement that declares none (a model that does
    not use run_date, say) are unused and are not sent.
    """
    if not parameters or not _PLACEHOLDER.search(sql):
        return None
    return parameters


def _userinfo_misread(url: str) -> bool:
    """Whether urllib ends the URL's user info elsewhere than at its last `@`.

    urllib stops the host part at the first `/`, `?` or `#`, so with one of them unencoded in
    the password it takes the rest of the password for the host, port, path or query: the
    connection would go to the wrong place, and the password would be shown as that place.
    """
    netloc = urlsplit(url).netloc
    return split_userinfo(url)[1] != (netloc.rpartition("@")[0] if "@" in netloc else "")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for marker in ("DB::Exception:", "Code:"):
        if marker in text:
            text = text[text.index(marker) :]
            break
    return text.splitlines()[0][:500] if text else type(exc).__name__


_KERNEL_WAREHOUSES: dict[tuple, Warehouse] = {}


def connect(settings: Settings | None = None, project_dir: str | Path | None = None) -> Warehouse:
    """The configured warehouse (no connection is held until a call needs one). In a Jupyter
    kernel, the same Warehouse for the same settings, so its connection can linger."""
    if settings is None:
        settings = load_settings(Path(project_dir) if project_dir else None)
    if not in_jupyter_kernel():
        return Warehouse(settings)
    key = (settings.warehouse_path, settings.warehouse_url)
    wh = _KERNEL_WAREHOUSES.get(key)
    if wh is None or wh.settings != settings:  # settings changed: a new one, the old closed
        if wh is not None:
            wh.release()
        wh = _KERNEL_WAREHOUSES[key] = Warehouse(settings)
    return wh
