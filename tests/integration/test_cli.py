"""The `starloom` command against a real embedded warehouse."""

from __future__ import annotations

import json

import pytest

from starloom.cli import main


@pytest.fixture
def filled(wh):
    wh.command("CREATE TABLE dim_x (x_id Int64, name String) ENGINE = MergeTree ORDER BY x_id")
    wh.command("INSERT INTO dim_x VALUES (1, 'one'), (2, 'two')")
    return wh


def test_sql_prints_a_table(filled, capsys):
    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["x_id", "name"] and out[2].split() == ["2", "two"]


def test_sql_csv_and_json(filled, capsys):
    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["x_id,name", "1,one", "2,two"]
    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"x_id": 1, "name": "one"}, {"x_id": 2, "name": "two"}]


def test_tables_lists_row_counts(filled, capsys):
    assert main(["tables"]) == 0
    out = capsys.readouterr().out
    assert "dim_x" in out and "embedded ClickHouse" in out


def test_errors_are_one_paragraph_without_traceback(filled, capsys):
    assert main(["sql", "SELECT * FROM nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ClickHouse refused a query") and "Traceback" not in err
    assert "UNKNOWN_TABLE" in err


def test_unreachable_server_is_a_clear_error(project, monkeypatch, capsys):
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", "http://default@127.0.0.1:9/?connect_timeout=2")
    assert main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert "Could not reach the ClickHouse server at http://default@127.0.0.1:9" in err
    assert "unset STARLOOM_CLICKHOUSE_URL" in err
