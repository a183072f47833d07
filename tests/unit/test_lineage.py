"""Column lineage from the models' SQL, and OpenLineage run events checked with the client's
own models."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import uuid
from pathlib import Path

import pytest
from openlineage.client.serde import Serde
from tests.support.project import REPO

from starloom import lineage
from starloom.errors import ConfigError
from starloom.models import Model
from starloom.project import Project
from starloom.settings import Settings, load_settings


def _model(sql: str, name: str = "fct_x") -> Model:
    return Model(name, Path(f"sql/marts/{name}.sql"), "marts", sql)


def test_column_lineage_kinds_and_joins():
    sql = (
        "SELECT i.item_id, o.customer_id, i.qty * i.price AS revenue, count() AS n "
        "FROM {{ ref('stg_items') }} AS i JOIN {{ ref('stg_orders') }} AS o "
        "ON o.order_id = i.order_id WHERE o.day <= {run_date:Date} GROUP BY 1, 2, 3"
    )
    got = lineage.column_lineage(_model(sql))
    assert got["item_id"] == {"inputs": [("stg_items", "item_id")], "kind": "IDENTITY"}
    assert got["customer_id"]["inputs"] == [("stg_orders", "customer_id")]
    assert got["revenue"] == {
        "inputs": [("stg_items", "price"), ("stg_items", "qty")],
        "kind": "TRANSFORMATION",
    }
    assert "n" not in got  # count() reads no column


def test_column_lineage_through_ctes_and_sources():
    sql = (
        "WITH o AS (SELECT customer_id, sum(qty) AS units FROM {{ ref('stg_orders') }} "
        "GROUP BY customer_id) SELECT c.customer_id, lower(c.email) AS email, o.units "
        "FROM {{ source('shop', 'customers') }} AS c LEFT JOIN o ON o.customer_id = c.customer_id"
    )
    got = lineage.column_lineage(_model(sql))
    assert got["email"] == {
        "inputs": [("raw_shop__customers", "email")],
        "kind": "TRANSFORMATION",
    }
    assert got["units"] == {"inputs": [("stg_orders", "qty")], "kind": "AGGREGATION"}


def test_every_model_of_the_project_has_column_lineage():
    got = lineage.model_column_lineage(Project.load(REPO))
    models = Project.load(REPO).models
    assert set(got) == set(models)
    for name, columns in got.items():
        assert columns, name
        for info in columns.values():
            for table, _ in info["inputs"]:
                assert table in models or table.startswith("raw_"), (name, table)


def test_a_column_read_from_an_undocumented_column_of_a_model_is_traced():
    """The upstream model's header documents one of its columns; the downstream model reads
    another: its lineage comes from the upstream SELECT, not from the header."""
    import types

    from starloom.models.config import parse_config

    upstream = _model("SELECT id, qty, price FROM t", name="stg_items")
    upstream.config = parse_config({"columns": {"id": {"description": "key"}}}, "stg_items")
    downstream = _model("SELECT l.id, l.qty * l.price AS revenue FROM {{ ref('stg_items') }} AS l")
    assert list(upstream.config.columns) == ["id"]
    project = types.SimpleNamespace(
        models={"stg_items": upstream, "fct_x": downstream}, raw_tables={}
    )
    got = lineage.model_column_lineage(project)["fct_x"]
    assert got["revenue"]["inputs"] == [("stg_items", "price"), ("stg_items", "qty")]
    assert got["id"]["inputs"] == [("stg_items", "id")]


def test_task_inputs_and_outputs_from_the_notebooks():
    io = lineage.pipeline_io(Project.load(REPO))
    assert "raw_shop__orders" in io["build_staging"]["inputs"]  # `raw_*` expanded
    assert "stg_shop__orders" in io["build_staging"]["outputs"]
    assert "fct_orders" in io["build_marts"]["outputs"]
    assert "output/index.html" in io["publish_reports"]["outputs"]


def _events(project: Path, failed=False, task="build_marts", run_id="0a1b2c3d4e5f") -> list:
    settings = load_settings(project)
    t0 = dt.datetime(2024, 1, 7, 6, 0, tzinfo=dt.UTC)
    return lineage.run_events(
        task,
        inputs=["stg_shop__orders", "data/demo/shop.db"],
        outputs=["fct_orders"],
        settings=settings,
        started_at=t0,
        ended_at=t0 + dt.timedelta(seconds=42),
        failed=failed,
        error="ModelError: boom",
        run_id=run_id,
        column_lineage_by_model=lineage.model_column_lineage(Project.load(project)),
    )


def _run_of(event: dict) -> tuple[str, str]:
    """(the starloom run id tagged, the parent runId) of a stored event."""
    facets = event["run"]["facets"]
    tags = {t["key"]: t["value"] for t in facets["tags"]["tags"]}
    return tags["starloom_run_id"], facets["parent"]["run"]["runId"]


def test_the_events_of_one_pipeline_run_join_under_its_run_id(project):
    path = project / lineage.EVENTS_FILE
    for task in ("build_staging", "build_marts"):
        lineage.emit(_events(project, task=task, run_id="run0001"), path)
    lineage.emit(_events(project, task="build_marts", run_id="run0002"), path)
    stored = lineage.read_events(path)
    runs = [_run_of(e) for e in stored]
    first = ("run0001", lineage.pipeline_run_uuid("run0001"))
    assert runs == [first] * 4 + [("run0002", lineage.pipeline_run_uuid("run0002"))] * 2
    assert uuid.UUID(first[1]).version == 5  # derived from the run id, not random
    assert lineage.pipeline_run_uuid("run0001") != lineage.pipeline_run_uuid("run0002")
    assert len({e["run"]["runId"] for e in stored}) == 3  # one run per task, its own
    for data in stored:
        parent_job = data["run"]["facets"]["parent"]["job"]
        assert (parent_job["namespace"], parent_job["name"]) == ("starloom", "pipeline")
        assert Serde.to_dict(lineage.parse_event(data)) == data


def test_the_run_id_defaults_to_the_current_run(project, monkeypatch):
    monkeypatch.setenv("STARLOOM_RUN_ID", "fromtheenv01")
    events = _events(project, run_id=None)
    stored = [json.loads(Serde.to_json(e)) for e in events]
    assert {_run_of(e) for e in stored} == {
        ("fromtheenv01", lineage.pipeline_run_uuid("fromtheenv01"))
    }


def test_the_dag_hook_tags_every_task_with_the_current_run(project, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("STARLOOM_RUN_ID", "dagrun000001")
    monkeypatch.chdir(project)
    executed = SimpleNamespace(name="Executed")
    dag = {
        name: SimpleNamespace(exec_status=executed, product=f"output/{name}.csv")
        for name in ("build_staging", "build_marts")
    }
    dag["report_shop"] = SimpleNamespace(
        exec_status=SimpleNamespace(name="Skipped"), product="output/r.csv"
    )
    events = lineage.emit_dag_events(dag, elapsed={"build_staging": 3.0, "build_marts": 5.0})
    stored = lineage.read_events(project / lineage.EVENTS_FILE)
    assert len(events) == len(stored) == 4
    assert {e["job"]["name"] for e in stored} == {"build_staging", "build_marts"}
    assert {_run_of(e) for e in stored} == {
        ("dagrun000001", lineage.pipeline_run_uuid("dagrun000001"))
    }


def test_a_build_that_ran_no_task_emits_nothing_and_reads_no_model(project, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.chdir(project)
    monkeypatch.setattr(lineage, "model_column_lineage", lambda *a: pytest.fail("parsed"))
    skipped = SimpleNamespace(name="Skipped")
    dag = {name: SimpleNamespace(exec_status=skipped) for name in ("build_marts", "report")}
    assert lineage.emit_dag_events(dag) == []
    assert not (project / lineage.EVENTS_FILE).exists()


@pytest.mark.parametrize("failed", [False, True])
def test_events_round_trip_through_the_client_models(project, failed):
    events = _events(project, failed)
    path = project / lineage.EVENTS_FILE
    lineage.emit(events, path)
    stored = lineage.read_events(path)
    assert [e["eventType"] for e in stored] == ["START", "FAIL" if failed else "COMPLETE"]
    assert stored[0]["run"]["runId"] == stored[1]["run"]["runId"]
    for data in stored:
        rebuilt = lineage.parse_event(data)  # the client's models validate every field
        assert Serde.to_dict(rebuilt) == data
        assert data["schemaURL"].startswith("https://openlineage.io/spec/")
    fct = stored[1]["outputs"][0]
    assert fct["name"] == "starloom.fct_orders"
    fields = fct["facets"]["columnLineage"]["fields"]
    assert fields["customer_id"]["inputFields"][0]["name"] == "starloom.stg_shop__orders"
    assert stored[1]["inputs"][1]["name"] == "data/demo/shop.db"
    if failed:
        assert stored[1]["run"]["facets"]["errorMessage"]["message"] == "ModelError: boom"


def test_parse_event_rejects_a_broken_event(project):
    data = json.loads(Serde.to_json(_events(project)[0]))
    data["run"]["runId"] = "not-a-uuid"
    with pytest.raises(ValueError):
        lineage.parse_event(data)


def test_events_go_to_an_http_endpoint_when_configured(project, monkeypatch):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "k3y")
        lineage.emit(_events(project), project / lineage.EVENTS_FILE)
    finally:
        server.shutdown()
    assert [r[0] for r in received] == ["/api/v1/lineage"] * 2
    assert received[0][1] == "Bearer k3y"
    assert [r[2]["eventType"] for r in received] == ["START", "COMPLETE"]
    assert len(lineage.read_events(project / lineage.EVENTS_FILE)) == 2  # the file too


def test_unreachable_endpoint_does_not_fail(project, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    lineage.emit(_events(project), project / lineage.EVENTS_FILE)
    assert len(lineage.read_events(project / lineage.EVENTS_FILE)) == 2


# Two random-looking halves: a leak of either half of a password is a leak.
A, B = "pA55wdA9f3", "pB66wdB0e4"


def test_an_unreachable_endpoint_is_logged_without_its_password(project, monkeypatch, caplog):
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://lineage:{A}@127.0.0.1:9/?token={B}")
    with caplog.at_level("WARNING", logger=lineage.log.name):
        lineage.emit(_events(project), project / lineage.EVENTS_FILE)
    assert "OpenLineage event not sent to http://lineage:***@127.0.0.1:9" in caplog.text
    assert A not in caplog.text and B not in caplog.text


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"ftp://lineage:{A}@127.0.0.1:9", r"is not an http\(s\) URL"),
        (f"lineage:{A}@127.0.0.1:9", r"is not an http\(s\) URL"),
        (f"http://lineage:{A}#{B}@127.0.0.1:9", "percent-encode"),
        (f"http://lineage:{A}/{B}@127.0.0.1:9", "percent-encode"),
        (f"http://lineage:{A}?{B}@127.0.0.1:9", "percent-encode"),
    ],
)
def test_a_bad_openlineage_url_is_a_config_error_without_its_password(
    project, monkeypatch, url, says
):
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    with pytest.raises(ConfigError, match=says) as err:
        lineage.emit(_events(project), project / lineage.EVENTS_FILE)
    assert A not in str(err.value) and B not in str(err.value)
    assert "lineage:***@" in str(err.value)


@pytest.mark.parametrize("special", ["#", "/", "?"])
def test_the_warehouse_namespace_never_holds_a_password(tmp_path, special):
    url = f"http://default:1234{special}{A}@ch.example:8123/?compress=0"
    settings = Settings(tmp_path, tmp_path / "wh", warehouse_url=url)
    assert lineage.warehouse_namespace(settings) == "clickhouse://ch.example:8123"
