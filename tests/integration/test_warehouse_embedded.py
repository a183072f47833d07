"""The embedded warehouse (real chdb): round trips, the lock held by another process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from starloom.errors import WarehouseError, WarehouseLockedError
from starloom.settings import Settings
from starloom.warehouse import Warehouse, quote_identifier

HOLD = textwrap.dedent("""
    import sys, time, clickhouse_connect
    c = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    c.close()
""")


def _settings(path: Path, timeout: float = 2.0) -> Settings:
    return Settings(
        project_dir=path, warehouse_path=path / "wh", database="t_db", lock_timeout=timeout
    )


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    (path / "wh").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path / "wh"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_round_trip_and_parameters(tmp_path):
    wh = Warehouse(_settings(tmp_path))
    wh.command(
        "CREATE TABLE t (id Int64, name String, at DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY id"
    )
    df = pd.DataFrame(
        {
            "id": [1, 2],
            "name": ["a'b", "c"],
            "at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00"], utc=True),
        }
    )
    wh.insert_df("t", df)
    got = wh.query_df("SELECT * FROM t WHERE name = {n:String}", {"n": "a'b"})
    assert got.id.tolist() == [1]
    assert wh.tables() == ["t"] and wh.table_exists("t") and wh.count("t") == 2
    assert wh.query_arrow("SELECT id FROM t ORDER BY id").column("id").to_pylist() == [1, 2]


PERCENT_SQL = (
    "SELECT count() AS n, any(formatDateTime(toDate('2024-03-05'), '%Y')) AS year\n"
    "FROM numbers(20) WHERE toString(number) LIKE '%1%' -- 100% of the matches\n"
)


def test_percent_signs_in_sql_given_parameters_it_does_not_use(tmp_path):
    """The driver %-formats SQL that has parameters but no {name:Type} placeholder, so a `%`
    in a LIKE pattern, a date format or a comment must not meet unused parameters."""
    wh = Warehouse(_settings(tmp_path))
    unused = {"run_date": "2024-01-05"}
    assert wh.query_rows(PERCENT_SQL, unused) == [(11, "2024")]  # 1 and 10..19
    assert wh.scalar(PERCENT_SQL, unused) == 11
    assert wh.query_df(PERCENT_SQL, unused).year.tolist() == ["2024"]
    assert wh.query_arrow(PERCENT_SQL, unused).column("n").to_pylist() == [11]
    wh.command(f"CREATE TABLE pct ENGINE = MergeTree ORDER BY n AS {PERCENT_SQL}", unused)
    assert wh.query_rows("SELECT n, year FROM pct") == [(11, "2024")]
    # with a placeholder the parameters are bound by the server, the `%` left alone
    bound = PERCENT_SQL.replace("numbers(20)", "numbers({limit:UInt8})")
    assert wh.query_rows(bound, {"limit": 20}) == [(11, "2024")]


def _another_process_opens(path: Path) -> bool:
    """Whether another process can open the embedded directory right away."""
    done = subprocess.run(
        [sys.executable, "-c", HOLD, str(path / "wh"), "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0 and "held" in done.stdout


def test_no_connection_is_held_between_calls(tmp_path):
    wh = Warehouse(_settings(tmp_path))
    wh.command("SELECT 1")
    # another process can open the directory right away
    assert _another_process_opens(tmp_path)


def _threads() -> int:
    return len(list(Path("/proc/self/task").iterdir()))


def test_in_a_kernel_a_connection_lingers_then_is_released(tmp_path):
    wh = Warehouse(_settings(tmp_path))
    wh.command("CREATE TABLE t (id Int64) ENGINE = MergeTree ORDER BY id")
    wh.linger = 1.0  # as in a Jupyter kernel
    opens = []
    open_client = wh._open
    wh._open = lambda: opens.append(1) or open_client()
    wh.scalar("SELECT count() FROM t")
    # each open of a directory holding a MergeTree table leaves idle threads behind (about
    # five): calls in quick succession share one open, so none pile up
    before = _threads()
    for _ in range(10):
        wh.scalar("SELECT count() FROM t")
    assert len(opens) == 1 and _threads() - before < 5
    assert wh._client is not None  # still open, idle

    # then released: another process can open the directory
    time.sleep(2.0)
    assert wh._client is None
    assert _another_process_opens(tmp_path)


def test_connect_in_a_kernel_gives_each_cell_the_same_warehouse(tmp_path, monkeypatch):
    from starloom.warehouse import client as warehouse

    monkeypatch.setattr(warehouse, "in_jupyter_kernel", lambda: True)
    monkeypatch.setattr(warehouse, "_KERNEL_WAREHOUSES", {})
    first = warehouse.connect(_settings(tmp_path))
    assert warehouse.connect(_settings(tmp_path)) is first
    assert first.linger == warehouse.LINGER_S
    assert first.scalar("SELECT 1") == 1 and first._client is not None
    # other settings for the same directory: a new warehouse, the old connection closed
    other = warehouse.connect(_settings(tmp_path, timeout=5.0))
    assert other is not first and first._client is None
    monkeypatch.setattr(warehouse, "in_jupyter_kernel", lambda: False)
    assert warehouse.connect(_settings(tmp_path)) is not warehouse.connect(_settings(tmp_path))


def test_locked_warehouse_names_the_holder_and_what_to_do(tmp_path):
    holder = _hold(tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as err:
            Warehouse(_settings(tmp_path, timeout=1.5)).command("SELECT 1")
        assert time.monotonic() - started >= 1.5
        message = str(err.value)
        assert f"process {holder.pid}" in message
        assert "STARLOOM_LOCK_TIMEOUT" in message and "JupyterLab" in message
    finally:
        holder.kill()
        holder.wait()


def test_query_output_waits_for_the_lock_then_names_the_holder(tmp_path):
    """query_output opens the engine without the client library, with the same lock rules."""
    holder = _hold(tmp_path, 1.0)
    try:
        out = Warehouse(_settings(tmp_path, timeout=30)).query_output("SELECT 41 + 1", "TSV")
        assert out == b"42\n"
    finally:
        holder.wait(timeout=30)
    holder = _hold(tmp_path, 30)
    try:
        with pytest.raises(WarehouseLockedError, match=f"process {holder.pid}"):
            Warehouse(_settings(tmp_path, timeout=1.5)).query_output("SELECT 1", "TSV")
    finally:
        holder.kill()
        holder.wait()


def test_waiting_for_the_lock_prints_none_of_the_engines_own_lines(tmp_path, capfd):
    """The engine prints "Cannot lock file" on stderr at every attempt on a held directory;
    only starloom's error, naming the holder, is said (for both ways of opening it)."""
    holder = _hold(tmp_path, 30)
    try:
        wh = Warehouse(_settings(tmp_path, timeout=2.5))
        with pytest.raises(WarehouseLockedError, match=f"process {holder.pid}"):
            wh.command("SELECT 1")
        with pytest.raises(WarehouseLockedError, match=f"process {holder.pid}"):
            wh.query_output("SELECT 1", "TSV")
    finally:
        holder.kill()
        holder.wait()
    printed = capfd.readouterr()
    assert "Cannot lock" not in printed.err + printed.out
    assert Warehouse(_settings(tmp_path)).scalar("SELECT 1") == 1  # stderr given back
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_waits_for_the_lock_to_be_released(tmp_path):
    holder = _hold(tmp_path, 1.0)
    try:
        assert Warehouse(_settings(tmp_path, timeout=30)).scalar("SELECT 41 + 1") == 42
    finally:
        holder.wait(timeout=30)


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    holder = _hold(tmp_path, 60)
    holder.kill()
    holder.wait()
    assert Warehouse(_settings(tmp_path, timeout=10)).scalar("SELECT 1") == 1


def test_refused_statement_names_the_problem_and_shows_it(tmp_path):
    wh = Warehouse(_settings(tmp_path))
    with pytest.raises(WarehouseError, match="UNKNOWN_TABLE") as err:
        wh.query_df("SELECT * FROM no_such_table")
    assert "SELECT * FROM no_such_table" in str(err.value)


def test_quote_identifier_escapes():
    assert quote_identifier("a`b") == "`a\\`b`"
    with pytest.raises(ValueError):
        quote_identifier("")


def test_the_memory_limit_is_the_engines_own_and_its_error_says_what_to_do(tmp_path):
    """STARLOOM_MEMORY_LIMIT_MB is the embedded engine's own limit for all its queries (read
    back from the engine), and a query past it fails with a message naming the setting.
    In a process of its own: the engine's options are taken when it first opens."""
    script = textwrap.dedent(
        """
        import sys
        from starloom.errors import WarehouseError
        from starloom.settings import load_settings
        from starloom.warehouse import Warehouse
        wh = Warehouse(load_settings())
        limit = wh.scalar("SELECT value FROM system.server_settings "
                          "WHERE name = 'max_server_memory_usage'")
        print("limit", limit)
        print("sql", wh.query_output("SELECT value FROM system.server_settings "
                                     "WHERE name = 'max_server_memory_usage'", "TSV").decode())
        try:
            wh.scalar("SELECT length(groupArray(number)) FROM numbers(100000000)")
            print("no error")
        except WarehouseError as exc:
            print("error", str(exc).replace(chr(10), " "))
        """
    )
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    env = {**os.environ, "STARLOOM_PROJECT_DIR": str(tmp_path), "STARLOOM_MEMORY_LIMIT_MB": "300"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines() if " " in line)
    assert int(lines["limit"]) == 300 << 20
    assert int(lines["sql"].strip()) == 300 << 20
    assert "memory limit" in lines["error"]
    assert "STARLOOM_MEMORY_LIMIT_MB" in lines["error"]
