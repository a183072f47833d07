"""A new project from `starloom init`, outside this repository: it builds at once, and the
next run picks up a new data file and a new SQL model without editing pipeline.yaml."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.support.project import run_tool

from starloom.settings import load_settings
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_init_then_run_then_add_a_file_and_a_model(tmp_path):
    made = run_tool(tmp_path, "starloom", "init", "shop")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "shop"
    files = ["pipeline.yaml", "env.yaml", "sources/example.yml", ".gitignore", "README.md"]
    files += [".env.example", "notebooks/01_ingest.ipynb", "sql/marts/fct_sales.sql"]
    for path in files:
        assert (root / path).is_file(), path
    assert "demo" not in (root / "env.yaml").read_text()

    first = run_tool(root, "starloom", "run", timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    wh = Warehouse(load_settings(root))
    assert wh.count("fct_sales") == 7
    assert wh.scalar("SELECT countIf(channel = 'unknown') FROM fct_sales") == 1  # NA read as NULL
    assert (root / "output/index.html").is_file()
    assert (root / "output/reports/03_report.html").is_file()
    tests = wh.query_rows("SELECT DISTINCT status FROM starloom_test_results")
    assert tests == [("pass",)]
    # nothing new: nothing runs (the steps' stamps are fingerprints of what they read)
    idle = run_tool(root, "starloom", "run", timeout=900)
    assert idle.returncode == 0, idle.stdout[-3000:] + idle.stderr[-3000:]
    assert "  tasks   0 ran, 6 up to date" in idle.stdout.splitlines(), idle.stdout

    (root / "data/example/sales_2024-01-03_late.csv").write_text(
        "sale_id;sold_at;customer;amount;channel\n8;2024-01-03 23:00:00;Edsger;1.00;web\n"
    )
    (root / "sql/marts/fct_web_sales.sql").write_text(
        "/* ---\ndescription: Web sales only\nmaterialization: table\n--- */\n"
        "SELECT * FROM {{ ref('fct_sales') }} WHERE channel = 'web'\n"
    )
    second = run_tool(root, "starloom", "run", timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert wh.count("fct_sales") == 8
    assert wh.count("fct_web_sales") == 5
    # the second run's quality report draws the rows-per-run chart, once
    executed = json.loads((root / "output/notebooks/04_check_quality.ipynb").read_text())
    (cell,) = [c for c in executed["cells"] if "plot_row_counts" in "".join(c["source"])]
    assert len([o for o in cell["outputs"] if "image/png" in o.get("data", {})]) == 1

    selected = run_tool(root, "starloom", "build", "+fct_web_sales")
    assert selected.returncode == 0, selected.stderr
    assert "fct_web_sales" in selected.stdout and "tests:" in selected.stdout
    tested = run_tool(root, "starloom", "test", "marts")
    assert tested.returncode == 0 and "0 failed" in tested.stdout, tested.stdout
    project_tests = run_tool(root, "python", "-m", "pytest", "-q", "tests")
    assert project_tests.returncode == 0, project_tests.stdout[-2000:]

    # a report taken out of the pipeline leaves the published index, and its page goes
    pipeline = (root / "pipeline.yaml").read_text()
    report_task = pipeline[pipeline.index("  - source: notebooks/03_report.ipynb") :]
    report_task = report_task[: report_task.index("\n\n") + 2]
    pipeline = pipeline.replace(report_task, "").replace(
        "upstream: [ingest, build_models, report, check_quality]",
        "upstream: [ingest, build_models, check_quality]",
    )
    (root / "pipeline.yaml").write_text(pipeline)
    fewer = run_tool(root, "starloom", "run", timeout=900)
    assert fewer.returncode == 0, fewer.stdout[-3000:] + fewer.stderr[-3000:]
    assert "03_report" not in (root / "output/index.html").read_text()
    assert not (root / "output/reports/03_report.html").exists()
    assert (root / "output/reports/04_check_quality.html").is_file()


def test_the_project_still_builds_after_its_example_is_removed_as_its_readme_says(tmp_path):
    assert run_tool(tmp_path, "starloom", "init", "shop").returncode == 0
    root = tmp_path / "shop"
    first = run_tool(root, "starloom", "run", timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    readme = (root / "README.md").read_text()
    section = readme.split("## Remove the example\n", 1)[1].split("\n## ", 1)[0]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0]
    removed = subprocess.run(["bash", "-e", "-c", commands], cwd=root, capture_output=True)
    assert removed.returncode == 0, removed.stderr
    assert not (root / "sources/example.yml").exists() and not (root / ".warehouse").exists()
    assert list((root / "sql").rglob("*.sql")) == []

    again = run_tool(root, "starloom", "run", timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "  loads   nothing loaded in this run" in again.stdout.splitlines(), again.stdout
    assert "  models  0 built, 0 up to date" in again.stdout.splitlines(), again.stdout
    report = (root / "output/reports/03_report.html").read_text()
    assert "Not in the warehouse: fct_sales, dim_customers" in report
    assert (root / "output/index.html").is_file()
