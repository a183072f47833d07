"""Fixtures: a throwaway copy of the project with its own warehouse and demo sources."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def ploomber_env(**extra: str | None) -> dict:
    """The environment for a tool of the venv: this one, Ploomber's telemetry off, `extra`
    added (a value of None removes the variable)."""
    env = dict(os.environ)
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="1")
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_tool(
    root: Path, tool: str, *args: str, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command of the venv (ploomber, starloom) in a project copy, output captured.

    `env` adds variables to the environment (None removes one), as ploomber_env does."""
    return subprocess.run(
        [str(Path(sys.executable).parent / tool), *args],
        cwd=root,
        text=True,
        capture_output=True,
        env=ploomber_env(STARLOOM_PROJECT_DIR=str(root), **(env or {})),
        timeout=timeout,
    )


def write_source(project: Path, name: str, tables: dict, **spec) -> Path:
    """Declare a source in a project copy: sources/<name>.yml with its `tables` and the other
    fields of `spec` (kind, format, url, ...)."""
    path = project / "sources" / f"{name}.yml"
    doc = {"source": name, **spec, "tables": tables}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def declare_feed(project: Path, columns: dict, landing: str | None = None, **table) -> Path:
    """The `feed` source: CSV files, one folder a day, of one table `items` keyed by item_id
    (`landing="none"`: read by the engine itself)."""
    items = {"path": "data/feed/date=*/*.csv", "primary_key": ["item_id"], **table}
    spec = {"kind": "files", "format": "csv"} | ({"landing": landing} if landing else {})
    return write_source(project, "feed", {"items": {**items, "columns": columns}}, **spec)


def feed_file(project: Path, day: str) -> Path:
    """Where the `feed` source's items of `day` are read from (its folder made)."""
    path = project / "data" / "feed" / f"date={day}" / "items.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_model(sql_dir: Path, name: str, header: dict, sql: str, layer: str = "marts") -> None:
    """A model file sql/<layer>/<name>.sql: its YAML header, then its SQL."""
    folder = sql_dir / layer
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(header, sort_keys=False)
    (folder / f"{name}.sql").write_text(f"/* ---\n{text}--- */\n{sql}\n")
