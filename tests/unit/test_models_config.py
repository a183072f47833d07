"""A model's header read into a typed ModelConfig: every key checked where it is parsed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.support.project import write_model

from starloom.errors import ModelError
from starloom.keys import MODEL, MODEL_COLUMN
from starloom.models import load_models
from starloom.models.config import (
    MATERIALIZATIONS,
    READERS,
    ColumnConfig,
    DataTest,
    ModelConfig,
    parse_config,
)
from starloom.models.materializations import BUILDERS

WHERE = "sql/marts/fct_x.sql"
NEEDS = {  # the least each materialization needs besides its name
    "view": {},
    "table": {"order_by": "id"},
    "incremental": {"incremental_strategy": "upsert", "unique_key": "id", "version": "v"},
    "snapshot": {"unique_key": ["id"], "strategy": "check", "check_cols": ["a", "b"]},
}


def test_the_keys_read_are_the_keys_documented():
    fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"written"}
    assert fields == set(READERS) == set(MODEL)
    assert {f.name for f in dataclasses.fields(ColumnConfig)} == set(MODEL_COLUMN)
    assert set(BUILDERS) == set(MATERIALIZATIONS) == set(NEEDS)


def test_an_empty_header_takes_the_defaults():
    assert parse_config(None, WHERE) == ModelConfig()
    assert parse_config({"description": "x", "order_by": None}, WHERE) == ModelConfig("x")


@pytest.mark.parametrize("materialization", MATERIALIZATIONS)
def test_each_materialization_parses(materialization):
    header = {"description": "d", "materialization": materialization, **NEEDS[materialization]}
    config = parse_config(header, WHERE)
    assert config.materialization == materialization
    assert config.written is header  # what a build's signature hashes, as it was written


def test_values_are_read_into_their_types():
    config = parse_config(
        {
            "materialization": "incremental",
            "order_by": "day",
            "unique_key": ["a", "b"],
            "incremental_strategy": "replace_partitions",
            "partition_by": "toYYYYMM(day)",
            "lookback_days": 3,
            "settings": {"join_algorithm": "grace_hash"},
            "columns": {
                "a": {"description": "A", "tests": ["unique", {"not_null": {"severity": "warn"}}]},
                "b": None,
                "c": {
                    "tests": [{"relationships": {"to": "dim_c", "field": "c"}, "severity": "warn"}]
                },
            },
            "tests": [{"sql": "SELECT 1 WHERE 0", "name": "none"}],
        },
        WHERE,
    )
    assert config.order_by == ("day",) and config.unique_key == ("a", "b")
    assert config.lookback_days == 3 and config.settings == {"join_algorithm": "grace_hash"}
    assert config.columns["a"].tests == (DataTest("unique"), DataTest("not_null", "warn"))
    assert config.columns["b"] == ColumnConfig()
    assert config.columns["c"].tests == (DataTest("relationships", "warn", to="dim_c", field="c"),)
    assert [(c, t.label) for c, t in config.declared_tests()] == [
        ("a", "unique"),
        ("a", "not_null"),
        ("c", "relationships"),
        ("", "none"),
    ]


def test_an_unknown_key_is_an_error_naming_the_file_and_the_closest_key():
    with pytest.raises(ModelError, match="unknown key `order_bye`. Did you mean `order_by`") as e:
        parse_config({"order_bye": ["id"]}, WHERE)
    assert WHERE in str(e.value)
    with pytest.raises(ModelError, match="column id has unknown key.*Did you mean `tests`"):
        parse_config({"columns": {"id": {"test": ["unique"]}}}, WHERE)


@pytest.mark.parametrize(
    "header,message",
    [
        ({"lookback_days": "3"}, "lookback_days must be a whole number of days"),
        ({"lookback_days": True}, "lookback_days must be a whole number of days"),
        ({"order_by": {"a": 1}}, "`order_by` must be a column name or a list"),
        ({"unique_key": ["a", 1]}, "`unique_key` must be a column name or a list"),
        ({"description": ["a"]}, "`description` must be text"),
        ({"invalidate_hard_deletes": "no"}, "`invalidate_hard_deletes` must be true or false"),
        ({"settings": ["max_threads"]}, "settings must map ClickHouse setting names"),
        ({"columns": ["a"]}, "`columns` must be a mapping"),
        ({"tests": {"sql": "SELECT 1"}}, "`tests` must be a list"),
        ({"materialization": "ephemeral"}, "materialization 'ephemeral' is not one of"),
        ({"on_schema_change": "ignore"}, "on_schema_change 'ignore' is not one of"),
        ({"columns": {"a": {"type": 1}}}, "column a: `type` must be text"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_naming_the_key(header, message):
    with pytest.raises(ModelError, match=WHERE) as info:
        parse_config(header, WHERE)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "header,message",
    [
        ({"materialization": "snapshot", "unique_key": "id"}, "a snapshot needs `strategy:`"),
        ({**NEEDS["snapshot"], "materialization": "snapshot", "unique_key": None}, "unique_key"),
        ({**NEEDS["snapshot"], "materialization": "snapshot", "check_cols": []}, "check_cols"),
        ({**NEEDS["incremental"], "materialization": "incremental", "version": None}, "version"),
        (
            {"materialization": "incremental", "incremental_strategy": "replace_partitions"},
            "needs partition_by",
        ),
    ],
)
def test_a_key_the_materialization_needs_is_named_when_missing(header, message):
    with pytest.raises(ModelError, match=WHERE) as info:
        parse_config(header, WHERE)
    assert message in str(info.value)


def test_an_unknown_test_kind_names_the_model_the_column_and_the_kind():
    with pytest.raises(ModelError) as info:
        parse_config({"columns": {"amount": {"tests": ["not_nul"]}}}, WHERE)
    message = str(info.value)
    assert "fct_x.sql: column amount: unknown test 'not_nul'" in message
    assert "Did you mean 'not_null'?" in message and "Column tests: unique, not_null" in message
    with pytest.raises(ModelError, match="model tests: unknown test 'unique'.*under the column"):
        parse_config({"tests": ["unique"]}, WHERE)


def test_an_unknown_test_argument_names_the_closest():
    with pytest.raises(ModelError, match="relationships has no argument `feild`. Did you mean"):
        parse_config(
            {"columns": {"a": {"tests": [{"relationships": {"to": "d", "feild": "a"}}]}}}, WHERE
        )


def test_a_model_file_with_an_unknown_test_kind_does_not_load(tmp_path):
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "dim_x.sql").write_text(
        "/* ---\ncolumns:\n  x_id: {tests: [uniqe]}\n--- */\nSELECT 1 AS x_id\n"
    )
    with pytest.raises(ModelError, match=r"dim_x.sql: column x_id: unknown test 'uniqe'"):
        load_models(tmp_path)


def test_a_header_that_is_not_yaml_names_the_file(tmp_path):
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "dim_x.sql").write_text("/* ---\ncolumns: [a\n--- */\nSELECT 1\n")
    with pytest.raises(ModelError, match=r"dim_x.sql: the header is not valid YAML"):
        load_models(Path(tmp_path))


def test_a_ref_to_no_model_names_the_closest_models_and_the_file(tmp_path):
    sql = tmp_path / "sql"
    write_model(sql, "dim_customers", {}, "SELECT 1 AS customer_id")
    write_model(sql, "fct_orders", {}, "SELECT * FROM {{ ref('dim_custmer') }}")
    with pytest.raises(ModelError) as info:
        load_models(sql)
    message = str(info.value)
    assert message.startswith("sql/marts/fct_orders.sql: ref('dim_custmer') names no model.")
    assert "Did you mean 'dim_customers'?" in message
    assert "2 models: dim_customers, fct_orders" in message
