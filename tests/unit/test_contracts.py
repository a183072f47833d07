"""Contracts on pandas partitions: conversion, rules, reasons (no engine)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from starloom.errors import ContractError
from starloom.ingestion.contracts import Contract, validate


def contract(primary_key=("id",), **columns):
    return Contract.from_dict(columns, "test", primary_key)


def text(**cols):
    """A partition as a reader gives it: every value text (Arrow-backed strings)."""
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in cols.items()})


def check(df, c, **kw):
    """(good rows as pandas, bad rows) of a partition."""
    checked = validate(df, c, **kw)
    return checked.table.to_pandas(), checked.bad


def test_text_is_converted_the_same_way_whether_arrow_can_do_it_or_not():
    c = contract(id={"type": "int64"}, at={"type": "datetime"}, on={"type": "date"})
    clean = text(
        id=["1", " 2 ", None], at=["2024-01-01 10:00:00", None, None], on=["2024-01-02", None, None]
    )
    mixed = text(
        id=["1", " 2 ", "x"], at=["2024-01-01 10:00:00", None, "soon"], on=["2024-01-02", None, "?"]
    )
    good_clean, _ = check(clean.iloc[:2], c)
    good_mixed, bad = check(mixed, c)
    for name in ("id", "at", "on"):
        assert list(good_clean[name]) == list(good_mixed[name].iloc[:2])
    assert list(good_mixed.id) == [1, 2]
    assert good_mixed["at"][0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert len(bad) == 1


def test_time_zones_are_converted_to_utc():
    c = contract(id={"type": "int64"}, at={"type": "datetime"})
    good, bad = check(
        text(id=["1", "2"], at=["2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z"]), c
    )
    assert bad.empty
    assert (good["at"] == pd.Timestamp("2024-01-01 08:00", tz="UTC")).all()


def test_integers_stay_exact_and_overflow_is_a_reason():
    c = contract(primary_key=(), id={"type": "int64"})
    values = ["9007199254740993", "9223372036854775807", "-9223372036854775808", "+7", "007"]
    values += ["9223372036854775808", "-9223372036854775809", "1e3", "1.5", "1.0"]
    good, bad = check(text(id=values), c)
    assert list(good.id) == [9007199254740993, 2**63 - 1, -(2**63), 7, 7]
    assert list(bad._reason) == [f"column id: not an int64: {v}" for v in values[5:]]


def test_dates_are_written_one_way_or_as_declared_and_are_real_days():
    c = contract(primary_key=(), on={"type": "date"}, eu={"type": "date", "format": "%d/%m/%Y"})
    good, bad = check(
        text(
            on=["2024-12-31", "31/12/2024", "2024-02-30", "0001-01-01", "9999-12-31", None],
            eu=["31/12/2024", None, None, None, None, "30/02/2024"],
        ),
        c,
    )
    assert [d.isoformat() for d in good.on] == ["2024-12-31"]
    assert [d.isoformat() for d in good.eu] == ["2024-12-31"]
    assert list(bad._reason) == [
        "column on: not a date: 31/12/2024",
        "column on: not a date: 2024-02-30",
        "column on: out of range 1900-01-01..2299-12-31: 0001-01-01",
        "column on: out of range 1900-01-01..2299-12-31: 9999-12-31",
        "column eu: not a date written %d/%m/%Y: 30/02/2024",
    ]


def test_numbers_without_leading_zeros_are_read_as_python_writes_them():
    """`%-m/%-d/%Y %-H:%M` (a US spreadsheet export): a value passes when Python's strftime
    writes its parsed datetime back to the same text, checked here against Python itself
    on generated values and on padded or impossible ones."""
    import datetime as dt
    import random

    fmt = "%-m/%-d/%Y %-H:%M"
    rng = random.Random(5)
    stamps = [
        dt.datetime(2010, 1, 1) + dt.timedelta(minutes=rng.randrange(60 * 24 * 800))
        for _ in range(300)
    ]
    texts = [t.strftime(fmt) for t in stamps]
    texts += ["12/01/2010 8:26", "2/30/2010 1:00", "13/8/2010 9:00", "1/2/2010 08:00"]
    c = contract(primary_key=(), ts={"type": "datetime", "format": fmt})
    good, bad = check(text(ts=texts), c)
    assert [t.replace(tzinfo=None) for t in good.ts] == stamps
    assert list(bad._reason) == [
        f"column ts: not a datetime written {fmt}: {t}" for t in texts[300:]
    ]


@pytest.mark.parametrize(
    "fmt", ["%Q", "31/12/2024", "%Y-%m-%d %", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %z"]
)
def test_a_format_that_is_not_strptime_is_refused_with_the_contract(fmt):
    with pytest.raises(ContractError, match="is not a strptime format"):
        contract(primary_key=(), on={"type": "date", "format": fmt})


def test_timestamps_keep_their_microseconds_and_refuse_finer():
    c = contract(primary_key=(), at={"type": "datetime"}, ms={"type": "datetime(3)"})
    good, bad = check(
        text(
            at=["2024-01-01 10:00:00.123456", "2024-01-01 10:00:00.1234567", None],
            ms=["2024-01-01 10:00:00.123", None, "2024-01-01 10:00:00.1234"],
        ),
        c,
    )
    assert good["at"][0] == pd.Timestamp("2024-01-01 10:00:00.123456", tz="UTC")
    assert good["ms"][0] == pd.Timestamp("2024-01-01 10:00:00.123", tz="UTC")
    assert [r.split(":")[0] for r in bad._reason] == ["column at", "column ms"]
    assert c.column("at").clickhouse_type() == "Nullable(DateTime64(6, 'UTC'))"


def test_decimals_are_never_rounded():
    c = contract(primary_key=(), p={"type": "decimal(6,2)"})
    good, bad = check(text(p=["1.50", "1.5", "-0.01", "1.555", "12345.6", "1e2"]), c)
    assert [str(v) for v in good.p] == ["1.50", "1.50", "-0.01"]
    assert len(bad) == 3


def test_json_objects_and_arrays_break_a_text_column_and_numbers_keep_their_text():
    c = contract(primary_key=(), s={"type": "string"})
    df = pd.DataFrame({"s": pd.Series([{"a": 1}, [1, 2], "12.50", 7, None], dtype=object)})
    good, bad = check(df, c)
    assert good.s.tolist()[:2] == ["12.50", "7"] and good.s.isna().tolist()[2]
    assert list(bad._reason) == [
        "column s: a JSON object, not a single value",
        "column s: a JSON array, not a single value",
    ]


def test_values_stay_in_their_own_row_when_the_index_has_gaps():
    c = contract(id={"type": "int64"}, on={"type": "date"}, at={"type": "datetime"})
    df = text(
        id=[str(i) for i in range(8)],
        on=[f"2024-01-0{i + 1}" for i in range(8)],
        at=[f"2024-01-0{i + 1} 10:00:00" for i in range(8)],
    )
    df.index = [0, 1, 2, 5, 6, 9, 10, 11]  # rows dropped before, as broken lines leave it
    good, bad = check(df, c)
    assert bad.empty
    for _, row in good.iterrows():
        assert row.on.isoformat() == f"2024-01-0{row.id + 1}"
        assert row["at"].day == row.id + 1


def test_null_markers_are_missing_values():
    c = Contract.from_dict(
        {"id": {"type": "int64"}, "n": {"type": "int64"}, "s": {"null_values": ["-"]}},
        "t",
        ["id"],
        null_values=["NA"],
    )
    good, bad = check(text(id=["1", "2"], n=["NA", "3"], s=["-", "NA"]), c)
    assert bad.empty
    assert good.n.isna().tolist() == [True, False]
    assert good.s.isna().tolist() == [True, False]  # its own markers replace the table's
    assert good.s[1] == "NA"


def test_key_columns_are_not_nullable_and_duplicates_keep_the_first():
    c = contract(id={"type": "int64"}, name={"type": "string"})
    assert not c.columns[0].nullable
    good, bad = check(text(id=["1", "1", None], name=["a", "b", "c"]), c)
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
    _, bad = check(text(id=["1"], price=["-1000"], code=["abcd"], day=["1800-01-01"]), c)
    assert bad._reason[0] == (
        "column price: does not fit decimal(5,2): -1000; "
        "column code: longer than 3 characters; column code: does not match [A-Z]{3}; "
        "column day: out of range 1900-01-01..2299-12-31: 1800-01-01"
    )


def test_reasons_found_while_reading_replace_the_others():
    c = contract(id={"type": "int64"})
    df = text(id=["1", None])
    df["_reason_pre"] = [None, "column id: bytes that are not UTF-8"]
    good, bad = check(df, c)
    assert list(good.id) == [1]
    assert list(bad._reason) == ["column id: bytes that are not UTF-8"]


def test_a_column_absent_from_the_partition_is_missing_on_every_row():
    c = contract(id={"type": "int64"}, name={"type": "string"}, n={"nullable": False})
    good, bad = check(text(id=["1"], n=["x"]), c)
    assert good.name.isna().all() and bad.empty
    _, bad = check(text(id=["1"]), c)
    assert bad._reason[0] == "column n: missing value (not nullable)"


def test_extra_columns_policy():
    c = Contract.from_dict({"id": {"type": "int64"}}, "t", ["id"], extra_columns="fail")
    _, bad = check(text(id=["1", "2"], colour=["red", None]), c)
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
    with pytest.raises(ContractError, match="'ten' cannot bound an int64 column"):
        contract(primary_key=(), x={"type": "int64", "min": "ten"})


def test_typed_rows_keep_decimals_exact_and_dates_as_dates():
    c = contract(id={"type": "int64"}, price={"type": "decimal(12,2)"}, on={"type": "date"})
    table = validate(text(id=["1"], price=["19.99"], on=["2024-02-29"]), c).table
    assert table.schema.field("price").type == pa.decimal128(12, 2)
    assert str(table.column("price")[0]) == "19.99"
    assert table.column("on")[0].as_py().isoformat() == "2024-02-29"


def test_an_infinite_float_from_a_typed_source_is_refused_as_in_text():
    """A Parquet file or change event holding infinity: refused, as `inf` and `1e400` are in
    a CSV file (a float64 holds finite numbers here)."""
    c = contract(primary_key=(), f={"type": "float64"})
    good, bad = check(pd.DataFrame({"f": [1.5, float("inf"), float("-inf"), -0.25]}), c)
    assert list(good.f) == [1.5, -0.25]
    assert len(bad) == 2 and all(r.startswith("column f: not a float64") for r in bad._reason)
