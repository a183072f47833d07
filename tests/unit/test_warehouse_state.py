"""The bookkeeping tables' registry and every DDL statement starloom renders: accepted by
the engine's own parser (chdb in-process, EXPLAIN AST: no table is made), on one server and
on a cluster; and the table in docs/project.md is the registry's."""

from __future__ import annotations

import re
from pathlib import Path

import chdb
import pytest

from starloom.warehouse import state
from starloom.warehouse.ddl import Ddl, TableSpec, add_column, drop_column, modify_column

DOCS = Path(__file__).resolve().parents[2] / "docs" / "project.md"
PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")
CLUSTERS = ["", "main"]


def parse(statement: str) -> str:
    """The engine's syntax tree of `statement` (query parameters read as NULL); raises on
    a syntax error."""
    bare = PLACEHOLDER.sub("NULL", statement)
    return str(chdb.query("EXPLAIN AST " + bare))


def _ddl_statements(ddl: Ddl) -> list[str]:
    spec = TableSpec(
        engine="ReplacingMergeTree",
        engine_args=("updated_at",),
        order_by=("`id`",),
        partition_by="toYYYYMM(day)",
        shard_by=("id",),
    )
    columns = [("id", "Int64"), ("day", "Date32"), ("updated_at", "DateTime64(3, 'UTC')")]
    columns_default = [*columns, ("note", "String DEFAULT 'none'")]
    return [
        *ddl.create_table("t", columns_default, spec),
        *ddl.create_table("t", columns, TableSpec(), if_not_exists=True),
        *ddl.create_like("t__aside", "t", spec),
        *ddl.create_marker("t__moving"),
        *ddl.drop_marker("t__moving"),
        *ddl.drop_table("t"),
        *ddl.exchange("t__new", "t"),
        *ddl.rename("t__new", "t", spec),
        ddl.replace_partitions("t", ["20240105", "20240106"], "t__new"),
        ddl.attach_partitions("t", ["all", "202401"], "t__new"),
        ddl.drop_partition("t", "20240105"),
        ddl.delete_rows("t", "_source_file = {f:String}"),
        ddl.lightweight_delete("t", "id IN {ids:Array(Int64)}"),
        *ddl.alter_columns(
            "t",
            [
                add_column("a", "Int64"),
                add_column("b", "String DEFAULT ''", "a", if_not_exists=True),
                add_column("c", "UInt8", first=True),
                drop_column("x"),
                modify_column("y", "Nullable(Int64)"),
            ],
        ),
        ddl.create_view("v", "SELECT 1 AS x"),
        ddl.drop_view("v"),
    ]


def _state_statements(ddl: Ddl) -> list[str]:
    out = []
    for table in state.TABLES.values():
        out += state.create_statements(ddl, table)
        out += state.add_column_statements(ddl, table, table.column_names())
    out.append(state.record_versions_sql(ddl, state.TABLES.values()))
    return out


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_statement_of_ddl_is_accepted_by_the_engines_parser(cluster):
    for statement in _ddl_statements(Ddl("shop", cluster)):
        assert parse(statement), statement


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_statement_of_the_registry_is_accepted_by_the_engines_parser(cluster):
    for statement in _state_statements(Ddl("starloom", cluster)):
        assert parse(statement), statement


def test_the_parser_check_catches_a_syntax_error():
    with pytest.raises(Exception, match="Syntax error"):
        parse("CREATE TABLE `a`.`b` (x String")


def test_on_a_cluster_every_statement_goes_on_cluster_with_replicated_engines():
    ddl = Ddl("starloom", "main")
    for statement in _ddl_statements(ddl) + _state_statements(ddl):
        if statement.startswith(("CREATE", "ALTER", "DROP", "EXCHANGE", "RENAME", "DELETE")):
            assert " ON CLUSTER `main`" in statement, statement
        if statement.startswith("CREATE TABLE") and "Distributed(" not in statement:
            assert "ENGINE = Replicated" in statement, statement
    loads = state.create_statements(ddl, state.TABLES["starloom_loads"])
    assert loads[0].startswith(
        "CREATE TABLE IF NOT EXISTS `starloom`.`starloom_loads__local` ON CLUSTER `main` ("
    )
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')"
        in (loads[0])
    )
    assert loads[1] == (
        "CREATE TABLE IF NOT EXISTS `starloom`.`starloom_loads` ON CLUSTER `main` AS "
        "`starloom`.`starloom_loads__local` ENGINE = Distributed('main', 'starloom', "
        "'starloom_loads__local', cityHash64(`source`, `entity`, `started_at`))"
    )
    manifest = state.create_statements(ddl, state.TABLES["starloom_manifest"])[0]
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', "
        "`loaded_at`)" in manifest
    )
    assert ddl.create_marker("t__moving") == [
        "CREATE TABLE IF NOT EXISTS `starloom`.`t__moving` ON CLUSTER `main` "
        "(`started` DateTime) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', "
        "'{replica}') ORDER BY (tuple())"
    ]
    assert ddl.delete_rows("t", "x = 1") == (
        "ALTER TABLE `starloom`.`t__local` ON CLUSTER `main` DELETE WHERE x = 1"
    )


def test_on_one_server_the_statements_are_plain():
    ddl = Ddl("starloom")
    for statement in _ddl_statements(ddl) + _state_statements(ddl):
        assert "ON CLUSTER" not in statement and "Replicated" not in statement, statement
    assert ddl.create_like("a", "b", TableSpec()) == [
        "CREATE TABLE `starloom`.`a` AS `starloom`.`b`"
    ]
    (quarantine,) = state.create_statements(ddl, state.TABLES["starloom_quarantine"])
    assert "`quarantined_at` DateTime64(3, 'UTC') DEFAULT now64(3)" in quarantine
    assert quarantine.endswith("ENGINE = MergeTree\nORDER BY (`source`, `entity`, `partition`)")


def test_added_columns_keep_their_defaults_and_are_added_only_if_absent():
    (alter,) = state.add_column_statements(
        Ddl("db"), state.TABLES["starloom_quarantine"], ["quarantined_at"]
    )
    assert alter == (
        "ALTER TABLE `db`.`starloom_quarantine` ADD COLUMN IF NOT EXISTS `quarantined_at` "
        "DateTime64(3, 'UTC') DEFAULT now64(3)"
    )
    assert state.add_column_statements(Ddl("db"), state.TABLES["starloom_loads"], []) == []


def test_migration_creates_absent_tables_and_adds_only_missing_columns():
    loads = state.TABLES["starloom_loads"]
    old = set(loads.column_names()) - {"run_id", "notes"}
    statements = state.migration(Ddl("db"), {"starloom_loads": old}, [loads])
    assert statements == [
        "ALTER TABLE `db`.`starloom_loads` ADD COLUMN IF NOT EXISTS `notes` Array(String), "
        "ADD COLUMN IF NOT EXISTS `run_id` String"
    ]
    up_to_date = {t: set(state.TABLES[t].column_names()) for t in state.TABLES}
    assert state.migration(Ddl("db"), up_to_date) == []
    created = state.migration(Ddl("db"), {})
    assert len(created) == len(state.TABLES)
    assert all(s.startswith("CREATE TABLE IF NOT EXISTS") for s in created)


def test_the_registry_declares_each_table_once_with_a_version():
    for name, table in state.TABLES.items():
        assert name == table.name and name.startswith("starloom_")
        names = table.column_names()
        assert len(names) == len(set(names)), name
        assert set(table.order_by) <= set(names), name
        assert table.version >= 1 and table.holds
        assert all(c.since <= table.version for c in table.columns)
    assert state.STATE in state.TABLES


def test_docs_list_every_bookkeeping_table_as_the_registry_does():
    text = DOCS.read_text()
    section = text.split("## Bookkeeping tables", 1)[1].split("\n## ", 1)[0]
    assert state.markdown_table() in section, (
        "docs/project.md's bookkeeping tables differ from starloom.warehouse.state; "
        "paste state.markdown_table() there:\n" + state.markdown_table()
    )
