"""JupyterLab on the project, as `starloom lab` starts it, and the HTML reports, in a browser.

One copy of the project is built once at a small size (`ploomber build`); JupyterLab runs on
it with the package's configuration, as `starloom lab` gives it. The browser checks use
Debian's headless Chromium through Playwright and are skipped when /usr/bin/chromium is
missing. Screenshots go to the copy's output/screenshots/.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from tests.support.browser import launch, need_chromium
from tests.support.project import copy_project, ploomber_env, run_tool

from starloom.cli import lab_config

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
RUN_DATE = "2024-01-03"
# the embedded warehouse of the copy, whatever server the calling environment names
EMBEDDED = dict.fromkeys(
    (
        "STARLOOM_CLICKHOUSE_URL",
        "STARLOOM_WAREHOUSE_PATH",
        "STARLOOM_DATABASE",
        "STARLOOM_CLICKHOUSE_PASSWORD",
    )
)


def _env(root: Path, **extra) -> dict:
    return ploomber_env(STARLOOM_PROJECT_DIR=str(root), **EMBEDDED, **extra)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A copy of the project whose env.yaml is set to a small size, built by `ploomber build`."""
    root = copy_project(tmp_path_factory.mktemp("lab") / "project")
    env_yaml = root / "env.yaml"
    text = env_yaml.read_text()
    text = text.replace('run_date: "2024-01-07"', f'run_date: "{RUN_DATE}"')
    text = text.replace("demo_size: 1\n", "demo_size: 0.05\n")
    assert RUN_DATE in text and "demo_size: 0.05" in text
    env_yaml.write_text(text)
    done = run_tool(root, "ploomber", "build", timeout=900, env=EMBEDDED)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


@dataclass
class Lab:
    root: Path
    url: str
    token: str
    runtime: Path

    def api(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}{path}",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def start_ready_kernel(self, notebook: str, timeout: float = 240) -> str:
        """A session with a started kernel for the notebook, once that kernel answers."""
        from jupyter_client import BlockingKernelClient

        session = self.api(
            "/api/sessions",
            {"path": notebook, "type": "notebook", "name": "", "kernel": {"name": "python3"}},
        )
        kernel_id = session["kernel"]["id"]
        connection = self.runtime / f"kernel-{kernel_id}.json"
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=timeout)
        finally:
            client.stop_channels()
        return kernel_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(built, tmp_path_factory):
    """JupyterLab with the project's configuration, on a free local port."""
    home = tmp_path_factory.mktemp("jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    log = home / "jupyterlab.log"
    env = _env(
        built,
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "jupyter"),
                "lab",
                f"--config={lab_config()}",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={built}",
            ],
            cwd=built,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Lab(built, f"http://127.0.0.1:{port}", token, home / "runtime")
    deadline = time.monotonic() + 120
    while True:
        try:
            server.api("/api/status")
            break
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("JupyterLab did not start:\n" + log.read_text()[-4000:])
            time.sleep(0.3)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _open_warehouse_elsewhere(root: Path) -> subprocess.CompletedProcess:
    """A query from another process, giving up after 5 s if the warehouse is locked."""
    query = "SELECT count() AS n FROM fct_orders"
    return run_tool(
        root, "starloom", "sql", query, "--format", "csv",
        timeout=120, env={**EMBEDDED, "STARLOOM_LOCK_TIMEOUT": "5"},
    )  # fmt: skip


# -- without a browser -----------------------------------------------------------------------


def test_every_notebook_opens_with_its_parameters_injected(lab):
    names = sorted(p.name for p in (lab.root / "notebooks").glob("*.ipynb"))
    assert len(names) >= 6
    for name in names:
        model = lab.api(f"/api/contents/notebooks/{name}?content=1")
        assert model["type"] == "notebook", name
        injected = [
            c for c in model["content"]["cells"] if "injected-parameters" in c["metadata"]["tags"]
        ]
        assert len(injected) == 1, name
        assert f'run_date = "{RUN_DATE}"' in injected[0]["source"], name


def test_an_idle_kernel_does_not_hold_the_embedded_warehouse(built, tmp_path):
    """Run the report notebook by hand in a kernel; while it idles, another process builds."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(
        kernel_name="python3", cwd=str(built / "notebooks"), env=_env(built), startup_timeout=120
    )
    try:
        nb = nbformat.read(built / "notebooks" / "05_report_shop.ipynb", as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        code += ["%load_ext starloom", "%sql -o n SELECT count() AS n FROM fct_orders"]
        for source in code:
            reply = kc.execute_interactive(source, timeout=300, output_hook=lambda msg: None)
            assert reply["content"]["status"] == "ok", (source, reply["content"])
        # the kernel is idle and alive: another process can open the warehouse
        other = _open_warehouse_elsewhere(built)
        assert other.returncode == 0, other.stderr
        n_elsewhere = int(other.stdout.splitlines()[1])
        assert n_elsewhere > 0
        # and the kernel can still use it afterwards, seeing the same data
        reply = kc.execute_interactive(
            f"assert int(n.iloc[0, 0]) == {n_elsewhere}", timeout=120, output_hook=lambda m: None
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- in a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def _screenshot(page, root: Path, name: str) -> Path:
    folder = root / "output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path


RUN_FINISHED = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'));
  const busy = prompts.some(p => p.textContent.includes('*'));
  const ran = prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length;
  const failed = document.querySelector(
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
  const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
  return idle && !busy && prompts.length > 0 && (ran === prompts.length || failed);
}"""
UNRUN_CELLS = """() => Array.from(document.querySelectorAll('.jp-CodeCell'))
  .filter(c => !/\\[\\d+\\]/.test(c.querySelector('.jp-InputArea-prompt').textContent))
  .map(c => c.querySelector('.jp-InputArea-editor').textContent.slice(0, 200))"""


def test_report_notebook_runs_all_cells_in_jupyterlab(lab, browser):
    # the kernel starts first (it can take a while on a busy machine); the page then joins it
    lab.start_ready_kernel("notebooks/05_report_shop.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    try:
        page.goto(
            f"{lab.url}/lab/tree/notebooks/05_report_shop.ipynb?token={lab.token}",
            wait_until="domcontentloaded",
        )
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(RUN_FINISHED, timeout=300_000)
        finally:
            shot = _screenshot(page, lab.root, "jupyterlab_05_report_shop.png")
        assert shot.stat().st_size > 10_000

        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        texts = [errors.nth(i).inner_text() for i in range(errors.count())]
        assert not [t for t in texts if "Traceback" in t or "Error" in t], texts
        assert page.evaluate(UNRUN_CELLS) == []
        assert page.locator(".jp-OutputArea-output img").count() >= 3  # the charts

        # saved, the file holds the outputs and no error, and Ploomber's cell is left out
        page.locator(".jp-NotebookPanel .jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        saved = lab.root / "notebooks" / "05_report_shop.ipynb"
        deadline = time.monotonic() + 60
        while True:
            cells = nbformat.read(saved, as_version=4).cells
            outputs = [o for c in cells if c.cell_type == "code" for o in c.outputs]
            if outputs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert outputs, "the notebook was not saved with its outputs"
        assert not [o for o in outputs if o.output_type == "error"]
        assert not [c for c in cells if "injected-parameters" in c.metadata.get("tags", [])]
    finally:
        page.close()

    # the kernel is idle but alive, and does not hold the warehouse
    assert any(k["execution_state"] == "idle" for k in lab.api("/api/kernels"))
    other = _open_warehouse_elsewhere(lab.root)
    assert other.returncode == 0, other.stderr


def test_html_report_shows_its_charts_offline_with_code_hidden(built, browser):
    report = built / "output" / "reports" / "05_report_shop.html"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(report.as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.src.slice(0, 22), i.naturalWidth])"
        )
        charts = [width for src, width in images if src == "data:image/png;base64,"]
        assert len(charts) >= 3 and all(width > 0 for width in charts), images
        assert all(url.startswith(("file:", "data:")) for url in requested), requested

        code = page.locator(".jp-CodeCell .jp-Cell-inputWrapper").first
        assert not code.is_visible()
        page.locator(".sl-toggle").click()
        assert code.is_visible()
        _screenshot(page, built, "report_05_report_shop.png")
    finally:
        page.close()
