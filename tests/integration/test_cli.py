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
    assert out == ["x_id  name", "   1  one", "   2  two"]
    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id", "--max-rows", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["x_id  name", "   1  one", "... 1 more rows (--max-rows to see more)"]
    assert main(["sql", "SELECT * FROM dim_x WHERE 0"]) == 0
    assert capsys.readouterr().out == "(no rows; columns: x_id, name)\n"
    assert main(["sql", "SELECT NULL AS n, 'a b' AS s"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n     s", "NULL  a b"]


def test_sql_table_shows_values_as_they_are_not_as_tsv_escapes(filled, capsys):
    sql = (
        "SELECT 'it''s' AS q, 'a\\tb' AS tab, 'back\\\\slash' AS bs, '\\\\N' AS not_null, "
        "'two\\nlines' AS nl, ['it''s'] AS arr"
    )
    assert main(["sql", sql]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("it's  a\tb  back\\slash  \\N        two")
    assert "two\nlines" in out and "['it\\'s']" in out  # an array: as its SQL literal


TRICKY = (
    "SELECT 1 AS id, 'a,b' AS c, 'say \"hi\"' AS q, 'two\\nlines' AS nl, 9007199254740993 AS big"
)


def test_sql_csv_and_json(filled, capsys):
    """CSV and JSON lines as Python's own csv and json modules read them back."""
    import csv
    import io

    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["x_id,name", "1,one", "2,two"]
    assert main(["sql", "SELECT toDate('2024-01-01') AS d, NULL AS n", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["d,n", "2024-01-01,"]
    assert main(["sql", TRICKY, "--format", "csv"]) == 0
    ((record),) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert record == {"id": "1", "c": "a,b", "q": 'say "hi"', "nl": "two\nlines",
                      "big": "9007199254740993"}  # fmt: skip
    assert main(["sql", "SELECT * FROM dim_x ORDER BY x_id", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"x_id": 1, "name": "one"}, {"x_id": 2, "name": "two"}]
    assert main(["sql", TRICKY, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "id": 1, "c": "a,b", "q": 'say "hi"', "nl": "two\nlines", "big": 9007199254740993
    }  # fmt: skip


def test_sql_loads_neither_the_client_library_nor_pandas(filled, tmp_path):
    """`starloom sql` on the embedded engine starts only what it needs (checked in a fresh
    process: the modules it imported)."""
    import subprocess
    import sys

    script = (
        "import sys; from starloom.cli import main; main(['sql', 'SELECT count() FROM dim_x']); "
        "print(sorted(m for m in ('pandas', 'clickhouse_connect') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["count()", "      2", "[]"]


def test_tables_lists_row_counts(filled, capsys):
    assert main(["tables"]) == 0
    out = capsys.readouterr().out
    assert "dim_x" in out and "embedded ClickHouse" in out


def test_tables_and_the_reports_index_leave_the_rows_of_a_view_blank(filled, project, capsys):
    from starloom.publish.reports import warehouse_summary_html

    filled.command("CREATE VIEW v_x AS SELECT * FROM dim_x")
    assert main(["tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[1:]] == [
        ["name", "engine", "rows"],
        ["dim_x", "MergeTree", "2"],
        ["v_x", "View"],
    ]
    html = warehouse_summary_html(filled.settings)
    assert "<td>v_x</td>" in html and "NA" not in html


def test_tables_counts_what_a_delete_left_as_count_does(filled, capsys):
    filled.command("CREATE TABLE many (n Int64) ENGINE = MergeTree ORDER BY n")
    filled.command("INSERT INTO many SELECT number FROM numbers(1000)")
    filled.command("DELETE FROM many WHERE n < 600")  # rows stay in the parts until a merge
    assert main(["tables"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["many"] == ["MergeTree", str(filled.count("many"))] == ["MergeTree", "400"]


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


def test_output_cut_short_by_the_reader_is_no_error(filled):
    """`starloom sql ... | head -1`: no traceback about a broken pipe, exit status 0."""
    import subprocess
    import sys

    script = "from starloom.cli import main; raise SystemExit(main(sys.argv[1:]))"
    done = subprocess.run(
        f"{sys.executable} -c 'import sys; {script}' sql "
        "'SELECT number FROM numbers(200000)' --max-rows 200000 | head -1; "
        "exit ${PIPESTATUS[0]}",
        shell=True, executable="/bin/bash", capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout == "number\n"
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
