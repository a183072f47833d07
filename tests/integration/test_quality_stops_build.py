"""A failing error-level model test stops `ploomber build` at that notebook: nothing
downstream runs, the message names the model, the test and the failing rows, and the
lineage events record the failure."""

from __future__ import annotations

import json

import pytest
from tests.support.project import copy_project, run_tool

from starloom.lineage import EVENTS_FILE, parse_event, read_events

pytestmark = pytest.mark.slow


def test_failing_staging_test_stops_the_downstream_notebooks(tmp_path):
    root = copy_project(tmp_path / "project")
    model = root / "sql" / "staging" / "stg_shop__orders.sql"
    text = model.read_text()
    assert "values: [placed, shipped, cancelled]" in text
    model.write_text(text.replace("values: [placed, shipped, cancelled]", "values: [placed]"))

    done = run_tool(
        root, "ploomber", "build", "--env--demo_size", "0.05", "--env--run_date", "2024-01-03",
        timeout=900,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert 'Error building task "build_staging"' in out
    message = next(line for line in out.splitlines() if line.startswith("TestFailure:"))
    assert "Model stg_shop__orders" in message
    assert "accepted_values on status" in message and "failing rows" in message
    assert "status: shipped" in message or "status: cancelled" in message  # a failing row

    executed = {p.name for p in (root / "output" / "notebooks").glob("*.ipynb")}
    assert "03_build_staging.ipynb" in executed
    assert not executed & {"04_build_marts.ipynb", "05_report_shop.ipynb", "06_check_quality.ipynb"}
    assert not (root / "output" / "index.html").exists()

    query = (
        "SELECT status, failures > 0 AS failed FROM starloom_test_results "
        "WHERE model = 'stg_shop__orders' AND test = 'accepted_values'"
    )
    sql = run_tool(root, "starloom", "sql", query, "--format", "json", timeout=120)
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout.splitlines()[0]) == {"status": "fail", "failed": 1}

    events = read_events(root / EVENTS_FILE)
    by_task = {}
    for event in events:
        parse_event(event)  # valid for the client's models
        by_task.setdefault(event["job"]["name"], []).append(event["eventType"])
    assert by_task["ingest_shop"] == ["START", "COMPLETE"]
    assert by_task["build_staging"] == ["START", "FAIL"]
    assert "build_marts" not in by_task
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert "stg_shop__orders" in fail["run"]["facets"]["errorMessage"]["message"]
