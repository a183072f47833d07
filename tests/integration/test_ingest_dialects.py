"""The files real sources send: CSV dialects, null markers, encodings, compression, files
without a date folder, unique columns. Each option on both CSV paths where it applies, the
values checked against Python's csv module reading the same file."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pandas as pd
import pytest
from tests.support.loads import compressed, load_files

from starloom.errors import ConfigError

CSV_PATHS = ["parquet", "none"]
COLUMNS = {
    "id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "score": {"type": "float64"},
    "day": {"type": "date"},
}
DAY = "data/feed/date=2024-01-04"


def names(loaded) -> list:
    return [None if pd.isna(n) else n for n in loaded.rows.sort_values("id").name]


@pytest.mark.parametrize("landing", CSV_PATHS)
@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_delimiter_and_null_markers(tmp_path, landing, delimiter):
    text = 'id;name;score;day\n1;NA;NA;2024-01-01\n2;b;\\N;NA\n3;"x;y";2.5;\n'.replace(
        ";", delimiter
    )
    csv_keys = {"delimiter": delimiter, "null_values": ["NA", "\\N"]}
    loaded = load_files(
        tmp_path / landing, {f"{DAY}/a.csv": text}, COLUMNS, landing=landing, csv=csv_keys
    )
    assert loaded.bad.empty
    assert names(loaded) == [None, "b", f"x{delimiter}y"]
    assert loaded.rows.sort_values("id").score.isna().tolist() == [True, True, False]
    reference = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert reference[3][1] == f"x{delimiter}y"
    by_engine = landing == "none" and delimiter != "\t"  # its CSV reader refuses a tab
    assert loaded.summary["rows_engine"] == (3 if by_engine else 0)


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_column_null_marker_replaces_the_tables(tmp_path, landing):
    columns = {**COLUMNS, "name": {"type": "string", "null_values": ["-"]}}
    text = "id,name,score,day\n1,-,NA,\n2,NA,1,\n"
    loaded = load_files(
        tmp_path / landing, {f"{DAY}/a.csv": text}, columns, landing=landing,
        csv={"null_values": ["NA"]},
    )  # fmt: skip
    assert names(loaded) == [None, "NA"]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_no_header_line_reads_the_contract_columns_in_order(tmp_path, landing):
    text = "1,a,1.5,2024-01-01\n2,b,,\n3,c,x,\n"
    loaded = load_files(
        tmp_path / landing, {f"{DAY}/a.csv": text}, COLUMNS, landing=landing,
        csv={"header": False},
    )  # fmt: skip
    assert names(loaded) == ["a", "b"]
    assert list(loaded.bad.line) == [3] and loaded.bad.reason[0] == "column score: not a float64: x"


def test_single_quotes_and_a_backslash_escape(tmp_path):
    text = "id,name,score,day\n1,'it''s, quoted',,\n2,a\\,b,,\n3,'say \\'hi\\'',,\n"
    loaded = load_files(
        tmp_path / "none", {f"{DAY}/a.csv": text}, COLUMNS, landing="none",
        csv={"quote": "'", "escape": "\\"},
    )  # fmt: skip
    assert names(loaded) == ["it's, quoted", "a,b", "say 'hi'"]
    assert loaded.summary["notes"] == [
        "read by Python, not the engine: `csv: escape` is set (the engine has no escape "
        "character for CSV)"
    ]


@pytest.mark.parametrize("landing", CSV_PATHS)
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_files_in_another_encoding(tmp_path, landing, encoding):
    text = "id,name,score,day\n1,Zoë Müller,,\n2,café – naïve,,\n"
    if encoding == "latin-1":
        text = text.replace(" – ", " ")
    loaded = load_files(
        tmp_path / landing, {f"{DAY}/a.csv": text.encode(encoding)}, COLUMNS, landing=landing,
        csv={"encoding": encoding},
    )  # fmt: skip
    assert names(loaded) == [r["name"] for r in csv.DictReader(io.StringIO(text))]


def test_a_latin1_file_read_as_utf8_quarantines_the_rows_with_its_bytes(tmp_path):
    text = "id,name,score,day\n1,plain,,\n2,Zoë,,\n"
    loaded = load_files(tmp_path, {f"{DAY}/a.csv": text.encode("latin-1")}, COLUMNS)
    assert names(loaded) == ["plain"]
    assert loaded.bad.reason[0] == "column name: bytes that are not UTF-8"


@pytest.mark.parametrize("landing", CSV_PATHS)
@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_compressed_files(tmp_path, landing, how):
    text = "\ufeffid,name,score,day\n" + "".join(f"{i},n{i},{i}.5,2024-01-01\n" for i in range(500))
    ext = "gz" if how == "gzip" else "zst"
    files = {f"{DAY}/a.csv.{ext}": compressed(text.encode(), how)}
    loaded = load_files(tmp_path / landing, files, COLUMNS, landing=landing)
    assert len(loaded.rows) == 500 and loaded.bad.empty
    assert loaded.rows.sort_values("id").name.tolist() == [f"n{i}" for i in range(500)]
    assert loaded.summary["rows_engine"] == (500 if landing == "none" else 0)


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_file_whose_lines_end_with_a_lone_cr_is_refused_by_name(tmp_path, landing):
    """Not read as a header and no rows, which a table that allows an empty day loads."""
    text = "id,name,score,day\r1,a,,\r2,b,,\r"
    with pytest.raises(Exception, match=r"a\.csv: .*lone carriage return"):
        load_files(
            tmp_path / landing, {f"{DAY}/a.csv": text}, COLUMNS, landing=landing, allow_empty=True
        )


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_truncated_gzip_file_is_refused_by_name_on_both_paths(tmp_path, landing):
    text = "id,name,score,day\n" + "".join(f"{i},n{i},,\n" for i in range(5000))
    cut = compressed(text.encode(), "gzip")[:-30]
    with pytest.raises(Exception, match=r"a\.csv\.gz: .*cannot be read to its end"):
        load_files(tmp_path / landing, {f"{DAY}/a.csv.gz": cut}, COLUMNS, landing=landing)


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_a_zip_archive_of_one_file(tmp_path, landing):
    import io
    import zipfile

    text = "id,name,score,day\n1,a,NA,\n2,b,1.5,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("items.csv", text)
    files = {f"{DAY}/a.csv.zip": buf.getvalue()}
    loaded = load_files(
        tmp_path / landing, files, COLUMNS, landing=landing, csv={"null_values": ["NA"]}
    )
    assert names(loaded) == ["a", "b"] and loaded.bad.empty


def test_a_zip_archive_of_several_files_is_refused_by_name(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("a.csv", "id\n1\n")
        archive.writestr("b.csv", "id\n2\n")
    with pytest.raises(Exception, match="a.csv.zip: .*a zip archive must hold one file"):
        load_files(tmp_path, {f"{DAY}/a.csv.zip": buf.getvalue()}, COLUMNS)


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_files_in_a_flat_folder_load_as_one_snapshot(tmp_path, landing):
    root = tmp_path / landing
    files = {
        "data/ref/a.csv": "id,name,score,day\n1,a,,\n",
        "data/ref/b.csv": "id,name,score,day\n2,b,,\n",
    }
    loaded = load_files(
        root, files, COLUMNS, landing=landing, path="data/ref/*.csv", partition="none"
    )
    assert names(loaded) == ["a", "b"]
    assert [str(d)[:10] for d in loaded.rows._partition.unique()] == ["2024-01-05"]
    # a changed file replaces the whole snapshot (on a later day too)
    (root / "data/ref/b.csv").write_text("id,name,score,day\n2,B,,\n3,c,,\n")
    again = load_files(
        root, {}, COLUMNS, landing=landing, path="data/ref/*.csv", partition="none",
        run_date="2024-01-06",
    )  # fmt: skip
    assert names(again) == ["a", "B", "c"]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_the_day_from_a_date_in_the_file_name(tmp_path, landing):
    files = {
        "data/exports/sales_20240102.csv": "id,name,score,day\n1,a,,\n",
        "data/exports/sales-2024-01-03.csv": "id,name,score,day\n2,b,,\n",
        "data/exports/sales-2024-01-09.csv": "id,name,score,day\n3,c,,\n",  # after the run date
    }
    loaded = load_files(
        tmp_path / landing, files, COLUMNS, landing=landing, path="data/exports/*.csv",
        partition="filename",
    )  # fmt: skip
    days = dict(zip(loaded.rows.id, loaded.rows._partition))
    assert {k: v.date() for k, v in days.items()} == {
        1: dt.date(2024, 1, 2),
        2: dt.date(2024, 1, 3),
    }


def test_a_flat_folder_without_a_partition_says_what_to_set(tmp_path):
    with pytest.raises(Exception, match="set `partition: filename`.*`partition: none`"):
        load_files(tmp_path, {"data/ref/a.csv": "id\n1\n"}, COLUMNS, path="data/ref/*.csv")


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_unique_columns_beyond_the_key(tmp_path, landing):
    columns = {**COLUMNS, "name": {"type": "string", "unique": True}}
    text = "id,name,score,day\n1,a,,\n2,b,,\n3,a,,\n4,,,\n5,,,\n"
    loaded = load_files(
        tmp_path / landing, {f"{DAY}/a.csv": text}, columns, landing=landing,
        primary_key=["id"],
    )  # fmt: skip
    assert sorted(loaded.rows.id) == [1, 2, 4, 5]  # missing values are not duplicates
    assert loaded.bad.reason[0].startswith("duplicate value of unique column name (first at")
    assert list(loaded.bad.line) == [4]


@pytest.mark.parametrize("landing", CSV_PATHS)
def test_date_and_datetime_bounds_are_checked_by_the_engine_too(tmp_path, landing):
    columns = {
        "id": {"type": "int64"},
        "day": {"type": "date", "min": "2024-01-01", "max": dt.date(2024, 12, 31)},
        "at": {"type": "datetime", "min": "2024-01-01"},
    }
    good = "id,day,at\n1,2024-01-01,2024-01-01 00:00:00\n2,2024-12-31,\n"
    loaded = load_files(tmp_path / landing, {f"{DAY}/a.csv": good}, columns, landing=landing)
    assert loaded.summary["rows_engine"] == (2 if landing == "none" else 0)
    bad = good + "3,2023-12-31,\n4,,2023-12-31 23:59:59\n"
    loaded = load_files(
        tmp_path / f"{landing}-bad", {f"{DAY}/a.csv": bad}, columns, landing=landing
    )
    assert list(loaded.bad.reason) == [
        "column day: below minimum 2024-01-01",
        "column at: below minimum 2024-01-01 00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    "table, message",
    [
        ({"nullabel": False}, "unknown key `nullabel`. Did you mean `nullable`?"),
        ({"regex": "x"}, "unknown key `regex`. The keys allowed here are: type, nullable"),
    ],
)
def test_unknown_column_keys_are_errors(tmp_path, table, message):
    with pytest.raises(
        ConfigError,
        match=r"sources/feed.yml table items column name: " + message.replace("(", r"\("),
    ):
        load_files(tmp_path, {}, {**COLUMNS, "name": {"type": "string", **table}})


def test_unknown_csv_and_table_keys_are_errors(tmp_path):
    with pytest.raises(
        ConfigError, match="table items csv: unknown key `delimeter`. Did you mean `delimiter`"
    ):
        load_files(tmp_path, {}, COLUMNS, csv={"delimeter": ";"})
    with pytest.raises(
        ConfigError, match="table items: unknown key `primary_keys`. Did you mean `primary_key`"
    ):
        load_files(tmp_path, {}, COLUMNS, primary_keys=["id"])


def test_a_reload_loads_every_day_the_table_held_and_files_after_the_run_date_wait(tmp_path):
    from starloom.ingestion.load import ingest

    root = tmp_path / "p"
    files = {
        "data/feed/date=2024-01-04/a.csv": "id,name,score,day\n1,a,,\n",
        "data/feed/date=2024-01-06/b.csv": "id,name,score,day\n2,b,,\n",
    }
    first = load_files(root, files, COLUMNS, run_date="2024-01-06")
    assert names(first) == ["a", "b"]
    later = ingest(first.wh, "feed", run_date="2024-01-04", reload=True).iloc[
        0
    ]  # an earlier run date
    assert later.rows_loaded == 2 and first.wh.count("raw_feed__items") == 2
    (root / "data/feed/date=2024-01-09").mkdir()
    (root / "data/feed/date=2024-01-09/c.csv").write_text("id,name,score,day\n3,c,,\n")
    waiting = ingest(first.wh, "feed", run_date="2024-01-06").iloc[0]
    assert waiting.rows_read == 0
    assert waiting.notes == [
        "1 file(s) dated after the run date 2024-01-06 wait for their day "
        "(first: data/feed/date=2024-01-09/c.csv); "
        "run with a later run date to load them"
    ]
