"""Settings: env.yaml, environment variables, .env, run dates, secrets kept out of messages."""

from __future__ import annotations

import datetime as dt

import pytest

from starloom.errors import ConfigError
from starloom.settings import find_project_dir, load_settings, parse_run_date, redact_url


@pytest.fixture
def root(tmp_path, monkeypatch):
    for var in (
        "STARLOOM_PROJECT_DIR",
        "STARLOOM_CLICKHOUSE_URL",
        "STARLOOM_WAREHOUSE_PATH",
        "STARLOOM_DATABASE",
        "STARLOOM_CLICKHOUSE_PASSWORD",
        "STARLOOM_DASK_SCHEDULER",
        "STARLOOM_LOCK_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    (tmp_path / "env.yaml").write_text(
        "warehouse:\n  path: wh\n  database: shop\ndask_scheduler: tcp://s:8786\n"
    )
    return tmp_path


def test_env_yaml_and_relative_paths(root):
    s = load_settings(root)
    assert s.warehouse_path == root / "wh" and s.database == "shop" and s.embedded
    assert s.dask_scheduler == "tcp://s:8786"


def test_environment_overrides_env_yaml(root, monkeypatch):
    monkeypatch.setenv("STARLOOM_CLICKHOUSE_URL", "http://u@h:8123")
    monkeypatch.setenv("STARLOOM_DATABASE", "other")
    s = load_settings(root)
    assert not s.embedded and s.database == "other"


def test_password_from_dotenv_never_in_repr_or_description(root):
    (root / ".env").write_text(
        "STARLOOM_CLICKHOUSE_PASSWORD='s3cret'\nSTARLOOM_CLICKHOUSE_URL=http://u:s3cret@h:8123\n"
    )
    s = load_settings(root)
    assert s.password == "s3cret"
    assert "s3cret" not in repr(s) and "s3cret" not in s.describe()
    assert redact_url("https://u:pw@h:8443/x") == "https://u:***@h:8443/x"


def test_project_found_from_a_subfolder(root, monkeypatch):
    sub = root / "notebooks"
    sub.mkdir()
    assert find_project_dir(sub) == root
    monkeypatch.chdir(sub)
    assert load_settings().project_dir == root


def test_no_project_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="STARLOOM_PROJECT_DIR"):
        find_project_dir(tmp_path)


def test_invalid_yaml_and_lock_timeout(root, monkeypatch):
    monkeypatch.setenv("STARLOOM_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="STARLOOM_LOCK_TIMEOUT"):
        load_settings(root)
    monkeypatch.delenv("STARLOOM_LOCK_TIMEOUT")
    (root / "env.yaml").write_text("warehouse: [unclosed\n")
    with pytest.raises(ConfigError, match="env.yaml is not valid YAML"):
        load_settings(root)


@pytest.mark.parametrize(
    "value", ["2024-01-07", " 2024-01-07 ", dt.date(2024, 1, 7), dt.datetime(2024, 1, 7, 5)]
)
def test_run_date_accepts_iso_dates(value):
    assert parse_run_date(value) == dt.date(2024, 1, 7)


@pytest.mark.parametrize("value", ["07/01/2024", "2024-13-01", "", "yesterday"])
def test_run_date_rejects_other_formats(value):
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        parse_run_date(value)
