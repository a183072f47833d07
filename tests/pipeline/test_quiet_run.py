"""`starloom run` on a new project says what the run did and nothing a newcomer has to
decode: no warning about parameters every step gets, nor about env.yaml's own settings, no
kernel log lines, no font configuration notices. A warning about the project itself (a
parameter a notebook ignores, a setting nothing reads) still shows."""

from __future__ import annotations

import pytest
from tests.support.project import run_tool

pytestmark = pytest.mark.slow

NOISE = [
    "not used in the task's source code",
    "declared in the environment but unused",
    "DAG render with warnings",
    "without encryption",
    "IPKernelApp",
    "KeyboardInterrupt",
    "Fontconfig",
    "cell/s",  # a progress bar per notebook
    "Percentage",  # Ploomber's table, replaced by the summary
]


def test_a_new_project_runs_quietly_and_ends_with_its_summary(tmp_path):
    assert run_tool(tmp_path, "starloom", "init", "shop").returncode == 0
    root = tmp_path / "shop"
    done = run_tool(root, "starloom", "run", timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert [n for n in NOISE if n in output] == [], output
    lines = done.stdout.splitlines()
    assert lines[0].startswith("run ") and "(run date 2024-01-03)" in lines[0], output
    assert "  tasks   6 ran, 0 up to date" in lines
    assert "  loads   raw_example__sales: 7 rows" in lines
    assert "  models  3 built (stg_example__sales, dim_customers, fct_sales), 0 up to date" in lines
    assert "  tests   8 passed, 0 warned, 0 failed" in lines
    assert "  reports output/index.html" in lines
    assert done.stderr == "", done.stderr


def test_warnings_about_the_project_itself_still_show(tmp_path):
    assert run_tool(tmp_path, "starloom", "init", "shop").returncode == 0
    root = tmp_path / "shop"
    with (root / "env.yaml").open("a") as env:
        env.write("colour: blue\n")  # a setting nothing reads
    pipeline = (root / "pipeline.yaml").read_text()
    marker = "      nb: output/notebooks/01_ingest.ipynb\n    params:\n"
    assert marker in pipeline
    (root / "pipeline.yaml").write_text(pipeline.replace(marker, marker + "      region: eu\n"))
    done = run_tool(root, "starloom", "run", "--partially", "ingest", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "unused in the spec" in done.stderr and "'colour'" in done.stderr
    assert "not used in the task's source code: 'region', and 'stamp'" in done.stderr
    assert "  tasks   1 ran, 0 up to date" in done.stdout.splitlines()
