"""Secrets never reach a notebook or a report.

The whole pipeline runs against a ClickHouse-HTTP endpoint that requires a password, given
only in STARLOOM_CLICKHOUSE_PASSWORD; then every file the build left in the project (executed
notebooks, HTML reports, JSON, PNG metadata, Parquet, logs, Ploomber's metadata) is searched
for the password, also inside compressed Parquet pages and PNG text chunks.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from tests.support.project import copy_project, run_tool

from starloom.settings import load_settings
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.slow


def _forms(password: str) -> list[bytes]:
    """The password as it could be written: plain, and in an HTTP basic-auth header."""
    basic = base64.b64encode(f"default:{password}".encode())
    return [password.encode(), basic]


def _decoded_text(path: Path) -> str:
    """What a binary file holds once decompressed: Parquet values and metadata, PNG text."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        metadata = pq.read_metadata(path).metadata or {}
        return repr(table.to_pylist()) + repr(metadata)
    if path.suffix == ".png":
        with Image.open(path) as image:
            return repr(image.info)
    return ""


def _leaks(root: Path, password: str) -> list[str]:
    found = []
    forms = _forms(password)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        if any(form in raw for form in forms) or password in _decoded_text(path):
            found.append(str(path.relative_to(root)))
    return found


def test_the_password_reaches_no_output(tmp_path, clickhouse_server_factory, monkeypatch):
    password = "pw-" + secrets.token_hex(16)
    server = clickhouse_server_factory(password=password)
    root = copy_project(tmp_path / "project")
    server_env = {
        "STARLOOM_CLICKHOUSE_URL": server.url,
        "STARLOOM_CLICKHOUSE_PASSWORD": password,
        "STARLOOM_WAREHOUSE_PATH": None,
        "STARLOOM_DATABASE": None,
        "STARLOOM_DASK_SCHEDULER": None,
    }
    done = run_tool(
        root, "ploomber", "build", "--env--demo_size", "0.05", "--env--run_date", "2024-01-02",
        timeout=900, env=server_env,
    )  # fmt: skip
    logs = root / "output" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "ploomber_build.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    # it ran against the server, not an embedded warehouse
    assert not (root / ".warehouse").exists()
    monkeypatch.setenv("STARLOOM_PROJECT_DIR", str(root))
    for var, value in server_env.items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    wh = Warehouse(load_settings(root))
    assert not wh.embedded
    tables = set(wh.tables())
    assert {"raw_shop__orders", "dim_customers", "fct_orders", "fct_events_daily"} <= tables
    assert wh.count("fct_orders") > 0
    # and the password was needed: without it the server refuses
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_PASSWORD", "wrong")
    with pytest.raises(Exception, match="(?i)password|authenticat|denied|401|403"):
        Warehouse(load_settings(root)).tables()

    # the outputs exist, and none of them, nor anything else in the project, holds the password
    assert list((root / "output" / "notebooks").glob("*.ipynb"))
    assert list((root / "output" / "reports").glob("*.html"))
    assert _leaks(root, password) == []
    # the scan does find it when it is there
    planted = root / "output" / "planted.parquet"
    pq.write_table(pa.table({"x": [password]}), planted)
    assert _leaks(root, password) == ["output/planted.parquet"]
