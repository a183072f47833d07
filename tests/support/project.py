"""Fixtures: a throwaway copy of the project with its own warehouse and demo sources."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from starloom.settings import load_settings
from starloom.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["pipeline.yaml", "env.yaml", "sources", "sql", "notebooks"]


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the project in tmp_path, made the current project for starloom."""
    root = copy_project(tmp_path / "project")
    for var in (
        "STARLOOM_CLICKHOUSE_URL",
        "STARLOOM_WAREHOUSE_PATH",
        "STARLOOM_DATABASE",
        "STARLOOM_CLICKHOUSE_PASSWORD",
        "STARLOOM_DASK_SCHEDULER",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STARLOOM_PROJECT_DIR", str(root))
    monkeypatch.setenv("STARLOOM_LOCK_TIMEOUT", "5")
    return root


@pytest.fixture
def wh(project) -> Warehouse:
    """The embedded warehouse of the throwaway project (real chdb)."""
    return Warehouse(load_settings(project))


def make_demo(project: Path, run_date="2024-01-03", size=0.05, start="2024-01-01"):
    from starloom.demo import generate

    return generate(
        project / "data" / "demo",
        run_date=dt.date.fromisoformat(run_date),
        start_date=dt.date.fromisoformat(start),
        size=size,
        seed=7,
    )


def ploomber_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="1", **extra)
    return env


def run_tool(root: Path, tool: str, *args: str, timeout: float = 600):
    """Run a command of the venv (ploomber, starloom) in a project copy, output captured."""
    import subprocess
    import sys

    return subprocess.run(
        [str(Path(sys.executable).parent / tool), *args],
        cwd=root,
        text=True,
        capture_output=True,
        env=ploomber_env(STARLOOM_PROJECT_DIR=str(root)),
        timeout=timeout,
    )
