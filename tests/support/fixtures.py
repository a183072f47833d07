"""Pytest fixtures that run tests.support.clickhouse_http as a separate process.

The endpoint owns its own chdb engine, so it never competes with an embedded warehouse
opened by the test process itself.
"""

from __future__ import annotations

import os
import secrets
import select
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "STARLOOM_TEST_CLICKHOUSE_PASSWORD"

__all__ = [
    "ClickHouseServer",
    "clickhouse_server",
    "clickhouse_server_factory",
    "clickhouse_server_with_password",
    "start_clickhouse_server",
]


@dataclass
class ClickHouseServer:
    """A running endpoint: its port, data directory and (if required) password."""

    process: subprocess.Popen = field(repr=False)
    port: int
    path: Path
    password: str | None = field(default=None, repr=False)
    log: Path | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The warehouse URL, without the password (that goes in the environment)."""
        return f"http://default@{self.host}:{self.port}/?compress=0"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout:
            self.process.stdout.close()


def _log_tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


def start_clickhouse_server(
    path: Path, password: str | None = None, timeout: float = 30.0
) -> ClickHouseServer:
    """Start the endpoint on a free port over the data directory `path`; wait until it answers."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    log = path.parent / f"{path.name}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    cmd = [
        sys.executable,
        "-m",
        "tests.support.clickhouse_http",
        "--path",
        str(path),
        "--port",
        "0",
    ]
    if password is not None:
        env[PASSWORD_ENV] = password
        cmd += ["--password-env", PASSWORD_ENV]
    with open(log, "wb") as err:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    port = None
    try:
        while port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise RuntimeError("the ClickHouse HTTP endpoint did not start:\n" + _log_tail(log))
            poller = select.poll()  # select.select() fails on descriptors numbered past 1024
            poller.register(process.stdout, select.POLLIN)
            ready = poller.poll(remaining * 1000)
            if ready:
                line = process.stdout.readline().decode()
                if line.startswith("listening on "):
                    port = int(line.split()[-1])
        server = ClickHouseServer(process, port, path, password, log)
        while True:
            try:
                with urllib.request.urlopen(f"http://{server.host}:{port}/ping", timeout=2) as r:
                    if r.read() == b"Ok.\n":
                        return server
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(
                    "the ClickHouse HTTP endpoint does not answer /ping:\n" + _log_tail(log)
                )
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def clickhouse_server(tmp_path_factory):
    """An endpoint without a password, shared by the tests of one module."""
    server = start_clickhouse_server(tmp_path_factory.mktemp("clickhouse") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def clickhouse_server_with_password(tmp_path_factory):
    """An endpoint that requires the password `server.password` for user default."""
    server = start_clickhouse_server(
        tmp_path_factory.mktemp("clickhouse_auth") / "data", password=secrets.token_hex(12)
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clickhouse_server_factory(tmp_path_factory):
    """start(password=None) -> a fresh endpoint; all are stopped at the end of the test."""
    started: list[ClickHouseServer] = []

    def start(password: str | None = None) -> ClickHouseServer:
        server = start_clickhouse_server(
            tmp_path_factory.mktemp("clickhouse") / "data", password=password
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
