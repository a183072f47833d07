"""The whole pipeline, headless with `ploomber build`, on a copy of the project at a small size."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tests.support.project import copy_project, run_tool

pytestmark = pytest.mark.slow
SMALL = ["--env--demo_size", "0.05", "--env--run_date", "2024-01-03"]


def _build(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_tool(root, "ploomber", "build", *args)


def _ran(output: str) -> dict[str, bool]:
    table = {}
    for line in output.splitlines():
        m = re.match(r"^(\w+)\s+(True|False)\s+[\d.]+", line)
        if m:
            table[m.group(1)] = m.group(2) == "True"
    return table


def _sql(root: Path, query: str, fmt: str = "csv") -> str:
    done = run_tool(root, "starloom", "sql", query, "--format", fmt, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("pipeline") / "project")
    first = _build(root, *SMALL)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    return root, first


def test_build_runs_every_task_and_fills_the_star_schema(built):
    root, first = built
    ran = _ran(first.stdout)
    assert ran and all(ran.values()), first.stdout[-2000:]
    assert set(ran) >= {
        "make_demo_sources",
        "ingest_shop",
        "ingest_events",
        "build_staging",
        "build_marts",
        "report_shop",
        "publish_reports",
    }
    for table in ("dim_customers", "dim_products", "dim_dates", "fct_orders", "fct_events_daily"):
        rows = int(_sql(root, f"SELECT count() AS n FROM {table}").splitlines()[1])
        assert rows > 0, table
    days = _sql(root, "SELECT min(date_day), max(date_day) FROM dim_dates").splitlines()[1]
    assert days.endswith("2024-01-03")


def test_every_notebook_has_a_self_contained_html_report_and_an_index(built):
    root, _ = built
    notebooks = sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))
    reports = root / "output" / "reports"
    assert sorted(p.stem for p in reports.glob("*.html")) == notebooks
    index = (root / "output" / "index.html").read_text()
    for stem in notebooks:
        assert f'href="reports/{stem}.html"' in index
        html = (reports / f"{stem}.html").read_text()
        assert str(root) not in html
        assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "data:image/png;base64" in (reports / "05_report_shop.html").read_text()
    assert "data:image/png;base64" in index  # the DAG picture


def test_second_build_reruns_nothing(built):
    root, _ = built
    second = _build(root, *SMALL)
    assert second.returncode == 0, second.stderr[-3000:]
    ran = _ran(second.stdout)
    assert ran and not any(ran.values()), second.stdout


def test_forced_rebuild_gives_the_same_tables(built):
    root, _ = built
    query = (
        "SELECT count(), sum(line_revenue), sum(cityHash64(order_item_id, customer_id)) "
        "FROM fct_orders"
    )
    before = _sql(root, query)
    loads = _sql(root, "SELECT sum(rows_loaded) FROM starloom_loads")
    forced = _build(root, *SMALL, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert _sql(root, query) == before
    assert _sql(root, "SELECT sum(rows_loaded) FROM starloom_loads") != loads  # it did run
    # forcing forces: the event files were read again and no model was skipped
    last = "(SELECT argMax(run_id, finished_at) FROM starloom_model_runs)"
    modes = _sql(root, f"SELECT DISTINCT mode FROM starloom_model_runs WHERE run_id = {last}")
    assert "up to date" not in modes and "full" in modes, modes
    events = _sql(
        root,
        f"SELECT sum(rows_read) FROM starloom_loads WHERE source = 'events' AND run_id = {last}",
    )
    assert int(events.splitlines()[1]) > 0, events
    raw = _sql(root, "SELECT count() FROM raw_shop__orders")
    stg = _sql(root, "SELECT count() FROM stg_shop__orders")
    assert raw == stg  # one snapshot per run date, replaced, not doubled


def test_bad_run_date_fails_with_a_clear_message(built, tmp_path):
    root = copy_project(tmp_path / "p")
    done = _build(root, "--env--run_date", "07/01/2024", "--env--demo_size", "0.05")
    assert done.returncode != 0
    assert "is not a date in the format YYYY-MM-DD" in done.stdout + done.stderr


def test_ploomber_plot_works_offline(built):
    root, _ = built
    done = run_tool(
        root, "ploomber", "plot", "--backend", "pygraphviz", "--output", "output/dag.png",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    png = (root / "output" / "dag.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_the_executed_notebooks_hold_no_progress_bars(built):
    """The executed notebooks are the reports: a pipeline run shows them no progress bar
    (and no warning about the widgets one would need)."""
    root, _ = built
    notebooks = list((root / "output" / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 5
    for notebook in notebooks:
        text = notebook.read_text()
        assert "TqdmWarning" not in text and "IProgress" not in text, notebook.name
        assert "part/s]" not in text and "model/s]" not in text, notebook.name
