"""Reports: self-contained HTML exports, the DAG picture, the index page, the publish task."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from starloom.publish import reports

NETWORK_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _quiet_ploomber(monkeypatch):
    monkeypatch.setenv("PLOOMBER_STATS_ENABLED", "false")
    monkeypatch.setenv("PLOOMBER_VERSION_CHECK_DISABLED", "1")


def _png_b64() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1, 2], [1, 0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _executed_notebook(project: Path, *, failed: bool = True) -> nbformat.NotebookNode:
    product = project / "output" / "orders.ipynb"
    png = _png_b64()
    cells = [
        new_markdown_cell("# Daily *orders*\n\nHow many orders arrived."),
        new_code_cell("upstream = None\nproduct = None", metadata={"tags": ["parameters"]}),
        new_code_cell(
            f'# Parameters\nproduct = "{product}"\n',
            metadata={"tags": ["injected-parameters"]},
        ),
        new_code_cell(
            "plt.plot(x)",
            execution_count=3,
            outputs=[
                new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                new_output("stream", name="stdout", text=f"saved to {project}/data/x.parquet\n"),
            ],
        ),
        new_code_cell("secret_setup()  # REMOVED-CELL", metadata={"tags": ["remove"]}),
        new_code_cell(
            "print('hidden source')  # HIDDEN-INPUT",
            metadata={"tags": ["hide-input"]},
            outputs=[new_output("stream", name="stdout", text="VISIBLE-OUTPUT\n")],
        ),
    ]
    if failed:
        cells.append(
            new_code_cell(
                "1 / 0",
                outputs=[
                    new_output(
                        "error",
                        ename="ZeroDivisionError",
                        evalue="division by zero",
                        traceback=[
                            f"File {project}/notebooks/orders.py:1",
                            "ZeroDivisionError: division by zero",
                        ],
                    )
                ],
            )
        )
    nb = new_notebook(cells=cells)
    nb.metadata["papermill"] = {
        "start_time": "2024-01-07T10:00:00.000000+00:00",
        "end_time": "2024-01-07T10:01:05.500000+00:00",
        "duration": 65.5,
        "exception": True if failed else None,
    }
    return nb


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / "output").mkdir(parents=True)
    return root


@pytest.fixture
def notebook(project) -> Path:
    path = project / "output" / "orders.ipynb"
    nbformat.write(_executed_notebook(project), path)
    return path


def test_export_html_is_self_contained_and_scrubbed(project, notebook):
    before = notebook.read_bytes()
    html = reports.export_html(
        notebook, project / "output" / "reports" / "orders.html", project_dir=project
    )
    page = html.read_text()

    assert notebook.read_bytes() == before  # the .ipynb on disk is untouched
    assert not NETWORK_REF.findall(page)
    assert "<script src" not in page and "require.js" not in page and "mathjax" not in page.lower()
    assert str(project) not in page and str(project.resolve()) not in page
    assert "./output/orders.ipynb" in page and "./data/x.parquet" in page
    assert re.search(r'<img[^>]+src="data:image/png;base64,iVBOR', page)
    assert "<title>Daily orders</title>" in page
    assert "orders.ipynb" in page and "2024-01-07 10:01 UTC" in page


def test_export_html_code_toggle_and_tags(project, notebook):
    page = reports.export_html(notebook, project / "a.html", project_dir=project).read_text()
    toggle = re.search(r"<input[^>]*sl-show-code[^>]*>", page).group(0)
    assert 'type="checkbox"' in toggle and "checked" not in toggle
    assert '<label class="sl-toggle" for="sl-show-code"' in page
    assert ":not(:checked) ~ main .jp-CodeCell .jp-Cell-inputWrapper" in page
    assert "REMOVED-CELL" not in page and "secret_setup" not in page
    assert "HIDDEN-INPUT" not in page and "VISIBLE-OUTPUT" in page
    assert "ZeroDivisionError" in page and "division by zero" in page  # errors stay visible
    assert "How many orders arrived" in page

    shown = reports.export_html(
        notebook, project / "b.html", project_dir=project, show_code=True
    ).read_text()
    assert "checked" in re.search(r"<input[^>]*sl-show-code[^>]*>", shown).group(0)


def test_export_html_title_falls_back_to_file_name(tmp_path):
    path = tmp_path / "no_heading.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("just text")]), path)
    page = reports.export_html(path, tmp_path / "x.html", project_dir=tmp_path).read_text()
    assert "<title>no_heading.ipynb</title>" in page
    assert "<h1>no_heading.ipynb</h1>" in page


def test_scrub_replaces_home_and_respects_path_boundaries(tmp_path, monkeypatch):
    home = tmp_path / "home" / "ada"
    project = home / "work" / "proj"
    monkeypatch.setenv("HOME", str(home))
    source = f"a = '{project}/x.csv'\nb = '{project}2/y'\nc = '{home}/.cache'\n"
    nb = new_notebook(cells=[new_code_cell(source + f"d = 'in {project}.'")])
    source = reports.scrub_notebook(nb, project).cells[0].source
    assert "a = './x.csv'" in source
    assert "b = '~/work/proj2/y'" in source
    assert "c = '~/.cache'" in source
    assert "d = 'in .." in source


def test_entry_for_and_build_index(project, notebook):
    out = project / "output"
    html = reports.export_html(notebook, out / "reports" / "orders.html", project_dir=project)
    entry = reports.entry_for(notebook, html, out)
    assert entry == reports.ReportEntry(
        title="Daily orders",
        html="reports/orders.html",
        notebook="orders.ipynb",
        executed_at="2024-01-07 10:01 UTC",
        duration_s=65.5,
        ok=False,
    )
    png = out / "pipeline.png"
    png.write_bytes(base64.b64decode(_png_b64()))

    import pandas as pd

    summary = reports.table_html(pd.DataFrame({"table": ["<b>orders</b>"], "rows": [3]}))
    index = reports.build_index(out, [entry], dag_png=png, title="Demo & co", summary_html=summary)
    page = index.read_text()
    assert index == out / "index.html"
    assert '<a href="reports/orders.html">Daily orders</a>' in page
    assert 'href="orders.ipynb"' in page
    assert "failed" in page and "1 min 06 s" in page
    assert 'src="data:image/png;base64,iVBOR' in page
    assert "&lt;b&gt;orders&lt;/b&gt;" in page and "<b>orders</b>" not in page
    assert "<title>Demo &amp; co</title>" in page
    assert not NETWORK_REF.findall(page) and str(project) not in page


def test_notebook_of_accepts_paths_and_mappings(tmp_path):
    from ploomber.products import File, MetaProduct

    nb = tmp_path / "a.ipynb"
    assert reports.notebook_of(str(nb)) == nb
    assert reports.notebook_of(File(nb)) == nb
    assert reports.notebook_of({"nb": str(nb), "data": "x.csv"}) == nb
    meta = MetaProduct({"data": File(tmp_path / "d.csv"), "nb": File(nb)})
    assert reports.notebook_of(meta) == nb
    assert reports.notebook_of(MetaProduct([File(tmp_path / "d.csv"), File(nb)])) == nb
    assert reports.notebook_of("schema.table") is None


NOTEBOOK_LOAD = """\
# %% [markdown]
# # Load data

# %% tags=["parameters"]
upstream = None
product = None
n = 3

# %%
import matplotlib.pyplot as plt

plt.plot(range(n))
plt.show()
print(product)
"""

NOTEBOOK_SUMMARY = """\
# %% [markdown]
# # Summary

# %% tags=["parameters"]
upstream = None
product = None

# %%
from pathlib import Path

Path(product["data"]).write_text("a\\n1\\n")
print(upstream["load"])
"""

PIPELINE = """\
meta:
  extract_upstream: false
tasks:
  - source: notebooks/load.py
    product: output/load.ipynb
    params:
      n: 4
  - source: notebooks/summary.py
    upstream: [load]
    product:
      nb: output/summary.ipynb
      data: output/summary.csv
"""

PUBLISH = """\
  - source: starloom.pipeline.publish_reports
    upstream: [load, summary]
    product: output/index.html
"""


def _write_project(root: Path, *, publish: bool) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "load.py").write_text(NOTEBOOK_LOAD)
    (root / "notebooks" / "summary.py").write_text(NOTEBOOK_SUMMARY)
    (root / "pipeline.yaml").write_text(PIPELINE + (PUBLISH if publish else ""))
    return root / "pipeline.yaml"


def test_plot_dag_writes_png(tmp_path):
    pipeline = _write_project(tmp_path / "proj", publish=False)
    cwd = os.getcwd()
    png = reports.plot_dag(pipeline, tmp_path / "pics" / "pipeline.png")
    assert os.getcwd() == cwd
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000


@pytest.mark.slow
def test_publish_in_a_real_pipeline(tmp_path):
    root = tmp_path / "proj"
    _write_project(root, publish=True)
    bin_dir = Path(sys.executable).parent
    ploomber = bin_dir / "ploomber"
    cmd = (
        [str(ploomber), "build"]
        if ploomber.exists()
        else [
            sys.executable,
            "-c",
            "from ploomber.cli.cli import cmd_router; cmd_router()",
            "build",
        ]
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        cmd, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    out = root / "output"
    index = (out / "index.html").read_text()
    assert index.index('href="reports/load.html"') < index.index('href="reports/summary.html"')
    assert 'href="load.ipynb"' in index and 'href="summary.ipynb"' in index
    assert 'src="data:image/png;base64,' in index
    assert (out / "pipeline.png").read_bytes().startswith(b"\x89PNG")
    for name in ("load", "summary"):
        page = (out / "reports" / f"{name}.html").read_text()
        assert str(root) not in page and not NETWORK_REF.findall(page)
        assert "./output/" in page  # the injected parameters, made relative
    load = (out / "reports" / "load.html").read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,', load)
    assert "<title>Load data</title>" in load
