"""The SQL of the declared model tests, and clear errors on malformed declarations, when
the header is read (no engine: a Warehouse object only quotes names here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starloom.errors import ModelError
from starloom.models import Model, data_tests
from starloom.models.config import parse_config
from starloom.settings import Settings
from starloom.warehouse import Warehouse

WH = Warehouse(Settings(project_dir=Path("/nonexistent"), warehouse_path=Path("/nonexistent/w")))


def _sql(header: dict, table: str = "fct_x__new") -> list[dict]:
    path = Path("sql/marts/fct_x.sql")
    model = Model("fct_x", path, "marts", "", parse_config(header, str(path)))
    return data_tests.tests_sql(WH, model, table)


def test_every_kind_selects_failing_rows_of_the_table_under_test():
    specs = _sql(
        {
            "columns": {
                "id": {"tests": ["unique", "not_null"]},
                "kind": {"tests": [{"accepted_values": {"values": ["a", 1]}}]},
                "dim_id": {"tests": [{"relationships": {"to": "dim_y", "field": "y_id"}}]},
                "qty": {"tests": [{"expression_is_true": {"expression": "qty > 0"}}]},
            },
            "tests": [
                {"sql": "SELECT * FROM {{ this }} JOIN {{ ref('dim_y') }} USING (y_id);"},
                {"expression_is_true": {"expression": "a <= b", "severity": "warn"}},
            ],
        }
    )
    kinds = [(s["test"], s["column"], s["severity"]) for s in specs]
    assert kinds == [
        ("unique", "id", "error"),
        ("not_null", "id", "error"),
        ("accepted_values", "kind", "error"),
        ("relationships", "dim_id", "error"),
        ("expression_is_true", "qty", "error"),
        ("sql", "", "error"),
        ("expression_is_true", "", "warn"),
    ]
    for spec in specs:
        assert "`starloom`.`fct_x__new`" in spec["sql"]
    assert "HAVING count() > 1" in specs[0]["sql"]
    assert specs[2]["params"] == {"values_0": ["a", "1"]}  # bound, not spliced
    assert "{values_0:Array(String)}" in specs[2]["sql"] and "'a'" not in specs[2]["sql"]
    assert "`starloom`.`dim_y`" in specs[3]["sql"] and "`y_id`" in specs[3]["sql"]
    assert specs[4]["sql"].endswith("WHERE NOT (qty > 0)")
    assert "JOIN `starloom`.`dim_y` USING" in specs[5]["sql"]
    assert not specs[5]["sql"].rstrip(")\n").endswith(";")


def test_named_custom_test_keeps_its_name():
    (spec,) = _sql({"tests": [{"sql": "SELECT 1 WHERE 0", "name": "no_rows", "severity": "warn"}]})
    assert (spec["test"], spec["severity"]) == ("no_rows", "warn")


@pytest.mark.parametrize(
    "meta,message",
    [
        ({"columns": {"a": {"tests": ["uniq"]}}}, "unknown test 'uniq'"),
        ({"columns": {"a": {"tests": [{"unique": {"severity": "fatal"}}]}}}, "severity 'fatal'"),
        ({"columns": {"a": {"tests": [{"accepted_values": {}}]}}}, "needs a list under `values`"),
        ({"columns": {"a": {"tests": [{"relationships": {"to": "d"}}]}}}, "needs `to`"),
        ({"columns": {"a": {"tests": [{"expression_is_true": {}}]}}}, "needs an `expression`"),
        ({"columns": {"a": {"tests": [["unique"]]}}}, "cannot read the test"),
        ({"tests": ["unique"]}, "column tests go under the column"),
        ({"tests": [{"sql": "SELECT * FROM {{ thiss }}"}]}, "template error"),
    ],
)
def test_malformed_declarations_say_what_to_write(meta, message):
    with pytest.raises(ModelError, match="fct_x.sql") as info:
        _sql(meta)
    assert message in str(info.value)


def test_a_failing_rows_missing_values_read_null_in_the_message():
    import numpy as np
    import pandas as pd

    sample = pd.DataFrame(
        {"id": [1, 2], "amount": [np.nan, 1.5], "name": [None, "x"],
         "at": pd.to_datetime([None, "2024-01-01"])}
    )  # fmt: skip
    assert data_tests._sample_text(sample) == (
        "{id: 1, amount: NULL, name: NULL, at: NULL}; "
        "{id: 2, amount: 1.5, name: x, at: 2024-01-01 00:00:00}"
    )
