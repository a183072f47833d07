"""The %sql / %%sql magics in a real IPython shell against the real embedded engine."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from starloom.magic import SqlMagicError, bind_parameters, returns_rows, split_options

# -- placeholders (no engine) ------------------------------------------------------------


def test_placeholders_become_typed_parameters_and_values_stay_out_of_the_sql():
    sneaky = "x' OR 1 = 1 --"
    sql, params = bind_parameters(
        "SELECT * FROM t WHERE name = {who} AND day >= :since AND n < {n:UInt8}",
        {"who": sneaky, "since": dt.date(2024, 1, 2), "n": 5},
    )
    assert sql == (
        "SELECT * FROM t WHERE name = {who:String} AND day >= {since:Date32} AND n < {n:UInt8}"
    )
    assert params == {"who": sneaky, "since": dt.date(2024, 1, 2), "n": 5}
    assert sneaky not in sql


def test_quoted_text_comments_and_casts_are_left_alone():
    text = (
        "SELECT '{a} :a', \"{a}\", `:a`, x::Int32, {'k': 1} -- {a} :a\n"
        "/* :a {a} */ FROM t WHERE y = :a"
    )
    sql, params = bind_parameters(text, {"a": 1})
    assert params == {"a": 1}
    assert sql == text.replace("y = :a", "y = {a:Int64}")


@pytest.mark.parametrize(
    "literal",
    [
        "'it''s :a and {a}'",  # '' escape
        "'it\\'s :a and {a}'",  # \' escape
        "'a backslash \\\\', ':a'",  # an escaped backslash ends the literal
        "'''' || ':a'",  # a lone quote, then another literal
        "'line one\n:a {a}'",
        "$$ :a {a} $$",
        '$$it\'s :a, {a} and "a"$$',  # a quote inside $$...$$ opens no literal
        "$$it's$$ || ':a {a}'",  # ... so the next literal is still one
        "$tag$ :a $$ {a} $tag$",  # tagged: ends only at its own tag
        "$$multi\nline :a$$",
        "-- :a {a} it's\n",
        "/* :a\n {a} it's */",
        "# :a {a} it's\n",  # ClickHouse's other line comments
        "#! :a {a}\n",
    ],
)
def test_string_literals_and_comments_are_left_alone(literal):
    text = f"SELECT {literal}, :a, {{a}} FROM t"
    sql, params = bind_parameters(text, {"a": 1})
    assert sql == f"SELECT {literal}, {{a:Int64}}, {{a:Int64}} FROM t"
    assert params == {"a": 1}


def test_dollars_inside_a_name_open_no_string():
    sql, params = bind_parameters("SELECT a$b$ + :a, c$$ FROM t", {"a": 1})
    assert sql == "SELECT a$b$ + {a:Int64}, c$$ FROM t" and params == {"a": 1}


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, "Bool"),
        (3, "Int64"),
        (2.5, "Float64"),
        ("s", "String"),
        (dt.datetime(2024, 1, 1, 12), "DateTime64(6)"),
        (None, "Nullable(String)"),
        ([1, 2], "Array(Int64)"),
        (("a", "b"), "Array(String)"),
    ],
)
def test_python_values_get_a_clickhouse_type(value, expected):
    sql, _ = bind_parameters("SELECT {v}", {"v": value})
    assert sql == "SELECT {v:" + expected + "}"


def test_missing_variables_and_unbindable_values_are_clear_errors():
    with pytest.raises(SqlMagicError, match="no variable of that name"):
        bind_parameters("SELECT :nope", {})
    with pytest.raises(SqlMagicError, match=r"\{ids:Array\(UInt64\)\}"):
        bind_parameters("SELECT {ids}", {"ids": []})
    with pytest.raises(SqlMagicError, match="cannot be bound without a type"):
        bind_parameters("SELECT {o}", {"o": object()})


def test_statement_kind_and_options():
    assert returns_rows("-- note\n  with x AS (SELECT 1) SELECT * FROM x")
    assert returns_rows("# note\n#! another\nSELECT 1")
    assert not returns_rows("CREATE TABLE t (a Int8) ENGINE = Memory")
    assert split_options("-o result") == ("result", "")
    assert split_options("--out=r SELECT 1") == ("r", " SELECT 1")
    assert split_options("SELECT -1") == (None, "SELECT -1")
    with pytest.raises(SqlMagicError, match="the only option is"):
        split_options("--limit 5")


# -- in a shell, on the embedded warehouse ---------------------------------------------------


@pytest.fixture
def shell(wh):
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "starloom")
    ip.user_ns.pop("result", None)
    return ip


def _run(shell, code: str):
    return shell.run_cell(code, store_history=False)


def test_cell_magic_returns_a_dataframe_and_stores_it_with_o(shell, wh):
    wh.command(
        "CREATE TABLE people (id UInt32, name String, born Date) ENGINE = MergeTree ORDER BY id"
    )
    wh.command(
        "INSERT INTO people VALUES (1, 'ann', '1990-01-02'), (2, 'bob', '1985-06-30'), "
        "(3, 'o''hara', '2001-12-24')"
    )
    shell.user_ns.update(after=dt.date(1986, 1, 1), who="o'hara", ids=[1, 3])
    outcome = _run(
        shell,
        "%%sql -o result\n"
        "SELECT id, name FROM people\n"
        "WHERE born > {after} AND (name = :who OR id IN {ids})\n"
        "ORDER BY id",
    )
    assert outcome.error_in_exec is None, outcome.error_in_exec
    df = shell.user_ns["result"]
    assert isinstance(df, pd.DataFrame)
    assert df.to_dict("records") == [{"id": 1, "name": "ann"}, {"id": 3, "name": "o'hara"}]
    assert outcome.result is df


def test_line_magic_is_not_string_formatted_by_ipython(shell, wh):
    shell.user_ns["n"] = 41
    outcome = _run(shell, "%sql SELECT {n} + 1 AS answer, '{n}' AS text")
    assert outcome.error_in_exec is None, outcome.error_in_exec
    assert outcome.result.to_dict("records") == [{"answer": 42, "text": "{n}"}]


def test_commands_run_and_return_nothing(shell, wh):
    shell.user_ns["rows"] = 7
    created = _run(shell, "%sql CREATE TABLE nums (n UInt64) ENGINE = MergeTree ORDER BY n")
    assert created.error_in_exec is None and created.result is None
    outcome = _run(shell, "%sql INSERT INTO nums SELECT number FROM numbers({rows})")
    assert outcome.error_in_exec is None and outcome.result is None
    assert wh.count("nums") == 7


def test_literals_and_comments_reach_the_engine_as_written(shell, wh):
    shell.user_ns["a"] = 5
    select = "SELECT $$it's :a {a}$$ AS heredoc, 'it''s :a' AS quoted, :a AS a"
    outcome = _run(shell, f"%%sql\n{select} -- :a\n# :a {{a}}\n")
    assert outcome.error_in_exec is None, outcome.error_in_exec
    assert outcome.result.to_dict("records") == [
        {"heredoc": "it's :a {a}", "quoted": "it's :a", "a": 5}
    ]


def test_errors_name_the_problem(shell, wh):
    outcome = _run(shell, "%sql SELECT * FROM t WHERE x = :undefined_here")
    assert isinstance(outcome.error_in_exec, SqlMagicError)
    outcome = _run(shell, "%sql SELECT * FROM no_such_table")
    assert "no_such_table" in str(outcome.error_in_exec)


@pytest.mark.slow
def test_magic_runs_on_a_clickhouse_server_too(shell, project, clickhouse_server, monkeypatch):
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", clickhouse_server.url)
    shell.user_ns.update(word="it's", n=3)
    outcome = _run(
        shell,
        "%%sql -o result\nSELECT number, {word} AS word FROM numbers(10) WHERE number < :n",
    )
    assert outcome.error_in_exec is None, outcome.error_in_exec
    assert shell.user_ns["result"].to_dict("list") == {"number": [0, 1, 2], "word": ["it's"] * 3}
    # it went to the server: the project's embedded warehouse was never created
    assert not (project / ".warehouse").exists()
