"""`starloom lab`: JupyterLab on the project with the package's own configuration, which
ships inside the installed package (a new project has no copy of it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

import starloom
from starloom.cli import lab_command, lab_config

REPO = Path(__file__).resolve().parents[2]


def test_the_command_uses_the_packages_config_on_the_project(tmp_path):
    command = lab_command(tmp_path / "shop" / "..")
    assert Path(command[0]).name == "jupyter" and command[1] == "lab"
    assert f"--config={lab_config()}" in command
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert lab_config().parent.parent == Path(starloom.__file__).resolve().parent


def test_the_config_sets_the_contents_manager_ploomber_needs():
    config = PyFileConfigLoader(lab_config().name, path=str(lab_config().parent)).load_config()
    assert config.ServerApp.contents_manager_class == "jupytext.TextFileContentsManager"
    assert config.LabApp.check_for_updates_class == "jupyterlab.NeverCheckForUpdate"


def test_the_package_as_built_holds_the_files_it_reads(tmp_path):
    """What a non-editable install gets: the lab config and the report templates."""
    for name in ("src", "pyproject.toml", "README.md"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    built = tmp_path / "lib"
    done = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
         "--build-lib", str(built)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    package = built / "starloom"
    assert (package / "lab" / "jupyter_server_config.py").is_file()
    for template in ("report.html.j2", "index_page.html.j2", "docs_model.html.j2"):
        assert (package / "publish" / "templates" / template).is_file(), template
