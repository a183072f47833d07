"""Change events (Debezium-shaped) applied to a raw table as upserts and deletes."""

from __future__ import annotations

import json

from tests.support.project import write_source

from starloom.ingestion.cdc import current_state_sql
from starloom.ingestion.load import ingest

COLUMNS = {
    "customer_id": {"type": "int64", "nullable": False},
    "email": {"type": "string", "nullable": False},
    "city": {"type": "string"},
}
FINAL_STATE = "SELECT customer_id, email, city FROM raw_crm__customers FINAL ORDER BY customer_id"


def declare(project):
    customers = {
        "path": "data/crm/date=*/*.jsonl",
        "primary_key": ["customer_id"],
        "columns": COLUMNS,
    }
    write_source(project, "crm", {"customers": customers}, kind="files", format="debezium")


def event(op, lsn, before=None, after=None, wrap=False):
    body = {"op": op, "before": before, "after": after, "ts_ms": 1_700_000_000_000 + lsn}
    body["source"] = {"lsn": lsn, "table": "customers"}
    return json.dumps({"payload": body} if wrap else body)


def put(project, day, lines):
    path = project / "data" / "crm" / f"date={day}" / "changes.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def row(i, email=None, city="Oslo"):
    return {"customer_id": i, "email": email or f"c{i}@x.org", "city": city}


def current_without_final(wh):
    sql = current_state_sql(wh, "raw_crm__customers", ["customer_id"], ["email", "city"])
    return sorted(wh.query_rows(sql))


def test_events_become_the_current_state(project, wh):
    declare(project)
    put(
        project,
        "2024-01-01",
        [
            event("r", 1, after=row(1)),  # snapshot read
            event("c", 2, after=row(2)),
            event("c", 3, after=row(3)),
            event("u", 4, before=row(2), after=row(2, city="Bergen")),
            event("d", 5, before={"customer_id": 3}),  # a delete may carry only the key
            event("u", 6, before=row(1), after=row(1, email="new@x.org"), wrap=True),
        ],
    )
    loads = ingest(wh, "crm", run_date="2024-01-01")
    assert (loads.rows_read[0], loads.rows_loaded[0], loads.rows_quarantined[0]) == (6, 6, 0)
    expected = [(1, "new@x.org", "Oslo"), (2, "c2@x.org", "Bergen")]
    assert wh.query_rows(FINAL_STATE) == expected
    assert current_without_final(wh) == expected
    # the next day's events: key 3 comes back, key 2 is deleted
    put(
        project,
        "2024-01-02",
        [
            event("c", 7, after=row(3, city="Turku")),
            event("d", 8, before=row(2, city="Bergen")),
        ],
    )
    ingest(wh, "crm", run_date="2024-01-02")
    expected = [(1, "new@x.org", "Oslo"), (3, "c3@x.org", "Turku")]
    assert wh.query_rows(FINAL_STATE) == expected
    assert current_without_final(wh) == expected


def test_replaying_events_is_idempotent(project, wh):
    declare(project)
    lines = [event("c", 1, after=row(1)), event("u", 2, before=row(1), after=row(1, city="Rome"))]
    put(project, "2024-01-01", lines)
    ingest(wh, "crm", run_date="2024-01-01")
    ingest(wh, "crm", run_date="2024-01-01", full_refresh=True)  # the same events again
    wh.command("OPTIMIZE TABLE raw_crm__customers FINAL")
    assert wh.count("raw_crm__customers") == 1  # versions collapsed, nothing doubled
    assert wh.query_rows(FINAL_STATE) == [(1, "c1@x.org", "Rome")]
    assert current_without_final(wh) == [(1, "c1@x.org", "Rome")]


def test_broken_events_are_quarantined(project, wh):
    declare(project)
    put(
        project,
        "2024-01-01",
        [
            event("c", 1, after=row(1)),
            event("x", 2, after=row(2)),  # unknown op
            event("c", 3),  # a create without its row
            json.dumps({"op": "c", "after": row(4)}),  # no version at all
            event("c", 5, after={"customer_id": 5}),  # breaks the contract (email)
            "{not json",
            event("c", 6, after=row(6), before=None),
        ],
    )
    loads = ingest(wh, "crm", run_date="2024-01-01")
    assert (loads.rows_read[0], loads.rows_loaded[0], loads.rows_quarantined[0]) == (7, 2, 5)
    bad = wh.query_df("SELECT line, reason FROM starloom_quarantine ORDER BY line")
    assert list(bad.line) == [2, 3, 4, 5, 6]
    reasons = list(bad.reason)
    assert reasons[0] == "event op 'x' is not one of ['c', 'u', 'd', 'r']"
    assert reasons[1] == "event op 'c' without a `after` row"
    assert reasons[2] == "column _version: missing value (not nullable)"
    assert reasons[3] == "column email: missing value (not nullable)"
    assert reasons[4].startswith("line is not a JSON object")
    assert wh.query_rows(FINAL_STATE) == [(1, "c1@x.org", "Oslo"), (6, "c6@x.org", "Oslo")]
