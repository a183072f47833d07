"""The DDL the model runner generates, on one server and on a cluster (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starloom import models
from starloom.models.materializations import snapshot
from starloom.models.materializations.shared import describe_changes, schema_changes, spec_of
from starloom.settings import load_settings
from starloom.warehouse.ddl import Ddl, TableSpec

COLUMNS = [("order_item_id", "Int64"), ("updated_at", "DateTime64(3, 'UTC')")]
UPSERT = TableSpec(
    engine="ReplacingMergeTree",
    engine_args=("updated_at",),
    order_by=("`order_item_id`",),
    partition_by="toYYYYMM(order_date)",
    shard_by=("order_item_id",),
)


def test_single_server_ddl_is_plain():
    ddl = Ddl("shop")
    create = ddl.create_table("fct_orders", COLUMNS, UPSERT)
    assert create == [
        "CREATE TABLE `shop`.`fct_orders` (\n    `order_item_id` Int64,\n"
        "    `updated_at` DateTime64(3, 'UTC')\n)\nENGINE = ReplacingMergeTree(`updated_at`)\n"
        "PARTITION BY toYYYYMM(order_date)\nORDER BY (`order_item_id`)"
    ]
    assert ddl.exchange("t__new", "t") == ["EXCHANGE TABLES `shop`.`t__new` AND `shop`.`t`"]
    assert ddl.rename("t__new", "t", UPSERT) == ["RENAME TABLE `shop`.`t__new` TO `shop`.`t`"]
    assert ddl.drop_table("t") == ["DROP TABLE IF EXISTS `shop`.`t` SYNC"]
    assert ddl.insert_settings == {}
    assert "ON CLUSTER" not in ddl.create_view("v", "SELECT 1")


def test_a_table_without_keys_is_ordered_by_the_empty_tuple():
    (sql,) = Ddl("db").create_table("t", [("a", "Int64")], TableSpec())
    assert sql.endswith("ENGINE = MergeTree\nORDER BY (tuple())")


def test_cluster_ddl_uses_on_cluster_replicated_engines_and_a_distributed_table():
    ddl = Ddl("shop", cluster="main")
    local, dist = ddl.create_table("fct_orders", COLUMNS, UPSERT)
    assert local.startswith("CREATE TABLE `shop`.`fct_orders__local` ON CLUSTER `main` (")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', "
        "'{replica}', `updated_at`)" in local
    )
    assert dist == (
        "CREATE TABLE `shop`.`fct_orders` ON CLUSTER `main` AS `shop`.`fct_orders__local` "
        "ENGINE = Distributed('main', 'shop', 'fct_orders__local', cityHash64(`order_item_id`))"
    )
    assert ddl.insert_settings == {"distributed_foreground_insert": 1}


def test_cluster_swaps_exchange_the_local_tables_and_renames_recreate_the_distributed_one():
    ddl = Ddl("shop", cluster="main")
    assert ddl.exchange("t__new", "t") == [
        "EXCHANGE TABLES `shop`.`t__new__local` AND `shop`.`t__local` ON CLUSTER `main`"
    ]
    rename = ddl.rename("t__new", "t", TableSpec())
    assert rename[0] == "RENAME TABLE `shop`.`t__new__local` TO `shop`.`t__local` ON CLUSTER `main`"
    assert rename[1] == "DROP TABLE IF EXISTS `shop`.`t__new` ON CLUSTER `main` SYNC"
    assert rename[2].endswith("Distributed('main', 'shop', 't__local', rand())")
    assert ddl.drop_table("t") == [
        "DROP TABLE IF EXISTS `shop`.`t` ON CLUSTER `main` SYNC",
        "DROP TABLE IF EXISTS `shop`.`t__local` ON CLUSTER `main` SYNC",
    ]


def test_cluster_partition_replace_and_alters_touch_the_right_tables():
    ddl = Ddl("shop", cluster="main")
    assert ddl.replace_partitions("t", ["20240105", "20240106"], "t__new") == (
        "ALTER TABLE `shop`.`t__local` ON CLUSTER `main` REPLACE PARTITION ID '20240105' "
        "FROM `shop`.`t__new__local`, REPLACE PARTITION ID '20240106' FROM `shop`.`t__new__local`"
    )
    assert ddl.attach_partitions("t", ["all"], "t__new") == (
        "ALTER TABLE `shop`.`t__local` ON CLUSTER `main` ATTACH PARTITION ID 'all' "
        "FROM `shop`.`t__new__local`"
    )
    assert Ddl("shop").attach_partitions("t", ["202401"], "t__new") == (
        "ALTER TABLE `shop`.`t` ATTACH PARTITION ID '202401' FROM `shop`.`t__new`"
    )
    alters = ddl.alter_columns("t", ["ADD COLUMN `x` Int64"])
    assert alters == [
        "ALTER TABLE `shop`.`t__local` ON CLUSTER `main` ADD COLUMN `x` Int64",
        "ALTER TABLE `shop`.`t` ON CLUSTER `main` ADD COLUMN `x` Int64",
    ]
    assert ddl.alter_columns("t", []) == []
    assert ddl.create_view("v", "SELECT 1").startswith(
        "CREATE OR REPLACE VIEW `shop`.`v` ON CLUSTER `main` AS"
    )


def test_names_that_need_quoting_are_quoted_everywhere():
    ddl = Ddl("we`ird", cluster="c'1")
    (local, dist) = ddl.create_table("a`b", [("c`d", "Int64")], TableSpec())
    assert "`we\\`ird`.`a\\`b__local` ON CLUSTER `c'1`" in local and "`c\\`d` Int64" in local
    assert "Distributed('c\\'1', 'we`ird', 'a`b__local', rand())" in dist


def test_the_demo_models_generate_the_engines_their_headers_ask_for():
    sql_dir = Path(__file__).resolve().parents[2] / "sql"
    all_models = models.load_models(sql_dir)
    fct = spec_of(all_models["fct_orders"], upsert=True)
    assert fct.engine == "ReplacingMergeTree" and fct.engine_args == ("updated_at",)
    assert fct.order_by == ("`order_item_id`",)
    snp = snapshot.spec_of(all_models["snp_customers"])
    assert snp.order_by == ("`customer_id`", "valid_from") and snp.engine_args == ("_version",)
    sql = Ddl("starloom", cluster="prod").create_table("snp_customers__data", COLUMNS, snp)
    assert "ReplicatedReplacingMergeTree(" in sql[0]
    assert "cityHash64(`customer_id`)" in sql[1]


def test_schema_changes_are_listed_by_kind():
    old = [("a", "Int64"), ("b", "String"), ("c", "Date")]
    new = [("a", "Int64"), ("b", "Int32"), ("d", "Float64")]
    changes = schema_changes(old, new)
    assert changes == {
        "added": [("d", "Float64")],
        "removed": ["c"],
        "retyped": [("b", "String", "Int32")],
    }
    text = describe_changes(changes)
    assert "new columns d Float64" in text and "no longer selected c" in text
    assert "b String -> Int32" in text


@pytest.mark.parametrize(
    ("env", "yaml_value", "expected"),
    [({}, "", ""), ({}, "prod", "prod"), ({"STARLOOM_CLUSTER": "ci"}, "prod", "ci")],
)
def test_the_cluster_name_comes_from_env_yaml_or_the_environment(
    tmp_path, monkeypatch, env, yaml_value, expected
):
    monkeypatch.delenv("STARLOOM_CLUSTER", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    (tmp_path / "env.yaml").write_text(f"warehouse:\n  cluster: {yaml_value!r}\n")
    assert load_settings(tmp_path).cluster == expected


def test_a_column_key_the_runner_does_not_know_is_refused(tmp_path):
    from starloom.errors import ModelError
    from starloom.models import load_models

    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "dim_x.sql").write_text(
        "/* ---\ndescription: x\nmaterialization: view\ncolumns:\n"
        "  x_id: {description: the key, unique per row}\n--- */\nSELECT 1 AS x_id\n"
    )
    with pytest.raises(ModelError, match=r"column x_id has unknown key\(s\) \['unique per row'\]"):
        load_models(tmp_path)
