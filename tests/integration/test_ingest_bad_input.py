"""Bad input, one kind per test, on the real embedded engine.

Every kind gives either a clear error (and leaves the warehouse as it was) or quarantine
entries, and always rows read = rows loaded + rows quarantined.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from tests.support.project import write_source

from starloom.errors import ConfigError, SourceError
from starloom.ingestion.load import ingest

RUN_DATE = "2024-01-05"
COLUMNS = {
    "item_id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "price": {"type": "decimal(10,2)", "min": 0},
    "sold_on": {"type": "date"},
    "sold_at": {"type": "datetime"},
    "status": {"type": "string", "accepted_values": ["new", "done"]},
}
HEADER = "item_id,name,price,sold_on,sold_at,status\n"
GOOD = [
    "1,apple,1.50,2024-01-01,2024-01-01T10:00:00Z,new\n",
    "2,pear,2.00,2024-01-02,2024-01-02T11:00:00Z,done\n",
    "3,plum,0.99,2024-01-03,2024-01-03T12:00:00Z,new\n",
]


def declare_files(project, fmt="csv", columns=None, **table):
    """Write sources/feed.yml: one table `items` read from data/feed/date=*/*.<fmt>."""
    items = {
        "path": f"data/feed/date=*/*.{fmt}",
        "partition_key": "date",
        "primary_key": ["item_id"],
        "columns": columns or COLUMNS,
        **table,
    }
    write_source(project, "feed", {"items": items}, kind="files", format=fmt)


def put(project, content: bytes | str, day="2024-01-04", name="items.csv"):
    path = project / "data" / "feed" / f"date={day}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def load(wh, source="feed"):
    """Ingest and check the accounting; returns the summary row and the quarantine."""
    loads = ingest(wh, source, run_date=RUN_DATE)
    row = loads.iloc[0]
    assert row.rows_read == row.rows_loaded + row.rows_quarantined
    entity = row.entity
    assert wh.count(f"raw_{source}__{entity}") == row.rows_loaded
    bad = wh.query_df(
        "SELECT file, line, reason, record FROM starloom_quarantine "
        "WHERE source = {s:String} ORDER BY line",
        {"s": source},
    )
    assert len(bad) == row.rows_quarantined
    return row, bad


def test_csv_line_with_too_many_fields(project, wh):
    declare_files(project)
    put(project, HEADER + GOOD[0] + "2,pear,2.00,2024-01-02,2024-01-02,done,EXTRA\n" + GOOD[2])
    row, bad = load(wh)
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (3, 2, 1)
    assert bad.reason[0] == "malformed CSV line (7 fields, expected 6)"
    assert bad.line[0] == 3 and "EXTRA" in bad.record[0]
    assert wh.query_rows("SELECT _source_line FROM raw_feed__items ORDER BY item_id") == [
        (2,),
        (4,),
    ]


def test_csv_line_with_too_few_fields(project, wh):
    declare_files(project)
    put(project, HEADER + GOOD[0] + "2,pear\n" + GOOD[2])
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 1)
    assert "2 fields, expected 6" in bad.reason[0] and bad.line[0] == 3


def test_values_of_the_wrong_type(project, wh):
    declare_files(project)
    put(
        project,
        HEADER
        + GOOD[0]
        + "x1,a,1,2024-01-01,2024-01-01,new\n"
        + "2,b,cheap,2024-01-01,2024-01-01,new\n"
        + "3,c,1,yesterday,2024-01-01,new\n"
        + "4,d,1,2024-01-01,soon,new\n"
        + "5.5,e,1,2024-01-01,2024-01-01,new\n",
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 5)
    assert list(bad.reason) == [
        "column item_id: not an int64: x1",
        "column price: not a decimal(10,2): cheap",
        "column sold_on: not a date: yesterday",
        "column sold_at: not a datetime: soon",
        "column item_id: not an int64: 5.5",
    ]


def test_a_nullable_column_missing_from_the_header_loads_as_null(project, wh):
    declare_files(project)
    put(project, "item_id,name,sold_on,sold_at,status\n1,a,2024-01-01,2024-01-01,new\n")
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 0)
    assert wh.query_rows("SELECT item_id, price FROM raw_feed__items") == [(1, None)]
    assert row.notes == ["column price is not in the file(s); loaded as NULL"]


def test_a_required_column_missing_from_the_header_refuses_the_file(project, wh):
    columns = {**COLUMNS, "name": {"type": "string", "nullable": False}}
    declare_files(project, columns=columns)
    put(project, "item_id,sold_on\n1,2024-01-01\n", name="a.csv")
    put(project, HEADER + GOOD[0], day="2024-01-03", name="b.csv")
    with pytest.raises(SourceError) as err:
        ingest(wh, "feed", run_date=RUN_DATE)
    assert "date=2024-01-04/a.csv: column(s) ['name'] of the contract are not in the file" in str(
        err.value
    )
    assert wh.count("raw_feed__items") == 1  # the other day loaded


def test_extra_columns_are_ignored_by_default(project, wh):
    declare_files(project)
    put(project, HEADER.strip() + ",colour\n" + "".join(g.strip() + ",red\n" for g in GOOD))
    row, _ = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (3, 0)
    assert "colour" not in wh.query_df("SELECT * FROM raw_feed__items").columns


def test_extra_columns_break_rows_when_declared_to(project, wh):
    declare_files(project, extra_columns="fail")
    put(
        project, HEADER.strip() + ",colour\n" + GOOD[0].strip() + ",red\n" + GOOD[1].strip() + ",\n"
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 1)
    assert bad.reason[0] == "unexpected column colour (extra_columns: fail)"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_an_empty_file_is_refused_and_its_day_keeps_its_rows(project, wh, fmt):
    declare_files(project, fmt=fmt)
    other = put(project, b"", day="2024-01-03", name=f"items.{fmt}")
    if fmt == "csv":
        put(project, HEADER + "".join(GOOD), name="items.csv")
        put(project, HEADER + GOOD[0], day="2024-01-03", name="items.csv")
    elif fmt == "jsonl":
        put(project, '{"item_id": 1}\n{"item_id": 2}\n{"item_id": 3}\n', name="items.jsonl")
        put(project, '{"item_id": 1}\n', day="2024-01-03", name="items.jsonl")
    else:
        _parquet(
            project / "data/feed/date=2024-01-04/items.parquet", pa.table({"item_id": [1, 2, 3]})
        )
        _parquet(other, pa.table({"item_id": [1]}))
    assert load(wh)[0].rows_loaded == 4
    put(project, b"", name=f"items.{fmt}")  # the export of 2024-01-04 failed
    with pytest.raises(SourceError) as err:
        ingest(wh, "feed", run_date=RUN_DATE)
    assert f"data/feed/date=2024-01-04/items.{fmt}: " in str(err.value)
    assert ("empty file" in str(err.value)) or ("not a readable Parquet" in str(err.value))
    assert wh.count("raw_feed__items") == 4  # the day keeps its three rows


def test_an_empty_file_does_not_stop_the_other_files(project, wh):
    declare_files(project)
    put(project, b"", name="a.csv")
    put(project, HEADER + GOOD[0], name="b.csv")
    put(project, HEADER + GOOD[1], day="2024-01-03", name="c.csv")
    with pytest.raises(SourceError, match=r"date=2024-01-04/a.csv: empty file \(0 bytes\)"):
        ingest(wh, "feed", run_date=RUN_DATE)
    # the day of the empty file is not loaded (it would lose a.csv's rows); the other is
    assert wh.query_rows("SELECT item_id, _partition FROM raw_feed__items") == [
        (2, __import__("datetime").date(2024, 1, 3))
    ]
    loads = wh.query_df("SELECT file_errors FROM starloom_loads")
    assert "empty file" in loads.file_errors[0][0]


def test_header_only_file_is_refused_unless_the_table_allows_an_empty_day(project, wh):
    declare_files(project)
    put(project, HEADER + "".join(GOOD))
    assert load(wh)[0].rows_loaded == 3
    put(project, HEADER)
    with pytest.raises(SourceError, match="the file has a header and no rows"):
        ingest(wh, "feed", run_date=RUN_DATE)
    assert wh.count("raw_feed__items") == 3
    declare_files(project, allow_empty=True)
    row, bad = load(wh)
    assert (row.rows_read, row.rows_loaded, len(bad)) == (0, 0, 0)
    assert [str(d) for d in row.partitions] == ["2024-01-04"]
    assert wh.count("raw_feed__items") == 0


def test_bytes_that_are_not_utf8_in_csv(project, wh):
    declare_files(project)
    put(project, (HEADER + GOOD[0]).encode() + b"2,caf\xe9,2.00,,,new\n" + GOOD[2].encode())
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 1)
    assert bad.reason[0] == "column name: bytes that are not UTF-8"
    assert bad.line[0] == 3 and "caf\ufffd" in bad.record[0]


def test_bytes_that_are_not_utf8_in_json_lines(project, wh):
    declare_files(project, fmt="jsonl")
    lines = [json.dumps({"item_id": i, "name": "x"}).encode() for i in (1, 2)]
    put(project, lines[0] + b'\n{"item_id": 3, "name": "caf\xe9"}\n' + lines[1], name="a.jsonl")
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 1)
    assert bad.reason[0].startswith("line is not valid UTF-8") and bad.line[0] == 2


def test_json_lines_that_are_not_objects(project, wh):
    declare_files(project, fmt="jsonl")
    put(project, '{"item_id": 1}\n[1, 2]\n{"item_id": 2\n"text"\n{"item_id": 3}\n', name="a.jsonl")
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 3)
    assert list(bad.line) == [2, 3, 4]
    assert bad.reason.str.startswith("line is not a JSON object").all()


def test_duplicate_keys_keep_the_first_row(project, wh):
    declare_files(project)
    put(project, HEADER + GOOD[0] + GOOD[1] + GOOD[0].replace("apple", "again"))
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 1)
    assert bad.line[0] == 4 and '"again"' in bad.record[0]
    assert bad.reason[0] == (
        "duplicate primary key item_id (first at data/feed/date=2024-01-04/items.csv line 2)"
    )
    assert wh.scalar("SELECT name FROM raw_feed__items WHERE item_id = 1") == "apple"


def test_null_keys(project, wh):
    declare_files(project)
    put(project, HEADER + GOOD[0] + ",nokey,1,,,new\n" + '"  ",blank,1,,,new\n')
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 2)
    assert (bad.reason == "column item_id: missing value (not nullable)").all()


def test_key_columns_are_never_nullable(project, wh):
    columns = {**COLUMNS, "item_id": {"type": "int64"}}
    declare_files(project, columns=columns)
    put(project, HEADER + GOOD[0] + ",nokey,1,,,new\n")
    row, bad = load(wh)
    assert row.rows_quarantined == 1
    assert bad.reason[0] == "column item_id: missing value (not nullable)"
    assert wh.scalar("SELECT toTypeName(item_id) FROM raw_feed__items LIMIT 1") == "Int64"


def test_dates_out_of_range(project, wh):
    declare_files(project)
    put(
        project,
        HEADER
        + GOOD[0]
        + "2,a,1,0001-01-01,,new\n"
        + "3,b,1,,2400-01-01T00:00:00Z,new\n"
        + "4,c,1,1899-12-31,,new\n"
        + "5,d,1,2024-02-30,,new\n",
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 4)
    reasons = list(bad.reason)
    assert reasons[0] == "column sold_on: out of range 1900-01-01..2299-12-31: 0001-01-01"
    assert reasons[1].startswith("column sold_at: out of range")
    assert reasons[2].startswith("column sold_on: out of range")
    assert reasons[3] == "column sold_on: not a date: 2024-02-30"


def test_numbers_too_large_for_their_type(project, wh):
    declare_files(project)
    put(
        project,
        HEADER
        + "9007199254740993,exact,1,,,new\n"
        + "99999999999999999999,huge,1,,,new\n"
        + "2,dear,123456789.00,,,new\n",
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 2)
    assert wh.scalar("SELECT item_id FROM raw_feed__items") == 9007199254740993
    assert list(bad.reason) == [
        "column item_id: not an int64: 99999999999999999999",
        "column price: does not fit decimal(10,2): 123456789.00",
    ]


def test_rules_min_accepted_values_and_pattern(project, wh):
    columns = {**COLUMNS, "name": {"type": "string", "pattern": "[a-z]+"}}
    declare_files(project, columns=columns)
    put(
        project,
        HEADER + GOOD[0] + "2,b,-1,,,new\n" + "3,c,1,,,lost\n" + "4,Caps,1,,,new\n",
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (1, 3)
    assert list(bad.reason) == [
        "column price: below minimum 0",
        "column status: not one of ['new', 'done']: lost",
        "column name: does not match [a-z]+",
    ]


def test_enormous_field(project, wh):
    columns = {**COLUMNS, "name": {"type": "string", "max_length": 1000}}
    declare_files(project, columns=columns)
    huge = "x" * 3_000_000
    put(project, HEADER + GOOD[0] + f"2,{huge},1,,,new\n" + GOOD[2])
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 1)
    assert bad.reason[0] == "column name: longer than 1000 characters"
    assert len(bad.record[0]) == 10_000  # the record kept is cut, the reason says why
    declare_files(project)  # without a length rule the value loads whole
    wh.command("DROP TABLE raw_feed__items")
    loads = ingest(wh, "feed", run_date=RUN_DATE, full_refresh=True)
    assert loads.rows_loaded[0] == 3
    assert wh.scalar("SELECT max(length(name)) FROM raw_feed__items") == 3_000_000


def test_byte_order_mark_and_crlf_line_ends(project, wh):
    declare_files(project)
    text = (HEADER + "".join(GOOD)).replace("\n", "\r\n")
    put(project, b"\xef\xbb\xbf" + text.encode())
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (3, 0)
    assert wh.scalar("SELECT status FROM raw_feed__items WHERE item_id = 3") == "new"


def test_header_naming_a_column_twice(project, wh):
    declare_files(project)
    put(project, "item_id,name,name\n1,a,b\n")
    with pytest.raises(SourceError, match=r"names column\(s\) \['name'\] more than once"):
        ingest(wh, "feed", run_date=RUN_DATE)


def _parquet(path, table: pa.Table, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kwargs)
    return path


def test_parquet_read_in_row_group_batches_with_wrong_values(project, wh, monkeypatch):
    import starloom.ingestion.readers

    monkeypatch.setattr(starloom.ingestion.readers, "CHUNK_LINES", 100)
    declare_files(project, fmt="parquet")
    n = 450
    ids = [str(i) for i in range(n)]
    ids[120] = "not-a-number"
    ids[300] = None
    table = pa.table(
        {
            "item_id": ids,
            "name": [f"n{i}" for i in range(n)],
            "price": pa.array([i / 100 for i in range(n)], pa.float64()),
            "sold_on": pa.array([None] * n, pa.date32()),
            "sold_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
            "status": ["new"] * n,
        }
    )
    path = project / "data/feed/date=2024-01-04/items.parquet"
    _parquet(path, table, row_group_size=50)
    row, bad = load(wh)
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (450, 448, 2)
    assert list(bad.line) == [121, 301]  # row numbers in the file, 1-based
    landed = sorted((project / "output/landing/feed/items").rglob("*.parquet"))
    assert len(landed) == 5  # one landing file per batch of 100 rows


def test_parquet_missing_a_contract_column(project, wh):
    declare_files(project, fmt="parquet")
    _parquet(
        project / "data/feed/date=2024-01-04/items.parquet",
        pa.table({"item_id": [1, 2], "name": ["a", "b"]}),
    )
    row, bad = load(wh)
    assert (row.rows_loaded, row.rows_quarantined) == (2, 0)
    assert "column price is not in the file(s); loaded as NULL" in row.notes
    _parquet(project / "data/feed/date=2024-01-04/items.parquet", pa.table({"name": ["a", "b"]}))
    with pytest.raises(SourceError, match=r"column\(s\) \['item_id'\] of the contract are not"):
        ingest(wh, "feed", run_date=RUN_DATE)
    assert wh.count("raw_feed__items") == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_truncated_or_corrupt_parquet_fails_and_keeps_the_warehouse(project, wh, damage):
    declare_files(project, fmt="parquet")
    good = pa.table({c: [1, 2, 3] if c == "item_id" else [None] * 3 for c in COLUMNS})
    _parquet(project / "data/feed/date=2024-01-03/items.parquet", good)
    assert load(wh)[0].rows_loaded == 3
    broken = _parquet(project / "data/feed/date=2024-01-04/items.parquet", good)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PAR1" + b"\0" * 99)
    with pytest.raises(SourceError, match=r"date=2024-01-04/items.parquet: not a readable Parquet"):
        ingest(wh, "feed", run_date=RUN_DATE)
    assert wh.count("raw_feed__items") == 3
    assert wh.scalar("SELECT count() FROM starloom_manifest WHERE file LIKE '%01-04%'") == 0


# -- databases ----------------------------------------------------------------------------
def declare_db(project, url="sqlite:///data/items.db", columns=None, **table):
    items = {"primary_key": ["item_id"], "columns": columns or COLUMNS, **table}
    write_source(project, "db", {"items": items}, kind="sql", url=url)


def make_db(project, rows: list[tuple], ddl=None):
    engine = sa.create_engine(f"sqlite:///{project / 'data/items.db'}")
    (project / "data").mkdir(exist_ok=True)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                ddl
                or "CREATE TABLE items (item_id INTEGER, name TEXT, price NUMERIC, "
                "sold_on DATE, sold_at DATETIME, status TEXT)"
            )
        )
        for r in rows:
            marks = ", ".join(f":p{i}" for i in range(len(r)))
            conn.execute(
                sa.text(f"INSERT INTO items VALUES ({marks})"),
                {f"p{i}": v for i, v in enumerate(r)},
            )
    engine.dispose()


def test_database_rows_with_wrong_types_and_null_keys(project, wh):
    declare_db(project)
    make_db(
        project,
        [
            (1, "a", 1.5, "2024-01-01", "2024-01-01 10:00:00", "new"),
            ("abc", "b", 1, None, None, "new"),  # SQLite keeps text in an INTEGER column
            (None, "c", 1, None, None, "new"),  # a null key must be quarantined, not dropped
            (4, "d", "free", None, None, "done"),
            (5, "e", 2, "2024-13-01", None, "new"),
        ],
    )
    row, bad = load(wh, "db")
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (5, 1, 4)
    reasons = " | ".join(sorted(bad.reason))
    for expected in (
        "column item_id: not an int64: abc",
        "column item_id: missing value (not nullable)",
        "column price: not a decimal(10,2): free",
        "column sold_on: not a date: 2024-13-01",
    ):
        assert expected in reasons


def test_database_duplicate_keys_are_found_across_the_whole_extract(project, wh):
    # the extract is split into key ranges (one Dask task each): a key's rows all fall in
    # the range of that key, so checking each range checks the whole load
    declare_db(project, partitions=3)
    rows = [(k, f"n{k}", 1, None, None, "new") for k in range(1, 301)]
    rows += [(k, f"again{k}", 2, None, None, "new") for k in (1, 150, 300)]
    make_db(project, rows)
    row, bad = load(wh, "db")
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (303, 300, 3)
    assert bad.reason.str.startswith("duplicate primary key item_id").all()
    assert wh.scalar("SELECT uniqExact(item_id) = count() FROM raw_db__items") == 1
    assert len(list((project / "output/landing/db/items").rglob("*.parquet"))) > 2


def test_database_table_missing_a_contract_column(project, wh):
    declare_db(project)
    make_db(project, [(1, "a")], ddl="CREATE TABLE items (item_id INTEGER, name TEXT)")
    row, bad = load(wh, "db")
    assert (row.rows_loaded, row.rows_quarantined) == (1, 0)
    assert wh.query_rows("SELECT item_id, name, price FROM raw_db__items") == [(1, "a", None)]
    assert "column price is not in the file(s); loaded as NULL" in row.notes


def test_database_table_without_its_key_column(project, wh):
    declare_db(project)
    make_db(project, [("a",)], ddl="CREATE TABLE items (name TEXT)")
    with pytest.raises(SourceError, match="primary key column 'item_id' is not in the source"):
        ingest(wh, "db", run_date=RUN_DATE)


def test_source_database_that_is_unreachable(project, wh):
    declare_db(project, url="sqlite:///no/such/folder/items.db")
    with pytest.raises(SourceError, match="db.items .db.yml.: cannot read the source database"):
        ingest(wh, "db", run_date=RUN_DATE)
    declare_db(project, url="postgresql://u@127.0.0.1:9/db")  # nothing listens on port 9
    with pytest.raises(SourceError, match="cannot read the source database|driver for postgresql"):
        ingest(wh, "db", run_date=RUN_DATE)


def test_table_that_disappeared(project, wh):
    declare_db(project)
    make_db(project, [(1, "a", 1, None, None, "new")])
    assert load(wh, "db")[0].rows_loaded == 1
    engine = sa.create_engine(f"sqlite:///{project / 'data/items.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE items"))
    engine.dispose()
    with pytest.raises(SourceError, match="table 'items' does not exist in the source database"):
        ingest(wh, "db", run_date=RUN_DATE)
    assert wh.count("raw_db__items") == 1  # the last good extract stays


def test_declarations_that_cannot_work_fail_early(project, wh):
    declare_files(project, fmt="xml")
    with pytest.raises(ConfigError, match="`format` must be one of"):
        ingest(wh, "feed", run_date=RUN_DATE)
    declare_db(project, mode="incremental")
    with pytest.raises(ConfigError, match="needs a `cursor` column of the contract"):
        ingest(wh, "db", run_date=RUN_DATE)
    declare_db(project, schema="loose")
    with pytest.raises(ConfigError, match="`schema` must be one of"):
        ingest(wh, "db", run_date=RUN_DATE)


def test_large_csv_is_read_in_ranges_with_the_right_line_numbers(project, wh, monkeypatch):
    import starloom.ingestion.load

    monkeypatch.setattr(starloom.ingestion.load, "CSV_SPLIT_BYTES", 300)
    declare_files(project)
    lines = [f"{i},n{i},1.00,2024-01-01,2024-01-01T00:00:00Z,new\n" for i in range(1, 101)]
    lines[40] = "41,broken\n"  # line 42 of the file
    lines[77] = "78,x,1,2024-01-01,,lost\n"  # line 79
    put(project, HEADER + "".join(lines))
    row, bad = load(wh)
    assert (row.rows_read, row.rows_loaded, row.rows_quarantined) == (100, 98, 2)
    assert list(bad.line) == [42, 79]
    landed = list((project / "output/landing/feed/items").rglob("*.parquet"))
    assert len(landed) > 5  # the file was read by several tasks
    assert wh.query_rows(
        "SELECT count() FROM raw_feed__items WHERE _source_line != item_id + 1"
    ) == [(0,)]
