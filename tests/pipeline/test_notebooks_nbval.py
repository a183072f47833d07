"""nbval: every notebook of notebooks/ runs by hand, in order, with its own defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.support.project import copy_project, ploomber_env

pytestmark = pytest.mark.slow


def test_notebooks_run_standalone_with_their_defaults(tmp_path):
    root = copy_project(tmp_path / "project")
    notebooks = sorted(str(p) for p in (root / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 6
    done = subprocess.run(
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
            *notebooks,
        ],
        cwd=root,
        text=True,
        capture_output=True,
        timeout=900,
        env=ploomber_env(STARLOOM_PROJECT_DIR=str(root)),
    )
    assert done.returncode == 0, done.stdout[-6000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "passed" in summary, summary
    # they used the project's warehouse, like the headless build does
    assert (root / ".warehouse").is_dir()
