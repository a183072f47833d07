"""Differential fuzz of ingestion: what a load keeps and quarantines is what the rules say.

Files are generated from a seed (tests/support/csv_reference.py): CSV and JSON lines with
values written in many valid ways and damage of many kinds (quotes, line breaks in values,
quotes never closed, wrong field counts, bytes that are not UTF-8, wrong and limit values,
repeated keys, blank lines, CRLF, a BOM, no last line end). A reference reader written from
the rules alone, with no code of starloom, says which rows each file holds, on which line
each starts, which are valid and what each value is. Each load runs on the real embedded
engine, through the default CSV path, the engine's own (`landing: none`) and JSON lines,
and every file is compared with the reference: the rows it gave, their lines, the rows
loaded and quarantined, and every loaded value.

A mismatch names the seed, the variant, the file and line, what the rules expect and what
was loaded; `python benchmarks/fuzz_ingest.py --seed S --variant V --keep DIR` writes the
same files again to look at. The hand-written cases below pin each rule with one small
file, and check the reference itself against values written by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from tests.support.csv_reference import Row, expected_rows, generate
from tests.support.ingest_diff import VARIANTS, Outcome, compare, fmt_of, run_load

# the generated loads: each seed and variant is one ingest of several day folders of files
SEEDS = [101, 202]
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
FILES_PER_DAY = 12  # 2 seeds x 3 variants x 4 days x 12 files: 288 files

# -- one small file per rule --------------------------------------------------------------
HEADER = "id,name,amount,day,at,qty,tag"


def row(id="1", name="a", amount="1.00", day="2024-01-01", at="", qty="", tag="t") -> str:
    """A CSV record: a valid row unless a field given says otherwise."""
    return ",".join([id, name, amount, day, at, qty, tag])


def csv(*lines: str, eol: str = "\n", bom: bool = False, last_eol: bool = True) -> bytes:
    """A CSV file of the contract's header and `lines`."""
    text = eol.join([HEADER, *lines]) + (eol if last_eol else "")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def jsonl(*lines: str, eol: str = "\n", last_eol: bool = True) -> bytes:
    return (eol.join(lines) + (eol if last_eol else "")).encode()


OK = '"id": 1, "day": "2024-01-01", "tag": "t"'  # the fields a JSON row needs

# name -> (format, {file name: content}, {line: values of a loaded row | "bad" | "duplicate"})
CASES = {
    "empty_lines_are_not_rows": (
        "csv",
        {"a.csv": csv(row("1"), "", row("2"), "", "", row("3"), "")},
        {2: {"id": 1}, 4: {"id": 2}, 7: {"id": 3}},
    ),
    "crlf_and_bom": (
        "csv",
        {"a.csv": csv(row("1", tag="x"), row("2", tag="y"), eol="\r\n", bom=True)},
        {2: {"id": 1, "tag": "x"}, 3: {"id": 2, "tag": "y"}},
    ),
    "last_line_without_line_end": (
        "csv",
        {"a.csv": csv(row("1"), row("2", tag="end"), last_eol=False)},
        {2: {"id": 1}, 3: {"id": 2, "tag": "end"}},
    ),
    "quoted_comma_and_doubled_quote": (
        "csv",
        {"a.csv": csv(row("1", name='"a, ""b"""'), row("2", name='""""'))},
        {2: {"name": 'a, "b"'}, 3: {"name": '"'}},
    ),
    "quote_inside_an_unquoted_field": (
        "csv",
        {"a.csv": csv(row("1", name='5"10'), row("2", name=' "x"'))},
        {2: {"name": '5"10'}, 3: {"name": ' "x"'}},
    ),
    "line_breaks_in_a_quoted_value": (
        "csv",
        {
            "a.csv": csv(
                row("1", name='"two\nlines"'),
                row("2", name='"an empty\n\nline, and a comma"'),
                row("3"),
            )
        },
        {2: {"name": "two\nlines"}, 4: {"name": "an empty\n\nline, and a comma"}, 7: {"id": 3}},
    ),
    "quote_never_closed_in_the_middle": (
        "csv",
        {"a.csv": csv(row("1", name='"never closed'), row("2"), row("3"))},
        {2: "bad", 3: {"id": 2}, 4: {"id": 3}},
    ),
    # read as one record (the csv module reads it so), its lines are not read again as rows:
    # no row 5 made of the inside of the quoted field
    "record_of_lines_with_a_wrong_field_count_is_one_bad_row": (
        "csv",
        {"a.csv": csv('1,x,"a', '5,b",1.00,2024-01-01,,,t', row("6"))},
        {2: "bad", 4: {"id": 6}},
    ),
    "quote_never_closed_on_the_last_line": (
        "csv",
        {"a.csv": csv(row("1"), row("2", tag='"open'), last_eol=False)},
        {2: {"id": 1}, 3: "bad"},
    ),
    "text_after_a_closing_quote": (
        "csv",
        {"a.csv": csv(row("1", name='"a"b'), row("2", name='"a" '), row("3", name='"a"'))},
        {2: "bad", 3: "bad", 4: {"id": 3, "name": "a"}},
    ),
    "wrong_field_counts": (
        "csv",
        {"a.csv": csv(row("1") + ",extra", "2,b", row("3") + ",", "   ", row("4"))},
        {2: "bad", 3: "bad", 4: "bad", 5: "bad", 6: {"id": 4}},
    ),
    "bytes_that_are_not_utf8": (
        "csv",
        {"a.csv": csv(row("1")) + b"2,caf\xe9,1.00,2024-01-01,,,t\n" + row("3").encode()},
        {2: {"id": 1}, 3: "bad", 4: {"id": 3}},
    ),
    "missing_values_and_empty_text": (
        "csv",
        {
            "a.csv": csv(
                row("1", name="", amount="", at="", qty=""),
                row("2", name='""', amount='""', qty='""', tag='""'),
                row("3", tag=""),
                row("4", name="NULL", tag='"  "'),
                row("5", name="\\N", tag="  "),
                row("6", day=""),
            )
        },
        {
            2: {"name": None, "amount": None, "at": None, "qty": None},
            3: "bad",  # blank text in a column that may not be null is missing
            4: "bad",
            5: "bad",
            6: "bad",
            7: "bad",
        },
    ),
    "int64_limits_and_spellings": (
        "csv",
        {
            "a.csv": csv(
                row("9223372036854775807"),
                row("-9223372036854775808"),
                row("+7", qty="007"),
                row(" 42 ", qty='" -3 "'),
                row("9223372036854775808"),
                row("-9223372036854775809"),
                row("8", qty="1.0"),
                row("9", qty="1e3"),
            )
        },
        {
            2: {"id": 2**63 - 1},
            3: {"id": -(2**63)},
            4: {"id": 7, "qty": 7},
            5: {"id": 42, "qty": -3},
            6: "bad",
            7: "bad",
            8: "bad",
            9: "bad",
        },
    ),
    "decimals_are_never_rounded": (
        "csv",
        {
            "a.csv": csv(
                row("1", amount="1.50"),
                row("2", amount="1.500"),
                row("3", amount="1.555"),
                row("4", amount="9999999999.99"),
                row("5", amount="12345678901"),
                row("6", amount="1e3"),
                row("7", amount=" -2.5 "),
                row("8", amount="0.001"),
            )
        },
        {
            2: {"amount": Decimal("1.5")},
            3: {"amount": Decimal("1.5")},
            4: "bad",
            5: {"amount": Decimal("9999999999.99")},
            6: "bad",
            7: "bad",
            8: {"amount": Decimal("-2.5")},
            9: "bad",
        },
    ),
    "dates_real_and_in_range": (
        "csv",
        {
            "a.csv": csv(
                row("1", day="2024-02-29"),
                row("2", day="2024-02-30"),
                row("3", day="31/12/2024"),
                row("4", day="0001-01-01"),
                row("5", day="9999-12-31"),
                row("6", day="1900-01-01"),
                row("7", day="2299-12-31"),
                row("8", day="1899-12-31"),
                row("9", day="2300-01-01"),
                row("10", day="2024-1-5"),
                row("11", day=" 2024-03-01 "),
            )
        },
        {
            2: {"day": dt.date(2024, 2, 29)},
            3: "bad",
            4: "bad",
            5: "bad",
            6: "bad",
            7: {"day": dt.date(1900, 1, 1)},
            8: {"day": dt.date(2299, 12, 31)},
            9: "bad",
            10: "bad",
            11: "bad",
            12: {"day": dt.date(2024, 3, 1)},
        },
    ),
    "datetimes_to_the_microsecond": (
        "csv",
        {
            "a.csv": csv(
                row("1", at="2024-01-01 10:00"),
                row("2", at="2024-01-01T10:00:00Z"),
                row("3", at="2024-01-01 10:00:00.123456"),
                row("4", at="2024-01-01 10:00:00.1234567"),
                row("5", at="2299-12-31 23:59:59.999999"),
                row("6", at="1900-01-01T00:00:00.000001Z"),
                row("7", at="1899-12-31 23:59:59"),
                row("8", at="2024-01-01"),
                row("9", at="2024-02-30 10:00"),
                row("10", at=" 2024-05-06 07:08:09 "),
            )
        },
        {
            2: {"at": dt.datetime(2024, 1, 1, 10)},
            3: {"at": dt.datetime(2024, 1, 1, 10)},
            4: {"at": dt.datetime(2024, 1, 1, 10, 0, 0, 123456)},
            5: "bad",
            6: {"at": dt.datetime(2299, 12, 31, 23, 59, 59, 999999)},
            7: {"at": dt.datetime(1900, 1, 1, 0, 0, 0, 1)},
            8: "bad",
            9: {"at": dt.datetime(2024, 1, 1)},  # a date alone is its midnight
            10: "bad",
            11: {"at": dt.datetime(2024, 5, 6, 7, 8, 9)},
        },
    ),
    "years_outside_the_range_break_only_their_row": (
        "csv",
        {"a.csv": csv(row("1"), row("2", day="0001-01-01"), row("3", day="9999-12-31"), row("4"))},
        {2: {"id": 1}, 3: "bad", 4: "bad", 5: {"id": 4}},
    ),
    "dates_past_2262_in_a_clean_file": (
        "csv",
        {
            "a.csv": csv(
                row("1", day="2262-04-12", at="2262-04-12 00:00:00"),
                row("2", day="2299-12-31", at="2299-12-31T23:59:59Z"),
            )
        },
        {
            2: {"day": dt.date(2262, 4, 12), "at": dt.datetime(2262, 4, 12)},
            3: {"day": dt.date(2299, 12, 31), "at": dt.datetime(2299, 12, 31, 23, 59, 59)},
        },
    ),
    "repeated_keys_across_the_files_of_a_day": (
        "csv",
        {
            "a.csv": csv(row("1"), row("2"), row("5", day="2024-02-30"), row("5", tag="kept")),
            "b.csv": csv(row("2"), row("3"), row("+1"), row("001"), row("3", day="bad")),
        },
        {
            ("a.csv", 2): {"id": 1},
            ("a.csv", 3): {"id": 2},
            ("a.csv", 4): "bad",
            ("a.csv", 5): {"id": 5, "tag": "kept"},
            ("b.csv", 2): "duplicate",
            ("b.csv", 3): {"id": 3},
            ("b.csv", 4): "duplicate",
            ("b.csv", 5): "duplicate",
            ("b.csv", 6): "bad",
        },
    ),
    "json_blank_lines_and_lines_that_are_not_objects": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + "}",
                "",
                "   ",
                "[1, 2]",
                '"text"',
                '{"id": 2',
                "{" + OK.replace('"id": 1', '"id": 3') + "}",
            )
        },
        {1: {"id": 1}, 4: "bad", 5: "bad", 6: "bad", 7: {"id": 3}},
    ),
    "json_number_in_a_string_column_is_its_text": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                *(
                    "{" + OK.replace('"id": 1', f'"id": {k}') + f', "name": {number}' + "}"
                    for k, number in enumerate(["1.50", "1e3", "-0", "12345678901234567890"], 1)
                )
            )
        },
        {
            1: {"name": "1.50"},
            2: {"name": "1e3"},
            3: {"name": "-0"},
            4: {"name": "12345678901234567890"},
        },
    ),
    "json_nan_and_infinity_are_not_values": (  # Python's json reads them; JSON has none
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + ', "amount": NaN}',
                "{" + OK.replace('"id": 1', '"id": 2') + ', "qty": Infinity}',
                "{" + OK.replace('"id": 1', '"id": 3') + ', "qty": -Infinity}',
                "{" + OK.replace('"id": 1', '"id": 4') + ', "amount": 1.5}',
            )
        },
        {1: "bad", 2: "bad", 3: "bad", 4: {"id": 4}},
    ),
    "json_object_or_array_in_a_string_column": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + ', "name": {"a": 1}}',
                "{" + OK.replace('"id": 1', '"id": 2') + ', "name": [1]}',
                "{" + OK.replace('"id": 1', '"id": 3') + ', "name": "ok"}',
            )
        },
        {1: "bad", 2: "bad", 3: {"name": "ok"}},
    ),
    "json_absent_keys_are_missing_values": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + "}",
                '{"id": 2, "day": "2024-01-01"}',
                '{"id": 3, "day": "2024-01-01", "tag": null}',
                '{"id": 4, "day": "2024-01-01", "tag": ""}',
            )
        },
        {
            1: {"name": None, "amount": None, "at": None, "qty": None},
            2: "bad",
            3: "bad",
            4: "bad",
        },  # blank text is missing
    ),
    "json_numbers_typed_by_their_text": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                '{"id": 9223372036854775807, "day": "2024-01-01", "tag": "t", "amount": 1.50}',
                '{"id": 9223372036854775808, "day": "2024-01-01", "tag": "t"}',
                '{"id": 3, "day": "2024-01-01", "tag": "t", "qty": 1.0}',
                '{"id": 4, "day": "2024-01-01", "tag": "t", "amount": 1.555}',
                '{"id": 5, "day": "2024-01-01", "tag": "t", "amount": 1e3}',
                '{"id": 6, "day": "2024-02-30", "tag": "t"}',
                '{"id": 7, "day": "2024-01-01", "tag": "t", "at": "2024-01-01T10:00:00.654321Z"}',
            )
        },
        {
            1: {"id": 2**63 - 1, "amount": Decimal("1.5")},
            2: "bad",
            3: "bad",
            4: "bad",
            5: "bad",
            6: "bad",
            7: {"at": dt.datetime(2024, 1, 1, 10, 0, 0, 654321)},
        },
    ),
    "json_large_integers_beside_a_null": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + ', "qty": 9223372036854775807}',
                "{" + OK.replace('"id": 1', '"id": 2') + ', "qty": null}',
                "{" + OK.replace('"id": 1', '"id": 3') + ', "qty": 9007199254740993}',
            )
        },
        {1: {"qty": 2**63 - 1}, 2: {"qty": None}, 3: {"qty": 9007199254740993}},
    ),
    "json_years_outside_the_range_break_only_their_row": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                "{" + OK + "}",
                '{"id": 2, "day": "0001-01-01", "tag": "t"}',
                '{"id": 3, "day": "9999-12-31", "tag": "t"}',
            )
        },
        {1: {"id": 1}, 2: "bad", 3: "bad"},
    ),
    "json_repeated_keys_and_far_dates": (
        "jsonl",
        {
            "a.jsonl": jsonl(
                '{"id": 1, "day": "2299-12-31", "tag": "first"}',
                '{"id": 2, "day": "2024-01-01", "tag": "t"}',
                '{"id": 1, "day": "2024-01-01", "tag": "again"}',
            ),
            "b.jsonl": jsonl('{"id": 2, "day": "2024-01-01", "tag": "again"}'),
        },
        {
            ("a.jsonl", 1): {"tag": "first", "day": dt.date(2299, 12, 31)},
            ("a.jsonl", 2): {"id": 2},
            ("a.jsonl", 3): "duplicate",
            ("b.jsonl", 1): "duplicate",
        },
    ),
    "json_bytes_that_are_not_utf8_crlf_and_no_last_line_end": (
        "jsonl",
        {
            "a.jsonl": jsonl("{" + OK + "}", "", eol="\r\n")
            + b'{"id": 2, "day": "2024-01-01", "tag": "caf\xe9"}\r\n'
            + jsonl('{"id": 3, "day": "2024-01-01", "tag": "end"}', last_eol=False)
        },
        {1: {"id": 1}, 3: "bad", 4: {"tag": "end"}},
    ),
}


def _case_files(name: str, k: int) -> dict[str, bytes]:
    """A case's files, in a day folder of its own (keys are unique per day folder)."""
    _, contents, _ = CASES[name]
    day = dt.date(2023, 1, 1) + dt.timedelta(days=k)
    return {f"data/feed/date={day}/{file}": data for file, data in contents.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_the_reference_reads_each_case_as_written_by_hand(name):
    fmt, contents, want = CASES[name]
    files = _case_files(name, 0)
    got: dict = {}
    for path, rows in expected_rows(files, fmt).items():
        for r in rows:
            got[r.line if len(contents) == 1 else (path.rsplit("/", 1)[1], r.line)] = r
    assert sorted(got, key=str) == sorted(want, key=str), "the rows and their lines"
    for key, expected in want.items():
        r: Row = got[key]
        if expected == "duplicate":
            assert r.reason.startswith("duplicate primary key"), key
        elif expected == "bad":
            assert not r.ok and not r.reason.startswith("duplicate"), (key, r.values)
        else:
            assert r.ok, (key, r.reason)
            assert {c: r.values[c] for c in expected} == expected, key


def _as_the_engine_writes(row: Row) -> tuple:
    """A valid row as the raw-table query of ingest_diff reads it back from the engine."""
    v = row.values
    text = [
        str(v["id"]),
        None if v["name"] is None else v["name"].encode().hex().upper(),
        None if v["amount"] is None else str(v["amount"].normalize()),
        v["day"].isoformat(),
        None if v["at"] is None else v["at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
        None if v["qty"] is None else str(v["qty"]),
        v["tag"].encode().hex().upper(),
    ]
    return (row.file, row.line, *text)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_comparison_passes_a_load_that_keeps_the_rules(fmt):
    """No false alarm: the reference's own reading, as the engine would give it back,
    compares equal (and a row moved to another line does not)."""
    files = generate(7, fmt, DAYS[:2], 6)
    expected = expected_rows(files, fmt)
    rows = [r for file in sorted(expected) for r in expected[file]]
    loaded = [_as_the_engine_writes(r) for r in rows if r.ok]
    quarantined = [(r.file, r.line, r.reason) for r in rows if not r.ok]
    n = len(rows)
    summary = {"rows_read": n, "rows_loaded": len(loaded), "rows_quarantined": n - len(loaded)}
    out = compare("self", files, expected, loaded, quarantined, summary)
    assert out.rows == n and not out.mismatches, out.report()
    moved = [(*loaded[0][:1], loaded[0][1] + 1000, *loaded[0][2:]), *loaded[1:]]
    out = compare("self", files, expected, moved, quarantined, summary)
    assert {kind for kind, _ in out.mismatches} == {"no row starts there", "row lost"}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_hand_written_cases_load_as_the_rules_read_them(project, wh, variant):
    """All cases in one load, each in a day folder of its own; if a case breaks the whole
    load, each case again as a source of its own, so that it hides none of the others."""
    cases = {k: name for k, name in enumerate(CASES) if CASES[name][0] == fmt_of(variant)}
    files = {}
    for k, name in cases.items():
        files.update(_case_files(name, k))
    out = run_load(wh, project, variant, files, f"hand-written cases ({variant})")
    if any(kind == "ingest failed" for kind, _ in out.mismatches):
        out = Outcome()
        for k, name in cases.items():
            label = f"{name} ({variant})"
            out.add(run_load(wh, project, variant, _case_files(name, k), label, f"case{k:02d}"))
    if out.mismatches:
        pytest.fail(out.report(80), pytrace=False)


# -- generated files ----------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_files_load_as_the_rules_read_them(project, wh, seed, variant):
    """One load of all the seed's files; every file, row and value as the reference says."""
    files = generate(seed, fmt_of(variant), DAYS, FILES_PER_DAY)
    out = run_load(wh, project, variant, files, f"seed {seed} {variant}")
    assert out.rows > 0 and out.files == len(DAYS) * FILES_PER_DAY
    again = (
        f"the same files: python benchmarks/fuzz_ingest.py --seed {seed} --variant {variant} "
        f"--days {len(DAYS)} --files {len(DAYS) * FILES_PER_DAY} --keep DIR"
    )
    if out.mismatches:
        pytest.fail(f"{again}\n{out.report()}", pytrace=False)
