"""The pipeline builds the docs site and records OpenLineage events for every task it ran."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.support.project import copy_project, run_tool

from starloom.lineage import EVENTS_FILE, parse_event, pipeline_run_uuid, read_events

pytestmark = pytest.mark.slow
SMALL = ["--env--demo_size", "0.05", "--env--run_date", "2024-01-03"]


def _build(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = run_tool(root, "ploomber", "build", *SMALL, *args, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_build_writes_docs_and_lineage_for_every_task(tmp_path):
    root = copy_project(tmp_path / "project")
    _build(root)
    tasks = [
        "make_demo_sources", "ingest_shop", "ingest_events", "build_staging", "build_marts",
        "report_shop", "check_quality", "publish_reports", "build_docs",
    ]  # fmt: skip

    index = (root / "output" / "docs" / "index.html").read_text()
    assert 'href="models/fct_orders.html"' in index
    assert 'href="../reports/06_check_quality.html"' in index
    assert (root / "output" / "reports" / "06_check_quality.html").is_file()

    events = read_events(root / EVENTS_FILE)
    runs: dict[str, list[str]] = {}
    for event in events:
        parse_event(event)
        runs.setdefault(event["job"]["name"], []).append(event["eventType"])
    assert runs == {t: ["START", "COMPLETE"] for t in tasks}
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 1  # one build, one parent run
    tagged = {t["value"] for e in events for t in e["run"]["facets"]["tags"]["tags"]}
    assert len(tagged) == 1 and parents == {pipeline_run_uuid(tagged.pop())}  # its run id
    for event in events:
        if event["eventType"] == "START":
            end = next(
                e for e in events
                if e["run"]["runId"] == event["run"]["runId"] and e["eventType"] == "COMPLETE"
            )  # fmt: skip
            assert event["eventTime"] <= end["eventTime"]

    marts = next(e for e in events if e["job"]["name"] == "build_marts")
    outputs = {d["name"]: d for d in marts["outputs"]}
    assert "starloom.stg_shop__orders" in {d["name"] for d in marts["inputs"]}
    fields = outputs["starloom.fct_orders"]["facets"]["columnLineage"]["fields"]
    assert {f["name"] for f in fields["line_revenue"]["inputFields"]} >= {
        "starloom.stg_shop__order_items"
    }

    # a build with nothing to run emits nothing new
    _build(root)
    assert len(read_events(root / EVENTS_FILE)) == len(events)
