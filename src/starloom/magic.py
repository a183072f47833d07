"""The `%sql` / `%%sql` magics: ClickHouse SQL in a notebook, against the configured warehouse.

    %load_ext starloom

    %%sql -o top
    SELECT customer_id, sum(line_revenue) AS revenue FROM fct_orders
    WHERE order_date >= {since} AND category = :category
    GROUP BY customer_id ORDER BY revenue DESC LIMIT {n}

    %sql SELECT count() FROM dim_customers

The query runs through starloom.warehouse (embedded chdb or a server, the same settings as
the headless build) on a connection opened for that one query, and its rows come back as a
pandas DataFrame. `-o NAME` (or `--out NAME`) also stores the result in the variable NAME.
A statement that returns no rows (CREATE, INSERT, ...) runs as a command and shows nothing.

Values come from the notebook's variables and are sent to ClickHouse as query parameters,
never pasted into the SQL text: `{name}` and `:name` bind the variable `name` with a type
inferred from its Python value (int -> Int64, float -> Float64, str -> String, bool -> Bool,
date -> Date32, datetime -> DateTime64(6), a list or tuple -> Array(...), None -> Nullable);
`{name:Type}` (ClickHouse's own syntax) binds it with the type given. String literals
('...' with '' or \\' escapes, and $$...$$ or $tag$...$tag$), quoted names ("..." and
`...`) and comments (--, # and /* */) are left alone, as ClickHouse reads them, and so is
the cast operator `::`.

Why not jupysql: with clickhouse-connect's SQLAlchemy dialect it does reach embedded chdb
(`clickhousedb:///db?interface=chdb&path=...`) and servers, but it keeps its connection open
between cells, so an idle kernel holds the embedded warehouse and the next build cannot open
it; its `:name` values are formatted into the SQL text by the DB-API layer; and its connection
string would carry the server password. This module is a thin layer over Warehouse instead.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from starloom.errors import StarloomError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKENS = re.compile(
    r"""
    (?P<skip>
        '(?:[^'\\]|\\.|'')*'          # string literal, with '' or \' for a quote
      | (?<![\w$])\$(?P<tag>[A-Za-z0-9_]*)\$.*?\$(?P=tag)\$  # string: $$...$$, $t$...$t$
      | "(?:[^"\\]|\\.)*"             # quoted identifier
      | `(?:[^`\\]|\\.)*`             # quoted identifier
      | --[^\n]*                      # line comment
      | \#[ !][^\n]*                  # line comment: "# " or "#!"
      | /\*.*?\*/                     # block comment
      | ::                            # cast operator
    )
    | \{\s*(?P<brace>"""
    + _IDENT
    + r""")\s*(?::\s*(?P<type>[^{}]+?))?\s*\}
    | (?<![\w:]):(?P<colon>"""
    + _IDENT
    + r""")
    """,
    re.S | re.X,
)
_ROWS_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "(")
_OUT_OPTION = re.compile(r"^\s*(?:-o|--out)(?:\s+|=)(" + _IDENT + r")(?=\s|$)")


class SqlMagicError(StarloomError):
    """A %sql cell names a variable that does not exist or cannot be bound."""


def clickhouse_type(value: Any) -> str:
    """The ClickHouse type a Python value is bound as when its placeholder gives none."""
    import numpy as np

    if value is None:
        return "Nullable(String)"
    if isinstance(value, bool | np.bool_):
        return "Bool"
    if isinstance(value, int | np.integer):
        return "Int64"
    if isinstance(value, float | np.floating):
        return "Float64"
    if isinstance(value, decimal.Decimal):
        return "Decimal(38, 10)"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dt.datetime):
        return "DateTime64(6)"
    if isinstance(value, dt.date):
        return "Date32"
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if not items:
            raise SqlMagicError(
                "An empty list cannot be bound without a type: write the placeholder with its "
                "type, for example {ids:Array(UInt64)}."
            )
        inner = {clickhouse_type(item) for item in items}
        if len(inner) != 1:
            raise SqlMagicError(
                f"A list mixing {', '.join(sorted(inner))} cannot be bound: give its element "
                "type in the placeholder, for example {values:Array(String)}."
            )
        return f"Array({inner.pop()})"
    raise SqlMagicError(
        f"A value of type {type(value).__name__} cannot be bound without a type: write the "
        "placeholder with a ClickHouse type, for example {name:String}."
    )


def _bindable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item") and not isinstance(value, list | tuple | str):
        return value.item()  # numpy scalars
    return value


def bind_parameters(sql: str, namespace: dict) -> tuple[str, dict]:
    """The SQL with `{name}` and `:name` turned into typed placeholders, and their values.

    Only placeholders change; values are returned apart, to be sent as query parameters.
    """
    parameters: dict[str, Any] = {}

    def lookup(name: str) -> Any:
        if name not in namespace:
            raise SqlMagicError(
                f"The query uses the parameter {name!r} but the notebook has no variable of that "
                f"name: assign it first (for example {name} = ...), or quote the text if it is "
                "not a parameter."
            )
        return namespace[name]

    def replace(match: re.Match) -> str:
        if match.group("skip"):
            return match.group(0)
        name = match.group("brace") or match.group("colon")
        value = _bindable(lookup(name))
        type_ = match.group("type") or clickhouse_type(value)
        parameters[name] = value
        return "{" + name + ":" + type_.strip() + "}"

    return _TOKENS.sub(replace, sql), parameters


def returns_rows(sql: str) -> bool:
    """Whether a statement gives rows (SELECT, WITH, SHOW, ...) rather than being a command.
    Leading comments of every kind ClickHouse knows (--, # , #! and /* */) are skipped."""
    text = re.sub(r"--[^\n]*|#[ !][^\n]*|/\*.*?\*/", " ", sql, flags=re.S).lstrip().upper()
    return text.startswith(_ROWS_STATEMENTS)


def split_options(line: str) -> tuple[str | None, str]:
    """(`-o` variable name or None, the rest of the line)."""
    match = _OUT_OPTION.match(line)
    if not match:
        if line.strip().startswith("-"):
            raise SqlMagicError(
                f"%sql does not understand {line.strip().split()[0]!r}: the only option is "
                "-o NAME (or --out NAME), which stores the result in the variable NAME."
            )
        return None, line
    return match.group(1), line[match.end() :]


def run_sql(sql: str, namespace: dict | None = None, warehouse=None):
    """Run one statement against the configured warehouse; a DataFrame, or None for a command."""
    from starloom.warehouse import connect

    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise SqlMagicError("The %sql cell holds no statement: write a query below %%sql.")
    query, parameters = bind_parameters(sql, namespace or {})
    wh = warehouse or connect()
    if returns_rows(query):
        return wh.query_df(query, parameters or None)
    wh.command(query, parameters or None)
    return None


def _sql_magic(shell, line: str, cell: str | None):
    out, rest = split_options(line)
    sql = cell if cell is not None else rest
    if cell is not None and rest.strip():
        raise SqlMagicError(
            f"Unexpected text after %%sql options: {rest.strip()!r}. Put the query on the lines "
            "below %%sql; the first line takes only -o NAME."
        )
    result = run_sql(sql, shell.user_ns)
    if out:
        shell.user_ns[out] = result
    return result


def register(ipython) -> None:
    """Register %sql and %%sql (`%load_ext starloom` does, with the short error display)."""
    from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

    @magics_class
    class SqlMagics(Magics):
        @no_var_expand
        @line_cell_magic
        def sql(self, line: str, cell: str | None = None):
            """Run ClickHouse SQL on the configured warehouse; see starloom.magic."""
            return _sql_magic(self.shell, line, cell)

    ipython.register_magics(SqlMagics)
