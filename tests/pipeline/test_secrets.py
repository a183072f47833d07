"""Secrets never reach a notebook or a report.

The whole pipeline runs against a ClickHouse-HTTP endpoint that requires a password, given
only in STARLOOM_CLICKHOUSE_PASSWORD; then every file the build left in the project (executed
notebooks, HTML reports, JSON, PNG metadata, Parquet, logs, Ploomber's metadata) is searched
for the password, also inside compressed Parquet pages and PNG text chunks.

Then URLs of every shape that carries a secret (a password holding `#`, `/`, `?` or `@`, a
secret query parameter, credentials in OPENLINEAGE_URL) are given to `starloom` commands
that fail or warn because of them: what they print on the terminal, and the files they
leave, must not hold any piece of the secret.
"""

from __future__ import annotations

import base64
import secrets
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
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


# Two random-looking halves: a leak of either half of a secret is a leak.
A, B = "pA55wdA9f3", "pB66wdB0e4"
RUN_DATE = "2024-01-01"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tiny_project(root: Path) -> Path:
    """A project of one Python task, with the lineage hooks of the real pipeline.yaml."""
    root.mkdir(parents=True)
    real = yaml.safe_load((Path(__file__).parents[2] / "pipeline.yaml").read_text())
    spec = {
        "meta": {"extract_upstream": False, "extract_product": False},
        "executor": "serial",
        "on_finish": real["on_finish"],
        "on_failure": real["on_failure"],
        "tasks": [
            {
                "source": "tiny_task.touch",
                "name": "touch",
                "product": "output/touched.txt",
                "params": {"run_date": "{{run_date}}"},
            }
        ],
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "env.yaml").write_text(f"run_date: '{RUN_DATE}'\n")
    (root / "tiny_task.py").write_text(
        "from pathlib import Path\n\n\n"
        "def touch(product, run_date):\n"
        "    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)\n"
        "    Path(str(product)).write_text(run_date)\n"
    )
    return root


def _shown(done) -> str:
    return done.stdout + done.stderr


def _assert_no_piece_of_the_secret(root: Path, *texts: str) -> None:
    for piece in (A, B):
        assert all(piece not in text for text in texts), "\n".join(texts)[-3000:]
        assert _leaks(root, piece) == []


@pytest.mark.parametrize(
    "userinfo_and_query",
    [
        (f"default:{A}{B}", "?connect_timeout=2"),
        (f"default:{A}#{B}", ""),
        (f"default:{A}/{B}", ""),
        (f"default:{A}?{B}", ""),
        (f"default:{A}@{B}", "?connect_timeout=2"),
        (f"default:1234/{A}{B}", ""),
        ("default", f"?password={A}{B}&connect_timeout=2"),
        ("default", f"?connect_timeout=2&pass={A}{B}"),
        ("default", f"?token={A}{B}&connect_timeout=2"),
        ("default", f"?secret={A}{B}&connect_timeout=2"),
        ("default", f"?key={A}{B}&connect_timeout=2"),
    ],
)
def test_no_warehouse_url_shape_reaches_the_terminal(tmp_path, userinfo_and_query):
    userinfo, query = userinfo_and_query
    root = _tiny_project(tmp_path / "project")
    url = f"http://{userinfo}@127.0.0.1:{_closed_port()}/{query}"
    env = {"STARLOOM_CLICKHOUSE_URL": url, "STARLOOM_CLICKHOUSE_PASSWORD": None}
    done = run_tool(root, "starloom", "tables", timeout=120, env=env)
    assert done.returncode == 2, _shown(done)
    assert "error: " in done.stderr and "Traceback" not in done.stderr, done.stderr
    _assert_no_piece_of_the_secret(root, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("url", "fails"),
    [
        (f"http://lineage:{A}{B}@127.0.0.1:PORT/?token={B}", False),  # unreachable: a warning
        (f"http://lineage:{A}#{B}@127.0.0.1:PORT", True),
        (f"ftp://lineage:{A}{B}@127.0.0.1:PORT", True),
    ],
)
def test_openlineage_credentials_reach_neither_terminal_nor_files(tmp_path, url, fails):
    root = _tiny_project(tmp_path / "project")
    url = url.replace("PORT", str(_closed_port()))
    env = {"OPENLINEAGE_URL": url, "STARLOOM_WAREHOUSE_PATH": None, "STARLOOM_CLICKHOUSE_URL": None}
    done = run_tool(
        root, "starloom", "backfill", "--from", RUN_DATE, "--force", timeout=300, env=env
    )
    log = (root / "output" / "logs" / f"build_{RUN_DATE}.log").read_text()
    assert (done.returncode == 2) == fails, _shown(done) + log
    # the hook ran and said so, without the secret
    assert "lineage:***@127.0.0.1:" in (done.stderr if fails else log), _shown(done) + log
    _assert_no_piece_of_the_secret(root, done.stdout, done.stderr)
