"""A loaded value comes from its own line, unchanged; a row is counted as a person counts it.

One test per way a value could move, change or be lost, on every path it applies to (CSV
read by Python or by the engine, JSON lines), each checked against Python's own csv and json
modules on the real embedded engine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from tests.support.loads import load_files

CSV_PATHS = ["parquet", "none"]  # `landing`: read by Python, or by the engine itself
COLUMNS = {
    "id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "day": {"type": "date"},
    "at": {"type": "datetime"},
    "amount": {"type": "decimal(12,2)"},
}
HEADER = "id,name,day,at,amount\n"


def row(i: int) -> str:
    return f"{i},name {i},2024-01-{i % 28 + 1:02d},2024-01-01 10:00:{i % 60:02d}.{i:06d},{i}.25\n"


def by_line(loaded) -> dict[int, dict]:
    return {int(r["_source_line"]): r for r in loaded.rows.to_dict("records")}


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_an_unclosed_quote_costs_its_own_line_only(tmp_path, landing):
    lines = [row(i) for i in range(1, 21)]
    lines[7] = '8,"never closed,2024-01-09,2024-01-01 10:00:08,8.25\n'  # file line 9
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": HEADER + "".join(lines)}, COLUMNS,
        landing=landing,
    )  # fmt: skip
    assert (loaded.summary["rows_read"], len(loaded.rows), len(loaded.bad)) == (20, 19, 1)
    assert list(loaded.bad.line) == [9]
    assert loaded.bad.reason[0] == "a quote that is never closed"
    expected = list(csv.DictReader(io.StringIO(HEADER + "".join(lines[8:]))))
    got = [r for n, r in sorted(by_line(loaded).items()) if n > 9]
    assert [r["name"] for r in got] == [e["name"] for e in expected]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_quoted_value_may_span_lines(tmp_path, landing):
    text = HEADER + row(1) + '2,"two\nlines, and ""quotes""",2024-01-02,,1\n' + row(3)
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS, landing=landing
    )
    assert loaded.bad.empty
    lines = by_line(loaded)
    assert sorted(lines) == [2, 3, 5]
    assert lines[3]["name"] == 'two\nlines, and "quotes"'
    assert list(csv.reader(io.StringIO(text)))[2][1] == lines[3]["name"]


def test_json_lines_after_a_broken_line_keep_their_own_values(tmp_path):
    lines = [
        json.dumps(
            {"id": i, "name": f"n{i}", "day": f"2024-01-{i:02d}", "at": f"2024-01-01 10:00:{i:02d}"}
        )
        for i in range(1, 12)
    ]
    lines[3] = '{"id": 4, "name": broken'  # file line 4
    lines[6] = "not json either"
    loaded = load_files(
        tmp_path, {"data/feed/date=2024-01-04/a.jsonl": "\n".join(lines) + "\n"}, COLUMNS,
        fmt="jsonl",
    )  # fmt: skip
    assert list(loaded.bad.line) == [4, 7]
    assert len(loaded.rows) == 9
    for line, got in by_line(loaded).items():
        want = json.loads(lines[line - 1])
        assert got["id"] == want["id"] and got["name"] == want["name"]
        assert str(got["day"])[:10] == want["day"]
        assert got["at"].strftime("%Y-%m-%d %H:%M:%S") == want["at"]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_date_is_iso_and_a_real_day(tmp_path, landing):
    text = HEADER + "1,a,2024-12-31,,\n2,b,31/12/2024,,\n3,c,2024-02-30,,\n4,d,2024-02-29,,\n"
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS, landing=landing
    )
    assert list(loaded.rows.id) == [1, 4]
    assert list(loaded.bad.reason) == [
        "column day: not a date: 31/12/2024",
        "column day: not a date: 2024-02-30",
    ]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_the_int64_limits_are_int64_and_nothing_beyond(tmp_path, landing):
    values = ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.0"]
    text = HEADER + "".join(f"{v},x,,,\n" for v in values)
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS, landing=landing
    )
    assert sorted(loaded.rows.id) == [-(2**63), 2**63 - 1]
    assert list(loaded.bad.line) == [4, 5]


@pytest.mark.parametrize("landing", CSV_PATHS)
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2300-01-01"])
def test_a_date_the_warehouse_cannot_hold_is_one_bad_row(tmp_path, landing, day):
    text = HEADER + row(1) + f"2,b,{day},,\n" + row(3)
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS, landing=landing
    )
    assert list(loaded.rows.id) == [1, 3]
    assert list(loaded.bad.reason) == [f"column day: out of range 1900-01-01..2299-12-31: {day}"]


def test_a_json_object_or_array_breaks_a_text_column(tmp_path):
    text = '{"id": 1, "name": {"a": 1}}\n{"id": 2, "name": [1]}\n{"id": 3, "name": 12.50}\n'
    loaded = load_files(tmp_path, {"data/feed/date=2024-01-04/a.jsonl": text}, COLUMNS, fmt="jsonl")
    assert list(loaded.rows.name) == ["12.50"]  # a number keeps the text the file wrote
    assert list(loaded.bad.reason) == [
        "column name: a JSON object, not a single value",
        "column name: a JSON array, not a single value",
    ]


@pytest.mark.parametrize("fmt", ["parquet", "none", "jsonl"])
def test_timestamps_keep_their_microseconds_and_decimals_their_digits(tmp_path, fmt):
    at, amount = "2024-01-01 10:00:00.123456", "1234567890.12"
    if fmt == "jsonl":
        files = {
            "data/feed/date=2024-01-04/a.jsonl": f'{{"id": 1, "at": "{at}", "amount": {amount}}}\n'
        }
        loaded = load_files(tmp_path, files, COLUMNS, fmt="jsonl")
    else:
        files = {"data/feed/date=2024-01-04/a.csv": HEADER + f"1,a,,{at},{amount}\n"}
        loaded = load_files(tmp_path / fmt, files, COLUMNS, landing=fmt)
    assert loaded.rows["at"][0] == dt.datetime(2024, 1, 1, 10, 0, 0, 123456)  # UTC, naive
    assert Decimal(str(loaded.rows["amount"][0])) == Decimal(amount)
    assert loaded.wh.scalar("SELECT toString(at) FROM raw_feed__items") == at


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_rows_are_counted_as_lines_blank_lines_are_not_rows(tmp_path, landing):
    text = HEADER + row(1) + "\n" + row(2).rstrip("\n") + "\r\n" + row(3).rstrip("\n")
    loaded = load_files(
        tmp_path / landing, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS, landing=landing
    )
    assert loaded.summary["rows_read"] == 3 and loaded.bad.empty
    assert sorted(by_line(loaded)) == [2, 4, 5]  # the file's own line numbers


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_line_over_the_cap_is_one_bad_row_read_in_bounded_memory(tmp_path, fmt, monkeypatch):
    from starloom.ingestion import csv_records

    monkeypatch.setattr(csv_records, "MAX_RECORD_BYTES", 4096)
    huge = "x" * 20_000
    if fmt == "jsonl":
        text = '{"id": 1}\n{"id": 2, "name": "' + huge + '"}\n{"id": 3}\n'
        files = {"data/feed/date=2024-01-04/a.jsonl": text}
        loaded = load_files(tmp_path, files, COLUMNS, fmt="jsonl")
    else:
        text = HEADER + row(1) + f"2,{huge},,,\n" + row(3)
        loaded = load_files(tmp_path, {"data/feed/date=2024-01-04/a.csv": text}, COLUMNS)
    assert sorted(loaded.rows.id) == [1, 3]
    assert list(loaded.bad.line) == [2 if fmt == "jsonl" else 3]
    assert "a line longer than 4,096 bytes (not read)" in loaded.bad.reason[0]
