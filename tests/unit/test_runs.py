"""One run id per pipeline run: kept when an orchestrator gives one, never inherited from
a run starloom started before (a notebook that runs `!starloom run`, a backfill's days)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from starloom import runs


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (runs.ENV, runs.MINTED_ENV):
        monkeypatch.delenv(name, raising=False)


def test_an_id_is_minted_once_and_kept_by_the_process():
    first = runs.current_run_id()
    assert len(first) == 12 and runs.current_run_id() == first


def test_a_run_keeps_an_orchestrators_id(monkeypatch):
    monkeypatch.setenv(runs.ENV, "airflow-run-7")
    assert runs.begin_run() == "airflow-run-7"


def test_each_run_gets_its_own_id_even_after_one_was_minted():
    notebook = runs.current_run_id()  # a notebook's ingest minted one
    first = runs.begin_run()
    second = runs.begin_run()
    assert len({notebook, first, second}) == 3


def test_a_child_process_does_not_inherit_a_minted_id_as_its_runs():
    parent = runs.current_run_id()
    script = "from starloom import runs; print(runs.begin_run())"
    children = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env=dict(os.environ),
        ).stdout.strip()
        for _ in range(2)
    ]  # fmt: skip
    assert len({parent, *children}) == 3
