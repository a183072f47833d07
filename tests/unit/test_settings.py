"""Settings: env.yaml, environment variables, .env, run dates, secrets kept out of messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from starloom.errors import ConfigError
from starloom.settings import (
    find_project_dir,
    load_settings,
    parse_run_date,
    parse_yaml,
    redact_text,
    redact_url,
)


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
        "STARLOOM_MEMORY_LIMIT_MB",
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


def test_memory_limit_from_env_yaml_or_the_environment(root, monkeypatch):
    assert load_settings(root).memory_limit_mb == 0
    (root / "env.yaml").write_text("warehouse:\n  memory_limit_mb: 1500\n")
    assert load_settings(root).memory_limit_mb == 1500
    monkeypatch.setenv("STARLOOM_MEMORY_LIMIT_MB", "800")
    assert load_settings(root).memory_limit_mb == 800
    for bad in ("1.5GB", "-1"):
        monkeypatch.setenv("STARLOOM_MEMORY_LIMIT_MB", bad)
        with pytest.raises(ConfigError, match="whole number of MiB"):
            load_settings(root)


@pytest.mark.parametrize(
    "value", ["2024-01-07", " 2024-01-07 ", dt.date(2024, 1, 7), dt.datetime(2024, 1, 7, 5)]
)
def test_run_date_accepts_iso_dates(value):
    assert parse_run_date(value) == dt.date(2024, 1, 7)


@pytest.mark.parametrize("value", ["07/01/2024", "2024-13-01", "", "tomorrow"])
def test_run_date_rejects_other_formats(value):
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        parse_run_date(value)


# Two random-looking halves: a leak of either half of a password is a leak.
A, B = "pA55wdA9f3", "pB66wdB0e4"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://u:{A}@h:8443/x", "https://u:***@h:8443/x"),
        (f"http://default:{A}#{B}@h:8123/?compress=0", "http://default:***@h:8123/?compress=0"),
        (f"http://default:{A}/{B}@h:8123", "http://default:***@h:8123"),
        (f"http://default:{A}?{B}@h:8123/db", "http://default:***@h:8123/db"),
        (f"http://default:{A}@{B}@h:8123", "http://default:***@h:8123"),
        (f"http://default:8123/{A}@h:8123", "http://default:***@h:8123"),  # a "port" first
        (f"http://default:{A}#/?@{B}@h:8123/?x=1", "http://default:***@h:8123/?x=1"),
        (f"http://default:{A}%23{B}@h:8123", "http://default:***@h:8123"),  # encoded
        (f"default:{A}@h:8123", "default:***@h:8123"),  # no scheme
        (f"http://h:8123/?password={A}&compress=0", "http://h:8123/?password=***&compress=0"),
        (f"http://h/?compress=0&pass={A}", "http://h/?compress=0&pass=***"),
        (f"http://h/?token={A}", "http://h/?token=***"),
        (f"http://h/?client_secret={A};x=1", "http://h/?client_secret=***;x=1"),
        (f"http://h/?api_key={A}&KEY={B}", "http://h/?api_key=***&KEY=***"),
        (f"http://h/x?X-Amz-Signature={A}", "http://h/x?X-Amz-Signature=***"),
        (f"http://h/#access_token={A}", "http://h/#access_token=***"),
        (f"http://u:{A}@h/?pwd={B}", "http://u:***@h/?pwd=***"),
    ],
)
def test_redact_url_hides_the_secret_of_any_shape(url, shown):
    assert redact_url(url) == shown
    assert A not in redact_url(url) and B not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://default@127.0.0.1:9/?connect_timeout=2",
        "https://h:8443/db?compress=0&database=shop",
        "tcp://scheduler:8786",
        "http://u:@h:8123",  # an empty password
        "",
    ],
)
def test_redact_url_leaves_urls_without_secrets_alone(url):
    assert redact_url(url) == url


def test_a_query_at_sign_hides_more_never_less():
    shown = redact_url(f"http://u:{A}@h:8123/?email=a@b.org")
    assert A not in shown and "u:***@" in shown


def test_redact_text_hides_the_url_and_its_secrets_wherever_they_appear():
    url = f"http://lineage:{A}#{B}@h:5000/?token={B}x"
    text = (
        f"Need valid url, passed {url}. Failed to parse: 'lineage:{A}' is not a valid host; "
        f"fragment {B}@h:5000; decoded {A}"
    )
    shown = redact_text(text, url)
    assert A not in shown and B not in shown
    assert "passed http://lineage:***@h:5000/?token=***." in shown


def test_run_date_may_be_today_or_yesterday_in_utc():
    import datetime as dt

    from starloom.settings import parse_run_date

    today = dt.datetime.now(dt.UTC).date()
    assert parse_run_date("today") == today
    assert parse_run_date(" Yesterday ") == today - dt.timedelta(days=1)


REPO = Path(__file__).resolve().parents[2]


def test_yaml_reads_as_the_pure_python_parser_reads_it():
    """The project's YAML, and YAML's odd corners, read as PyYAML's pure-Python safe loader
    reads them; a fault is named with its line quoted and a caret under it."""
    files = [*REPO.glob("*.y*ml"), *REPO.glob("sources/*.yml"), *REPO.glob("benchmarks/**/*.yml")]
    texts = [p.read_text() for p in sorted(files)]
    texts += [
        "x: 2024-01-05\ny: 1e3\nz: 0o17\nw: yes\nv: ~\nu: 012\nt: 1_000\ns: .inf\n",
        "a: 1\na: 2\n",
        "s: 'it''s'\nd: \"\\u00e9\"\nblock: |\n  two\n  lines\n",
    ]
    assert len(texts) > 5
    for text in texts:
        assert parse_yaml(text, "x") == yaml.safe_load(text)
    with pytest.raises(ConfigError) as err:
        parse_yaml("key: value\n  bad: indent\n", "sources/shop.yml")
    assert "sources/shop.yml is not valid YAML" in str(err.value)
    assert "bad: indent" in str(err.value) and "^" in str(err.value)
