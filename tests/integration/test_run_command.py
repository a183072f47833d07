"""`starloom run` on a small pipeline of Python steps (no notebooks): what its summary says
when a step fails, and when the pipeline does not even load."""

from __future__ import annotations

import pytest

from starloom import run_history, runs
from starloom.cli import main
from starloom.kernel import HEADLESS_ENV

PIPELINE = """
meta:
  extract_upstream: false
  extract_product: false
executor:
  dotted_path: ploomber.executors.Serial
  build_in_subprocess: false
on_render: starloom.pipeline.on_render
tasks:
  - source: run_steps.step
    name: step
    product: output/step.txt
  - source: run_steps.publish
    name: publish
    upstream: [step]
    product: output/index.html
"""

STEPS = """
from pathlib import Path


def step(product):
    if Path("fail-the-step").exists():
        raise RuntimeError("the step failed, as asked")
    Path(str(product)).write_text("done")


def publish(product, upstream):
    Path(str(product)).write_text("<html>reports</html>")
"""


@pytest.fixture
def steps_project(project, monkeypatch):
    """The project with a pipeline of two Python steps: `step`, then `publish` (the
    reports' index), and the build's marks taken back after the test."""
    (project / "pipeline.yaml").write_text(PIPELINE)
    (project / "run_steps.py").write_text(STEPS)
    (project / "output").mkdir(exist_ok=True)
    for name in (runs.ENV, runs.MINTED_ENV, runs.FORCE_ENV, HEADLESS_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return project


def test_the_reports_are_named_only_when_this_run_published_them(steps_project, capsys):
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "  reports output/index.html" in out.splitlines(), out
    (steps_project / "fail-the-step").write_text("")
    assert main(["run", "--force"]) == 1
    captured = capsys.readouterr()
    assert "1 failed (step), 1 not run" in captured.out, captured.out
    assert "reports" not in captured.out  # the index is the previous run's
    assert (steps_project / "output" / "index.html").is_file()


def test_a_pipeline_that_does_not_load_prints_its_error_only(steps_project, capsys):
    (steps_project / "pipeline.yaml").write_text("tasks:\n  - source: [oops\n")
    assert main(["run"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no summary of a run that never started
    pipeline = steps_project / "pipeline.yaml"
    assert captured.err.startswith(f"error: the pipeline in {pipeline} could not be loaded: ")
    assert "invalid YAML" in captured.err and "run " not in captured.err.split("\n")[0][:4]


def test_a_failed_step_fails_its_run_in_the_history_with_its_run_date(
    steps_project, wh, monkeypatch
):
    assert main(["run"]) == 0
    (steps_project / "fail-the-step").write_text("")
    monkeypatch.setenv(runs.COMMAND_ENV, "backfill")  # as a backfill runs each day
    assert main(["run", "--force", "--env--run_date", "2024-01-09"]) == 1
    failed, ok = run_history.list_runs(wh)
    assert (ok.command, ok.run_date, ok.status) == ("run", "2024-01-07", "ok")  # env.yaml's
    assert (failed.command, failed.run_date) == ("backfill", "2024-01-09")
    assert failed.status == "failed: step" and failed.loaded == 0
