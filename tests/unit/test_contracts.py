"""Contracts on pandas partitions: conversion, rules, reasons (no engine)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from starloom.contracts import Contract, to_arrow, validate
from starloom.errors import ContractError


def contract(primary_key=("id",), **columns):
    return Contract.from_dict(columns, "test", primary_key)


def text(**cols):
    """A partition as a reader gives it: every value text (Arrow-backed strings)."""
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in cols.items()})


def test_text_is_converted_the_same_way_whether_arrow_can_do_it_or_not():
    c = contract(id={"type": "int64"}, at={"type": "datetime"}, on={"type": "date"})
    clean = text(
        id=["1", " 2 ", None], at=["2024-01-01 10:00:00", None, None], on=["2024-01-02", None, None]
    )
    mixed = text(
        id=["1", " 2 ", "x"], at=["2024-01-01 10:00:00", None, "soon"], on=["2024-01-02", None, "?"]
    )
    good_clean, _ = validate(clean.iloc[:2], c)
    good_mixed, bad = validate(mixed, c)
    for name in ("id", "at", "on"):
        assert list(good_clean[name]) == list(good_mixed[name].iloc[:2])
    assert list(good_mixed.id) == [1, 2]
    assert good_mixed["at"][0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert len(bad) == 1


def test_time_zones_are_converted_to_utc():
    c = contract(id={"type": "int64"}, at={"type": "datetime"})
    good, bad = validate(
        text(id=["1", "2"], at=["2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z"]), c
    )
    assert bad.empty
    assert (good["at"] == pd.Timestamp("2024-01-01 08:00", tz="UTC")).all()


def test_integers_stay_exact_and_overflow_is_a_reason():
    c = contract(id={"type": "int64"})
    good, bad = validate(text(id=["9007199254740993", "99999999999999999999", "1e3", "1.5"]), c)
    assert list(good.id) == [9007199254740993, 1000]
    assert list(bad._reason) == [
        "column id: not a int64: 99999999999999999999",
        "column id: not a int64: 1.5",
    ]


def test_key_columns_are_not_nullable_and_duplicates_keep_the_first():
    c = contract(id={"type": "int64"}, name={"type": "string"})
    assert not c.columns[0].nullable
    good, bad = validate(text(id=["1", "1", None], name=["a", "b", "c"]), c)
    assert list(good.name) == ["a"]
    assert list(bad._reason) == [
        "duplicate primary key id",
        "column id: missing value (not nullable)",
    ]


def test_every_broken_rule_is_named_in_one_reason():
    c = contract(
        id={"type": "int64"},
        price={"type": "decimal(5,2)", "min": 0},
        code={"type": "string", "pattern": "[A-Z]{3}", "max_length": 3},
        day={"type": "date"},
    )
    _, bad = validate(text(id=["1"], price=["-1000"], code=["abcd"], day=["1800-01-01"]), c)
    assert bad._reason[0] == (
        "column price: does not fit decimal(5,2); column price: below minimum 0; "
        "column code: longer than 3 characters; column code: does not match [A-Z]{3}; "
        "column day: out of range 1900-01-01..2299-12-31: 1800-01-01"
    )


def test_reasons_found_while_reading_replace_the_others():
    c = contract(id={"type": "int64"})
    df = text(id=["1", None])
    df["_reason_pre"] = [None, "column id: bytes that are not UTF-8"]
    good, bad = validate(df, c)
    assert list(good.id) == [1]
    assert list(bad._reason) == ["column id: bytes that are not UTF-8"]


def test_header_columns_make_a_missing_column_break_every_row():
    c = contract(id={"type": "int64"}, name={"type": "string"})
    _, bad = validate(text(id=["1"]), c, header_columns=True)
    assert bad._reason[0] == "column name missing from the source"
    good, _ = validate(text(id=["1"]), c)  # JSON lines: an absent key is a missing value
    assert good.name.isna().all()


def test_extra_columns_policy():
    c = Contract.from_dict({"id": {"type": "int64"}}, "t", ["id"], extra_columns="fail")
    _, bad = validate(text(id=["1", "2"], colour=["red", None]), c)
    assert list(bad._reason) == ["unexpected column colour (extra_columns: fail)"]
    with pytest.raises(ContractError, match="`extra_columns` must be ignore or fail"):
        Contract.from_dict({"id": {}}, "t", extra_columns="drop")


def test_schema_version_follows_names_and_types_only():
    a = contract(id={"type": "int64"}, name={"type": "string", "description": "x"})
    b = contract(id={"type": "int64"}, name={"type": "string", "max_length": 3})
    c = contract(id={"type": "int64"}, name={"type": "int64"})
    assert a.schema_version == b.schema_version != c.schema_version
    assert len(a.schema_version) == 12


def test_declaration_errors_name_the_column():
    with pytest.raises(ContractError, match="column 'x' has type 'text'"):
        contract(x={"type": "text"})
    with pytest.raises(ContractError, match=r"primary key column\(s\) \['id'\] are not"):
        contract(x={"type": "int64"})
    with pytest.raises(ContractError, match="column 'x' has an invalid pattern"):
        contract(primary_key=(), x={"pattern": "("})


def test_to_arrow_keeps_decimals_exact_and_dates_as_dates():
    c = contract(id={"type": "int64"}, price={"type": "decimal(12,2)"}, on={"type": "date"})
    good, _ = validate(text(id=["1"], price=["19.99"], on=["2024-02-29"]), c)
    table = to_arrow(good, c)
    assert table.schema.field("price").type == pa.decimal128(12, 2)
    assert str(table.column("price")[0]) == "19.99"
    assert table.column("on")[0].as_py().isoformat() == "2024-02-29"
