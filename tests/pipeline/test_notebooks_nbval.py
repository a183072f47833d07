"""nbval: every notebook of notebooks/ runs by hand, in order, with its own defaults.

With --nbval-lax, a cell's output is compared only where the cell holds the line
`# NBVAL_CHECK_OUTPUT`; those cells keep their documented output in the committed notebook
(figures that the seeded demo data always gives at the default parameters). Every other cell
is committed without outputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from tests.support.project import REPO, copy_project, ploomber_env

MARKER = "# NBVAL_CHECK_OUTPUT"
DOCUMENTED = ["00_make_demo_sources.ipynb", "05_report_shop.ipynb"]


def _checked(cell) -> bool:
    return cell.cell_type == "code" and any(
        line.strip() == MARKER for line in cell.source.splitlines()
    )


def _nbval(root: Path, notebooks: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(root),
            *map(str, notebooks),
        ],
        cwd=root,
        text=True,
        capture_output=True,
        timeout=900,
        env=ploomber_env(STARLOOM_PROJECT_DIR=str(root)),
    )


def test_only_documented_outputs_are_committed():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and not _checked(cell):
                assert not cell.outputs, f"{path.name}: outputs left in a cell\n{cell.source}"
        checked = [c for c in nb.cells if _checked(c)]
        if path.name in DOCUMENTED:
            assert checked, f"{path.name} has no {MARKER} cell"
        for cell in checked:
            texts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
            assert texts and all(texts), f"{path.name}: {MARKER} cell without its documented output"
            assert cell.execution_count, f"{path.name}: nbval needs an execution count on {MARKER}"


@pytest.mark.slow
def test_notebooks_run_standalone_with_their_defaults(tmp_path):
    root = copy_project(tmp_path / "project")
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 6
    done = _nbval(root, notebooks)
    assert done.returncode == 0, done.stdout[-6000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "passed" in summary, summary
    code_cells = sum(
        c.cell_type == "code" for p in notebooks for c in nbformat.read(p, as_version=4).cells
    )
    assert f"{code_cells} passed" in summary, summary  # every cell ran, none was skipped
    # they used the project's warehouse, like the headless build does
    assert (root / ".warehouse").is_dir()


@pytest.mark.slow
def test_a_wrong_documented_output_fails(tmp_path):
    """The check is live: a documented figure that the data does not give is reported."""
    root = copy_project(tmp_path / "project")
    path = root / "notebooks" / DOCUMENTED[0]
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if _checked(c))
    cell.outputs[0]["text"] = "customers: 1, products: 2, orders: 3, order_items: 4\n"
    nbformat.write(nb, path)
    done = _nbval(root, [path])
    assert done.returncode != 0
    assert "1 failed" in done.stdout.strip().splitlines()[-1], done.stdout[-3000:]
    assert "customers: 1, products: 2" in done.stdout
