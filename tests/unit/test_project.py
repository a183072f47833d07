"""The project is loaded once: one YAML parser, one place that knows the project's paths, and
a Project that reads each of its files once."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import starloom
from starloom.errors import ConfigError
from starloom.project import Project

SRC = Path(starloom.__file__).resolve().parent

# the only modules allowed what the rules below forbid elsewhere
YAML_READER = SRC / "settings.py"
PATH_KEEPER = SRC / "project.py"

_IMPORTS_YAML = re.compile(r"^\s*(import\s+yaml\b|from\s+yaml\b)", re.M)
_PROJECT_PATH = re.compile(
    r"""(/\s*|joinpath\(\s*|os\.path\.join\([^)]*,\s*)["'](sql|sources|pipeline\.yaml)["']"""
    r"""|\}/(sql|sources|pipeline\.yaml)\b"""
)


def _offences(pattern: re.Pattern, allowed: Path) -> list[str]:
    """file:line of every match of `pattern` in starloom's modules other than `allowed`."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == allowed:
            continue
        text = path.read_text()
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(SRC.parent)}:{line}: {match.group(0).strip()}")
    return found


def test_only_settings_imports_yaml():
    assert _offences(_IMPORTS_YAML, YAML_READER) == [], (
        "read YAML with starloom.settings.parse_yaml / read_yaml, or ask a Project"
    )


def test_only_project_builds_the_project_paths():
    assert _offences(_PROJECT_PATH, PATH_KEEPER) == [], (
        "ask a Project for sources_dir, sql_dir, pipeline_file (or its sources, models, pipeline)"
    )


@pytest.mark.parametrize(
    "line",
    [
        "import yaml",
        "    import yaml as y",
        "from yaml import safe_load",
    ],
)
def test_the_yaml_rule_catches(line):
    assert _IMPORTS_YAML.search(f"x = 1\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        'models = load_models(root / "sql")',
        "folder = settings.project_dir / 'sources'",
        'spec = read_yaml(root /"pipeline.yaml")',
        'sql = root.joinpath("sql")',
        'sql = os.path.join(root, "sql")',
        'path = f"{root}/sources"',
    ],
)
def test_the_path_rule_catches(line):
    assert _PROJECT_PATH.search(line)


@pytest.mark.parametrize(
    "line",
    ['"""sources/*.yml and sql/ are read once"""', "sql = project.sql_dir", 'name = "sql"'],
)
def test_the_path_rule_lets_pass(line):
    assert not _PROJECT_PATH.search(line)


# -- behaviour ---------------------------------------------------------------------------------

SOURCE = """kind: files
format: csv
tables:
  items:
    path: data/{name}/*.csv
    columns: {{id: {{type: int64}}}}
"""


def _project(root: Path, sources: dict[str, str] | None = None, env: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.yaml").write_text("tasks: []\n")
    if env:
        (root / "env.yaml").write_text(env)
    for file, text in (sources or {}).items():
        (root / "sources").mkdir(exist_ok=True)
        (root / "sources" / file).write_text(text)
    return root


@pytest.fixture(autouse=True)
def _no_project_from_the_environment(monkeypatch):
    monkeypatch.delenv("STARLOOM_PROJECT_DIR", raising=False)


def test_paths_of_a_project(tmp_path):
    project = Project.load(_project(tmp_path / "shop"))
    root = (tmp_path / "shop").resolve()
    assert project.root == root
    assert (project.sources_dir, project.sql_dir) == (root / "sources", root / "sql")
    assert project.pipeline_file == root / "pipeline.yaml"
    assert project.output_dir == root / "output"
    assert project.pipeline == {"tasks": []}


def test_a_source_by_name_or_the_closest_one(tmp_path):
    root = _project(tmp_path / "p", {"orders.yml": SOURCE.format(name="orders")})
    project = Project.load(root)
    assert project.source("orders").entity("items").raw_table == "raw_orders__items"
    assert set(project.raw_tables) == {"raw_orders__items"}
    with pytest.raises(ConfigError, match=r"No source named 'ordres'.*Did you mean 'orders'\?"):
        project.source("ordres")


def test_two_sources_of_one_name_are_an_error_naming_both_files(tmp_path):
    same = "source: shop\n" + SOURCE.format(name="shop")
    root = _project(tmp_path / "p", {"a.yml": same, "b.yml": same})
    with pytest.raises(ConfigError, match="Two sources are named 'shop'") as error:
        _ = Project.load(root).sources
    assert "sources/a.yml" in str(error.value) and "sources/b.yml" in str(error.value)


def test_no_models_without_sql(tmp_path):
    project = Project.load(_project(tmp_path / "p"))
    assert not project.sql_dir.exists()
    assert project.models == {}
    assert project.sources == {}


def test_the_name_is_project_name_else_the_folder(tmp_path):
    assert Project.load(_project(tmp_path / "my-analytics")).name == "my-analytics"
    named = _project(tmp_path / "other", env="project_name: Shop analytics\n")
    assert Project.load(named).name == "Shop analytics"


def test_sources_and_pipeline_are_parsed_once(tmp_path, monkeypatch):
    from starloom import settings
    from starloom.ingestion import sources

    root = _project(
        tmp_path / "p",
        {"a.yml": SOURCE.format(name="a"), "b.yml": SOURCE.format(name="b")},
    )
    project = Project.load(root)
    parsed: list[str] = []
    parse_yaml = settings.parse_yaml

    def counting(text, where):
        parsed.append(where)
        return parse_yaml(text, where)

    monkeypatch.setattr(sources, "parse_yaml", counting)
    monkeypatch.setattr(settings, "parse_yaml", counting)
    for _ in range(3):
        project.sources, project.source("a"), project.raw_tables, project.pipeline
    assert sorted(parsed) == [
        str(root.resolve() / "pipeline.yaml"),
        "sources/a.yml",
        "sources/b.yml",
    ]
    assert Project.load(root).sources.keys() == {"a", "b"}  # a new Project reads them again
    assert len(parsed) == 5


def test_a_pipeline_that_is_not_yaml_names_the_file(tmp_path):
    root = _project(tmp_path / "p")
    (root / "pipeline.yaml").write_text("tasks: [\n")
    with pytest.raises(ConfigError, match=r"pipeline\.yaml is not valid YAML"):
        _ = Project.load(root).pipeline


def test_run_date_and_demo_options_of_env_yaml(tmp_path):
    plain = Project.load(_project(tmp_path / "plain"))
    assert plain.settings.run_date == dt.datetime.now(dt.UTC).date()
    assert (plain.demo.start_date, plain.demo.size, plain.demo.seed) == (
        dt.date(2024, 1, 1),
        1.0,
        42,
    )
    env = 'run_date: "2024-01-07"\ndemo_start_date: "2023-12-30"\ndemo_size: 0.5\ndemo_seed: 7\n'
    set_ = Project.load(_project(tmp_path / "set", env=env))
    assert set_.settings.run_date == dt.date(2024, 1, 7)
    assert (set_.demo.start_date, set_.demo.size, set_.demo.seed) == (
        dt.date(2023, 12, 30),
        0.5,
        7,
    )
    bad = Project.load(_project(tmp_path / "bad", env="demo_size: big\n"))
    with pytest.raises(ConfigError, match="demo_size must be a number"):
        _ = bad.demo


def test_a_model_header_that_is_not_yaml_names_the_model(tmp_path):
    from starloom.errors import ModelError

    root = _project(tmp_path / "p")
    (root / "sql" / "marts").mkdir(parents=True)
    (root / "sql" / "marts" / "fct_x.sql").write_text("/* ---\ncolumns: [\n--- */\nSELECT 1\n")
    with pytest.raises(ModelError, match=r"fct_x\.sql: the header is not valid YAML"):
        _ = Project.load(root).models
    (root / "sql" / "marts" / "fct_x.sql").write_text("/* ---\n- a list\n--- */\nSELECT 1\n")
    with pytest.raises(ModelError, match=r"fct_x\.sql: the header must be YAML keys"):
        _ = Project.load(root).models
