"""Warehouse against a ClickHouse server over HTTP (the chdb-backed endpoint in tests.support)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from urllib.parse import quote

import clickhouse_connect
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from starloom.errors import ConfigError, WarehouseError
from starloom.settings import Settings, load_settings
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.slow


def make_warehouse(tmp_path, url: str, database: str = "t_db", password: str = "") -> Warehouse:
    return Warehouse(
        Settings(
            project_dir=tmp_path,
            warehouse_path=tmp_path / "unused",
            warehouse_url=url,
            database=database,
            password=password,
        )
    )


@pytest.fixture
def remote_wh(tmp_path, clickhouse_server) -> Warehouse:
    """A Warehouse on the endpoint, database t_db."""
    return make_warehouse(tmp_path, clickhouse_server.url)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_creates_the_database_on_first_use(tmp_path, clickhouse_server):
    raw = clickhouse_connect.get_client(
        host="127.0.0.1", port=clickhouse_server.port, compress=False
    )
    exists = "SELECT count() FROM system.databases WHERE name = 'first_use_db'"
    assert raw.command(exists) == 0
    warehouse = make_warehouse(tmp_path, clickhouse_server.url, database="first_use_db")
    assert warehouse.tables() == []
    assert raw.command(exists) == 1
    assert not warehouse.settings.warehouse_path.exists()
    raw.close()


def test_command_and_table_helpers(remote_wh):
    remote_wh.command(
        "CREATE TABLE helpers (id UInt32, name String) ENGINE = MergeTree ORDER BY id"
    )
    remote_wh.command("INSERT INTO helpers VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert remote_wh.table_exists("helpers")
    assert not remote_wh.table_exists("no_such_table")
    assert "helpers" in remote_wh.tables()
    assert remote_wh.count("helpers") == 3
    assert remote_wh.scalar(f"SELECT max(id) FROM {remote_wh.qualified('helpers')}") == 3


def test_insert_df_query_df_round_trip(remote_wh):
    remote_wh.command(
        "CREATE TABLE frames (i Int64, s String, f Float64, d Date, ts DateTime, "
        "n Nullable(Int32), ns Nullable(String)) ENGINE = MergeTree ORDER BY i"
    )
    df = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "s": ["a", "b, with comma", "tab\there"],
            "f": [1.5, -2.25, 1e10],
            "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(1999, 12, 31)],
            "ts": [
                dt.datetime(2024, 1, 1, 1, 2, 3),
                dt.datetime(2024, 2, 29, 23, 59, 59),
                dt.datetime(2000, 1, 1),
            ],
            "n": pd.array([7, None, -1], dtype="Int32"),
            "ns": ["x", None, "z"],
        }
    )
    remote_wh.insert_df("frames", df)
    out = remote_wh.query_df("SELECT * FROM frames ORDER BY i")
    assert list(out.columns) == list(df.columns)
    assert out["i"].tolist() == [1, 2, 3]
    assert out["s"].tolist() == df["s"].tolist()
    assert out["f"].tolist() == df["f"].tolist()
    assert [pd.Timestamp(v).date() for v in out["d"]] == df["d"].tolist()
    assert [pd.Timestamp(v).to_pydatetime() for v in out["ts"]] == df["ts"].tolist()
    assert out["n"].isna().tolist() == [False, True, False]
    assert out["n"].dropna().astype(int).tolist() == [7, -1]
    assert out["ns"].isna().tolist() == [False, True, False]
    assert remote_wh.count("frames") == 3


def test_insert_arrow_query_arrow_round_trip(remote_wh):
    remote_wh.command(
        "CREATE TABLE arrows (i Int64, s Nullable(String), d Date, t DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY i"
    )
    utc = dt.UTC
    table = pa.table(
        {
            "i": pa.array([1, 2], pa.int64()),
            "s": pa.array(["x", None], pa.string()),
            "d": pa.array([dt.date(2024, 1, 1), dt.date(2024, 3, 1)], pa.date32()),
            "t": pa.array(
                [
                    dt.datetime(2024, 1, 1, 1, 2, 3, 456000, tzinfo=utc),
                    dt.datetime(2024, 3, 1, tzinfo=utc),
                ],
                pa.timestamp("ms", tz="UTC"),
            ),
        }
    )
    remote_wh.insert_arrow("arrows", table)
    out = remote_wh.query_arrow("SELECT * FROM arrows ORDER BY i")
    assert out.column_names == ["i", "s", "d", "t"]
    assert out.column("i").to_pylist() == [1, 2]
    assert out.column("s").to_pylist() == ["x", None]
    assert out.column("d").to_pylist() == [dt.date(2024, 1, 1), dt.date(2024, 3, 1)]
    assert [v.astimezone(utc) for v in out.column("t").to_pylist()] == table.column("t").to_pylist()


def test_server_side_parameter_binding(remote_wh):
    value = "it's a\ttab, a \\ backslash and a\nnewline"
    assert remote_wh.query_rows("SELECT {x:String} AS x", {"x": value}) == [(value,)]
    remote_wh.command("CREATE TABLE binds (k String, v UInt8) ENGINE = Memory")
    remote_wh.command("INSERT INTO binds VALUES ('a', 1), ('b', 2)")
    assert remote_wh.scalar("SELECT v FROM binds WHERE k = {k:String}", {"k": "b"}) == 2
    frame = remote_wh.query_df("SELECT k FROM binds WHERE v > {v:UInt8}", {"v": 1})
    assert frame["k"].tolist() == ["b"]


def test_clickhouse_error_becomes_warehouse_error(remote_wh):
    with pytest.raises(WarehouseError) as err:
        remote_wh.query_df("SELECT * FROM missing_table_xyz")
    message = str(err.value)
    assert "missing_table_xyz" in message
    assert "UNKNOWN_TABLE" in message
    assert "SELECT * FROM missing_table_xyz" in message  # the statement is shown
    with pytest.raises(WarehouseError, match="Syntax error"):
        remote_wh.command("CREATE TABLE broken (")


def test_unreachable_server_is_reported_quickly(tmp_path):
    port = closed_port()
    warehouse = make_warehouse(
        tmp_path, f"http://default:hunter2@127.0.0.1:{port}/?compress=0&connect_timeout=2"
    )
    started = time.monotonic()
    with pytest.raises(WarehouseError) as err:
        warehouse.tables()
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message
    assert "Check that the server runs" in message
    assert "STARLOOM_CLICKHOUSE_URL" in message
    assert "hunter2" not in message
    assert "hunter2" not in warehouse.describe()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://default@127.0.0.1:8123/",
        "127.0.0.1:8123",
        "http:///?compress=0",
        "http://default@127.0.0.1:port/",
        "http://default@127.0.0.1:99999/",
    ],
)
def test_malformed_url_is_a_config_error(tmp_path, url):
    with pytest.raises(ConfigError, match="Warehouse URL"):
        make_warehouse(tmp_path, url).tables()


# Two random-looking halves: a leak of either half of a password is a leak.
A, B = "pA55wdA9f3", "pB66wdB0e4"


@pytest.mark.parametrize(
    "userinfo_and_query",
    [
        (f"default:{A}#{B}", ""),
        (f"default:{A}/{B}", ""),
        (f"default:{A}?{B}", ""),
        (f"default:{A}@{B}", ""),
        (f"default:1234/{A}{B}", ""),  # urllib reads user "default", port 1234
        (f"default:{A}#/?@{B}", "?compress=0"),
        ("default", f"?password={A}{B}&connect_timeout=2"),
        ("default", f"?compress=0&pass={A}{B}"),
        ("default", f"?token={A}{B}"),
        ("default", f"?secret={A}{B}"),
        ("default", f"?key={A}{B}"),
    ],
)
def test_no_url_shape_shows_its_password(tmp_path, userinfo_and_query):
    userinfo, query = userinfo_and_query
    port = closed_port()
    url = f"http://{userinfo}@127.0.0.1:{port}/{query}"
    warehouse = make_warehouse(tmp_path, url)
    with pytest.raises((ConfigError, WarehouseError)) as err:
        warehouse.tables()
    message = str(err.value)
    for shown in (message, warehouse.describe()):
        assert A not in shown and B not in shown, shown
    assert "STARLOOM_CLICKHOUSE_PASSWORD" in message


@pytest.mark.parametrize("special", ["#", "/", "?"])
def test_an_unencoded_url_password_is_a_config_error_saying_what_to_do(tmp_path, special):
    url = f"http://default:{A}{special}{B}@127.0.0.1:{closed_port()}/"
    with pytest.raises(ConfigError, match="percent-encode") as err:
        make_warehouse(tmp_path, url).tables()
    assert "http://default:***@127.0.0.1:" in str(err.value)


def test_a_percent_encoded_url_password_is_decoded(tmp_path, clickhouse_server_factory):
    password = f"{A}#/?@:%{B}"
    server = clickhouse_server_factory(password=password)
    inline = server.url.replace("default@", f"default:{quote(password, safe='')}@")
    warehouse = make_warehouse(tmp_path, inline)
    assert warehouse.scalar("SELECT 1") == 1
    assert password not in warehouse.describe() and A not in warehouse.describe()


def test_wrong_password_is_refused(tmp_path, clickhouse_server_with_password):
    server = clickhouse_server_with_password
    with pytest.raises(WarehouseError) as err:
        make_warehouse(tmp_path, server.url, password="not-the-password").tables()
    message = str(err.value)
    assert "Authentication failed" in message
    assert "not-the-password" not in message and server.password not in message

    inline = server.url.replace("default@", "default:wrong-inline@")
    with pytest.raises(WarehouseError) as err:
        make_warehouse(tmp_path, inline).tables()
    assert "wrong-inline" not in str(err.value)
    assert "default:***@" in str(err.value)

    with pytest.raises(WarehouseError, match="Authentication failed"):
        make_warehouse(tmp_path, server.url).tables()  # no password at all


def test_right_password_from_the_environment(
    tmp_path, monkeypatch, clickhouse_server_with_password
):
    server = clickhouse_server_with_password
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", server.url)
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_PASSWORD", server.password)
    monkeypatch.setenv("STARLOOM_DATABASE", "t_db")
    settings = load_settings(tmp_path)
    assert settings.password == server.password and not settings.embedded
    warehouse = Warehouse(settings)
    warehouse.command("CREATE TABLE secured (x UInt8) ENGINE = Memory")
    warehouse.command("INSERT INTO secured VALUES (1), (2)")
    assert warehouse.count("secured") == 2
    assert server.password not in warehouse.describe()
    assert server.password not in repr(settings)


def test_sqlalchemy_dialect_reads_through_the_endpoint(remote_wh, clickhouse_server):
    remote_wh.command(
        "CREATE TABLE via_sqlalchemy (id UInt32, name String) ENGINE = MergeTree ORDER BY id"
    )
    remote_wh.insert_df("via_sqlalchemy", pd.DataFrame({"id": [1, 2], "name": ["one", "two"]}))
    engine = sa.create_engine(
        f"clickhousedb://default:@127.0.0.1:{clickhouse_server.port}/t_db?compress=False"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM via_sqlalchemy ORDER BY id"))
            assert rows.fetchall() == [(1, "one"), (2, "two")]
            bound = conn.execute(
                sa.text("SELECT id FROM via_sqlalchemy WHERE name = :n"), {"n": "two"}
            )
            assert bound.scalar() == 2
        assert "via_sqlalchemy" in sa.inspect(engine).get_table_names()
        frame = pd.read_sql_query(sa.text("SELECT * FROM via_sqlalchemy ORDER BY id"), engine)
        assert frame["name"].tolist() == ["one", "two"]
    finally:
        engine.dispose()
