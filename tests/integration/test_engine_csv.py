"""CSV read and checked by the embedded engine (`landing: none`) gives exactly what the
Python path gives: the same rows loaded, typed alike, and the same quarantine.

Each case loads one CSV file twice on the real embedded engine, once per path, and
compares the raw tables and the quarantine entries. Clean files must be taken by the
engine; a file with a bad row must fall back to the Python path, whole.
"""

from __future__ import annotations

import decimal
import gzip
import random

import pytest
from tests.support.project import write_source

from starloom.errors import SourceError
from starloom.ingestion.load import ingest
from starloom.settings import Settings
from starloom.warehouse import Warehouse

RUN_DATE = "2024-01-05"
COLUMNS = {
    "item_id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "price": {"type": "decimal(10,2)", "min": 0},
    "weight": {"type": "float64"},
    "sold_on": {"type": "date"},
    "sold_at": {"type": "datetime"},
    "status": {"type": "string", "nullable": False, "accepted_values": ["new", "done"]},
    "code": {"type": "string", "pattern": "[A-Z]{2}[0-9]*", "max_length": 6},
    "paid": {"type": "bool"},
}
HEADER = "item_id,name,price,weight,sold_on,sold_at,status,code,paid\n"
ROWS = [
    "1,apple,1.50,0.25,2024-01-01,2024-01-01T10:00:00Z,new,AB1,true\n",
    '2,"pear, green",2.00,1e-3,2024-01-02,2024-01-02 11:00:00.123,done,CD,0\n',
    '3,"say ""hi""",0.99,,2024-01-03,,new,,\n',
    "4, spaced ,+7,-2.5,,2024-01-03T12:30,done,EF99,F\n",
    '5,"",.5,3,2024-02-29,1999-12-31 23:59:59,new,GH,t\n',
    "6,\\N,12,4.0,2024-01-04,2024-01-04T00:00:00,done,IJ,1\n",
    "7,NULL,0,0,1900-01-01,2299-12-31T23:59:59.999,new,KL12,false\n",
    "8,héllo wörld ✓,99999999.99,1.5e10,2024-01-04,2024-01-04T01:02:03.4,done,MN,TRUE\n",
]

CLEAN = {
    "typical": HEADER + "".join(ROWS),
    "crlf_and_bom": "\ufeff" + (HEADER + "".join(ROWS)).replace("\n", "\r\n"),
    "columns_in_another_order_and_extra": (
        "status,extra,item_id,paid,code,sold_at,sold_on,weight,price,name\n"
        "new,zz,1,true,AB,,2024-01-01,1,1.00,a\n"
        "done,,2,,,,,,,\n"
    ),
    "int_19_digits": HEADER + "1234567890123456789,x,1,1,,,new,,\n",
    "float_below_the_smallest": HEADER + "1,x,1,1e-400,,,new,,\n2,x,1,-4e-330,,,new,,\n",
    # a sign and leading zeros: both paths read +5 as 5 and 007 as 7
    "int_with_sign_or_zeros": HEADER + "+5,x,1,1,,,new,,\n007,x,1,1,,,new,,\n-3,x,1,1,,,new,,\n",
}
DIRTY = {
    "not_an_int": HEADER + ROWS[0] + "x9,bad,1,1,2024-01-01,,new,,\n" + ROWS[2],
    "int_as_float_text": HEADER + ROWS[0] + "2.0,ok,1,1,2024-01-01,,new,,\n",
    "hex_int": HEADER + ROWS[0] + "0x1F,hex,1,1,,,new,,\n",
    "too_many_decimals": HEADER + ROWS[0] + "2,x,1.005,,,,new,,\n",
    "decimal_too_large": HEADER + "2,x,100000000.00,,,,new,,\n",
    "negative_price": HEADER + ROWS[0] + "2,x,-1.00,,,,new,,\n",
    "nan_float": HEADER + "2,x,1,nan,,,new,,\n",
    "float_overflowing": HEADER + ROWS[0] + "2,x,1,1e400,,,new,,\n3,x,1,-1e309,,,new,,\n",
    "day_that_does_not_exist": HEADER + ROWS[1] + "3,x,1,1,2024-02-30,,new,,\n",
    "date_out_of_range": HEADER + "2,x,1,1,1899-12-31,,new,,\n",
    "datetime_with_offset": HEADER + ROWS[0] + "2,x,1,1,,2024-01-01T10:00:00+02:00,new,,\n",
    "status_not_accepted": HEADER + ROWS[0] + "2,x,1,1,,,old,,\n",
    "status_blank": HEADER + ROWS[0] + "2,x,1,1,,,   ,,\n",
    "status_unicode_space": HEADER + "2,x,1,1,,,\u00a0,,\n",
    "pattern_broken": HEADER + ROWS[0] + "2,x,1,1,,,new,ab,\n",
    "too_long": HEADER + ROWS[0] + "2,x,1,1,,,new,AB12345,\n",
    "bool_word": HEADER + "2,x,1,1,,,new,,yes\n",
    "missing_key": HEADER + ROWS[0] + ",x,1,1,,,new,,\n",
    "too_many_fields": HEADER + ROWS[0] + "2,x,1,1,,,new,,,surplus\n" + ROWS[2],
    "too_few_fields": HEADER + ROWS[0] + "2,x,1\n" + ROWS[2],
    "quoted_line_break": HEADER + ROWS[0] + '2,"two\nlines",1,1,,,new,,\n' + ROWS[2],
    "blank_line_inside": HEADER + ROWS[0] + "\n" + ROWS[1],
    "missing_column": "item_id,status\n1,new\n",  # the others are nullable: loaded as NULL
    # valid, but written another way than the engine writes it back: Python reads these
    "int_with_spaces": HEADER + "5,x,1,1,,,new,,\n 6,x,1,1,,,new,,\n",
    "int_overflowing": HEADER + "9223372036854775808,x,1,1,,,new,,\n",
    "date_written_another_way": HEADER + "2,x,1,1,2024-1-5,,new,,\n",
    "decimal_with_spaces": HEADER + "2,x, 1.5 ,1,,,new,,\n",
}
NOT_UTF8 = HEADER.encode() + ROWS[0].encode() + b"2,caf\xe9,1,1,,,new,,\n"


def _load(
    tmp_path, name: str, landing: str, content: bytes, columns=None, file: str = "items.csv"
) -> tuple[dict, list, list]:
    project = tmp_path / f"{name}-{landing}"
    (project / "sources").mkdir(parents=True)
    folder = project / "data" / "feed" / "date=2024-01-04"
    folder.mkdir(parents=True)
    (folder / file).write_bytes(content)
    items = {
        "path": f"data/feed/date=*/*{file[file.index('.') :]}",
        "partition_key": "date",
        "primary_key": ["item_id"],
        "columns": columns or COLUMNS,
    }
    write_source(project, "feed", {"items": items}, kind="files", format="csv", landing=landing)
    wh = Warehouse(Settings(project_dir=project, warehouse_path=project / ".warehouse"))
    loads = ingest(wh, "feed", run_date=RUN_DATE)
    row = loads.iloc[0].to_dict()
    assert row["rows_read"] == row["rows_loaded"] + row["rows_quarantined"]
    rows = wh.query_rows(
        "SELECT * EXCEPT (_load_id, _loaded_at) FROM raw_feed__items ORDER BY _source_line, item_id"
    )
    bad = wh.query_rows(
        "SELECT file, line, reason, record FROM starloom_quarantine ORDER BY line, reason"
    )
    return row, rows, bad


def _both(tmp_path, name: str, content: bytes, **options):
    python = _load(tmp_path, name, "parquet", content, **options)
    engine = _load(tmp_path, name, "none", content, **options)
    assert engine[1] == python[1], "the rows loaded differ"
    assert engine[2] == python[2], "the quarantine differs"
    return python, engine


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_files_are_read_by_the_engine_as_python_reads_them(tmp_path, name):
    python, engine = _both(tmp_path, name, CLEAN[name].encode())
    assert python[0]["rows_engine"] == 0
    assert engine[0]["rows_engine"] == engine[0]["rows_read"] == python[0]["rows_read"]
    assert engine[0]["rows_quarantined"] == 0


@pytest.mark.parametrize("name", sorted(DIRTY))
def test_a_file_with_a_bad_row_falls_back_to_the_python_path(tmp_path, name):
    python, engine = _both(tmp_path, name, DIRTY[name].encode())
    assert engine[0]["rows_engine"] == 0
    assert engine[0]["rows_read"] == python[0]["rows_read"] > 0


# the two forms the engine's reader takes where the Python reader refuses the row (docs:
# "The fast CSV path"); pinned here so that a change on either side is seen
LENIENT = {
    "trailing_delimiter": HEADER + ROWS[0] + "2,x,1,1,,,new,,,\n",
    "spaces_after_a_closing_quote": HEADER + ROWS[0] + '2,"x"  ,1,1,,,new,,\n',
}


@pytest.mark.parametrize("name", sorted(LENIENT))
def test_the_engine_reads_two_forms_the_python_reader_refuses(tmp_path, name):
    python = _load(tmp_path, name, "parquet", LENIENT[name].encode())
    engine = _load(tmp_path, name, "none", LENIENT[name].encode())
    assert [r[0] for r in python[1]] == [1] and [b[1] for b in python[2]] == [3]
    assert [r[:2] for r in engine[1]] == [(1, "apple"), (2, "x")] and engine[2] == []
    assert engine[1][0] == python[1][0]


def test_a_header_only_file_is_refused_alike_by_both(tmp_path):
    for landing in ("parquet", "none"):
        with pytest.raises(SourceError, match="items.csv: the file has a header and no rows"):
            _load(tmp_path, "header_only", landing, HEADER.encode())


def test_the_load_says_why_a_file_is_not_read_by_the_engine(tmp_path):
    engine = _load(tmp_path, "missing", "none", b"item_id,status\n1,new\n")[0]
    assert engine["rows_engine"] == 0
    assert engine["notes"][0] == (
        "read by Python, not the engine: column(s) ['name', 'price', 'weight', 'sold_on', "
        "'sold_at', 'code', 'paid'] are not in the file"
    )
    bad = _load(tmp_path, "bad", "none", (HEADER + "x,a,1,1,,,new,,\n").encode())[0]
    assert bad["notes"][0].startswith("1 file(s) read again by Python, where a row broke")


def test_a_repeated_key_is_quarantined_alike_by_both(tmp_path):
    python, engine = _both(
        tmp_path, "duplicate_key", (HEADER + ROWS[0] + ROWS[1] + ROWS[0]).encode()
    )
    assert engine[0]["rows_engine"] == 3
    ((file, line, reason, record),) = engine[2]
    assert line == 4 and reason == f"duplicate primary key item_id (first at {file} line 2)"
    assert '"name":"apple"' in record


def test_a_line_over_the_cap_falls_back_and_is_one_bad_row(tmp_path, monkeypatch):
    """The engine reads a field of any size; the Python path makes a line longer than the
    cap one bad row. A file with such a line goes to the Python path, and a line just
    under the cap is still taken by the engine."""
    from starloom.ingestion import csv_records

    monkeypatch.setattr(csv_records, "MAX_RECORD_BYTES", 4096)
    over = HEADER + ROWS[0] + f"2,{'x' * 5000},1,1,,,new,,\n" + ROWS[2]
    python, engine = _both(tmp_path, "over_the_cap", over.encode())
    assert engine[0]["rows_engine"] == 0
    ((_, line, reason, _),) = engine[2]
    assert line == 3 and reason == "a line longer than 4,096 bytes (not read)"
    # the engine never read it (it would hold the line whole in memory): Python did
    assert engine[0]["notes"] == [
        "read by Python, not the engine: a line may be longer than STARLOOM_MAX_RECORD_MB"
    ]
    under = HEADER + ROWS[0] + f"2,{'x' * 1000},1,1,,,new,,\n"
    python, engine = _both(tmp_path, "under_the_cap", under.encode())
    assert engine[0]["rows_engine"] == 2 and engine[0]["rows_quarantined"] == 0


def test_a_compressed_line_over_the_cap_falls_back_and_is_one_bad_row(tmp_path, monkeypatch):
    """A compressed file cannot be measured before it is read: each row's line is measured
    by the engine, and a row that may be over the cap sends the file to Python."""
    from starloom.ingestion import csv_records

    monkeypatch.setattr(csv_records, "MAX_RECORD_BYTES", 4096)
    over = HEADER + ROWS[0] + f"2,{'x' * 5000},1,1,,,new,,\n" + ROWS[2]
    python, engine = _both(
        tmp_path, "gz_over_the_cap", gzip.compress(over.encode()), file="items.csv.gz"
    )
    assert engine[0]["rows_engine"] == 0
    ((_, line, reason, _),) = engine[2]
    assert line == 3 and reason == "a line longer than 4,096 bytes (not read)"
    under = HEADER + ROWS[0] + f"2,{'x' * 1000},1,1,,,new,,\n"
    python, engine = _both(
        tmp_path, "gz_under_the_cap", gzip.compress(under.encode()), file="items.csv.gz"
    )
    assert engine[0]["rows_engine"] == 2 and engine[0]["rows_quarantined"] == 0


def _decimal_text(rng: random.Random, whole: int, scale: int) -> str:
    """A decimal written any way the contract allows: a sign or not, leading zeros, a bare
    point, no whole part, fewer digits than the scale."""
    sign = rng.choice(["", "", "-", "+"])
    digits = "".join(rng.choices("0123456789", k=rng.randint(0, whole)))
    fraction = "".join(rng.choices("0123456789", k=rng.randint(0, scale)))
    if not digits and not fraction:
        digits = rng.choice("0123456789")
    if not digits:
        return f"{sign}.{fraction}"
    return sign + digits + (f".{fraction}" if fraction or rng.random() < 0.2 else "")


def test_generated_decimals_are_typed_alike_by_both(tmp_path):
    """Decimals of every shape the contract allows, from a seed, at the edges of their
    precision: all taken by the engine, and each value equal to the Python path's. The
    engine types a decimal of up to 15 digits through a float (exact below 10^15)."""
    rng = random.Random(20261202)
    columns = {
        "item_id": {"type": "int64", "nullable": False},
        "wide": {"type": "decimal(15,2)"},
        "fine": {"type": "decimal(15,6)"},
        "small": {"type": "decimal(4,3)"},
        "long": {"type": "decimal(18,4)"},
    }
    edges = [
        "9999999999999.99,999999999.999999,9.999,99999999999999.9999",
        "-9999999999999.99,-.000001,-0.001,-.0001",
        "0.29,0.07,0.1,0.3",
        "-0,+0.,0,00",
    ]
    rows = [f"{i},{e}" for i, e in enumerate(edges, 1)]
    for i in range(len(edges) + 1, 3001):
        texts = [_decimal_text(rng, w, s) for w, s in ((13, 2), (9, 6), (1, 3), (14, 4))]
        rows.append(",".join([str(i), *(t if rng.random() > 0.05 else "" for t in texts)]))
    content = ("item_id,wide,fine,small,long\n" + "\n".join(rows) + "\n").encode()
    python, engine = _both(tmp_path, "decimals", content, columns=columns)
    assert engine[0]["rows_engine"] == engine[0]["rows_read"] == 3000
    # and against Python's own reading of the text, not only the other path
    by_id = {r[0]: r[1:5] for r in engine[1]}
    for line in rows:
        item, *texts = line.split(",")
        expected = [decimal.Decimal(t) if t else None for t in texts]
        assert list(by_id[int(item)]) == expected, line


def test_bytes_that_are_not_utf8_fall_back(tmp_path):
    python, engine = _both(tmp_path, "not_utf8", NOT_UTF8)
    assert engine[0]["rows_engine"] == 0
    assert engine[0]["rows_quarantined"] == 1


def test_engine_and_python_files_share_one_load(tmp_path):
    """Two files of a day: the clean one by the engine, the dirty one by Python; a key
    repeated across them is quarantined once, after the first."""
    project = tmp_path / "mixed"
    (project / "sources").mkdir(parents=True)
    folder = project / "data" / "feed" / "date=2024-01-04"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(HEADER + "".join(ROWS))
    (folder / "b.csv").write_text(
        HEADER + ROWS[0] + "9,x,1,1,,,old,,\n" + ROWS[1].replace("2", "10", 1)
    )
    items = {
        "path": "data/feed/date=*/*.csv",
        "partition_key": "date",
        "primary_key": ["item_id"],
        "columns": COLUMNS,
    }
    write_source(project, "feed", {"items": items}, kind="files", format="csv", landing="none")
    wh = Warehouse(Settings(project_dir=project, warehouse_path=project / ".warehouse"))
    row = ingest(wh, "feed", run_date=RUN_DATE).iloc[0]
    assert row.rows_engine == len(ROWS)
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (11, 9, 2)
    bad = wh.query_df("SELECT file, line, reason FROM starloom_quarantine ORDER BY line")
    assert list(bad.line) == [2, 3]
    assert bad.reason[0] == (
        "duplicate primary key item_id (first at data/feed/date=2024-01-04/a.csv line 2)"
    )
    assert bad.reason[1].startswith("column status: not one of")
    assert wh.scalar("SELECT count() FROM raw_feed__items WHERE item_id = 10") == 1
