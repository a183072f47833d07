"""Project settings: env.yaml at the project root, overridden by environment variables.

Order of precedence (last wins): built-in defaults, env.yaml, STARLOOM_* variables.
Secrets (the ClickHouse password) come only from the environment or a git-ignored .env.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from starloom.errors import ConfigError

PROJECT_MARKER = "pipeline.yaml"


def find_project_dir(start: Path | None = None) -> Path:
    """The project root: $STARLOOM_PROJECT_DIR, else the first parent holding pipeline.yaml."""
    env = os.environ.get("STARLOOM_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_MARKER).is_file():
            return candidate
    raise ConfigError(
        f"No starloom project found: neither {here} nor any parent folder holds {PROJECT_MARKER}. "
        "Run the command inside the project folder, or set STARLOOM_PROJECT_DIR to it."
    )


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    warehouse_path: Path
    warehouse_url: str = field(default="", repr=False)  # may carry a password
    database: str = "starloom"
    cluster: str = ""
    password: str = field(default="", repr=False)
    dask_scheduler: str = ""
    lock_timeout: float = 60.0
    memory_limit_mb: int = 0  # the engine's memory limit; 0: its own default (90% of RAM)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def embedded(self) -> bool:
        return not self.warehouse_url

    @property
    def output_dir(self) -> Path:
        return self.project_dir / "output"

    @property
    def run_date(self) -> dt.date:
        """env.yaml's `run_date` as a date (YYYY-MM-DD, today or yesterday), else today."""
        return parse_run_date(self.raw.get("run_date") or "today")

    def describe(self) -> str:
        """Where the warehouse is, without any secret."""
        if self.embedded:
            return f"embedded ClickHouse (chdb) at {self.warehouse_path}, database {self.database}"
        return f"ClickHouse server {redact_url(self.warehouse_url)}, database {self.database}"


REDACTED = "***"
# a query (or fragment) parameter whose value is a secret: password=, pass=, pwd=, token=,
# access_token=, secret=, key=, api_key=, X-Amz-Signature=, sig=, auth=, credential=, ...
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|auth|credential|signature|^sig$", re.I)
_PARAM = re.compile(r"(?<=[?&;#])([^=&;#?/]+)=([^&;#]*)")


def split_userinfo(url: str) -> tuple[str, str, str]:
    """(`scheme://`, user info, the rest from its `@` on), or (`scheme://`, "", the rest).

    The user info runs to the LAST `@` of the URL. urllib ends it at the first `/`, `?` or `#`
    instead, so an unencoded one in a password is read as a path, query or fragment and the
    password is then shown as if it were the host, the port or the query. Taking the last `@`
    may take a query's `@` too: then more than the password is hidden, never less.
    A URL without `scheme://` (user:pw@host:8123) is read the same way from its start.
    """
    scheme_end = url.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    at = url.rfind("@", start)
    if at < 0:
        return url[:start], "", url[start:]
    return url[:start], url[start:at], url[at:]


def _mask_secret_params(text: str) -> str:
    def mask(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        return f"{name}={REDACTED}" if value and _SECRET_NAME.search(name) else match.group(0)

    return _PARAM.sub(mask, text)


def redact_url(url: str) -> str:
    """The URL as it may be shown: the password of its user info and the values of its
    secret-looking query parameters (password=, token=, key=, ...) replaced by ***.

    Any shape is handled, an unencoded `#`, `/`, `?` or `@` in the password included (see
    split_userinfo); use it wherever a URL reaches a message, a log or a file.
    """
    scheme, userinfo, rest = split_userinfo(url)
    user, colon, password = userinfo.partition(":")
    if colon and password:
        userinfo = f"{user}:{REDACTED}"
    return _mask_secret_params(scheme + userinfo + rest)


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries (its password, its secret query values), as written and
    percent-decoded, longest first: what must not appear in any text shown next to it.

    The pieces of a password between unencoded `#`, `/`, `?` and `@` are secrets too (those
    of 3 characters or more): a parser that splits the URL there quotes them one by one.
    """
    from urllib.parse import unquote

    _, userinfo, rest = split_userinfo(url)
    password = userinfo.partition(":")[2]
    found = [password, *(p for p in re.split(r"[#/?@]", password) if len(p) >= 3)]
    found += [m.group(2) for m in _PARAM.finditer(rest) if _SECRET_NAME.search(m.group(1))]
    found += [unquote(value) for value in found]
    return sorted({value for value in found if value}, key=len, reverse=True)


def redact_text(text: str, url: str) -> str:
    """`text` (an error from a library handed `url`) with `url` and each of its secrets
    replaced by their redacted forms: libraries quote the URL they were given, whole or
    in parts, and never hide its password."""
    text = text.replace(url, redact_url(url))
    for secret in url_secrets(url):
        text = text.replace(secret, REDACTED)
    return text


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, where: str):
    """The one YAML parser of a project's files (env.yaml, sources/*.yml, model headers,
    pipeline.yaml): safe loading, and an error naming `where` when the text is not YAML.
    Read by libyaml where PyYAML has it (a 200-line sources file: 4 ms instead of 40); a
    text it refuses is read again by the pure-Python parser, whose error quotes the line
    with a caret under the fault."""
    with contextlib.suppress(yaml.YAMLError):
        return yaml.load(text, Loader=_YAML_LOADER)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML ({exc}). Fix the file.") from None


def read_yaml(path: Path, where: str | None = None):
    """The YAML file at `path` (parse_yaml), {} when it is empty."""
    return parse_yaml(Path(path).read_text(), where or str(path)) or {}


def load_settings(project_dir: Path | None = None) -> Settings:
    root = Path(project_dir).resolve() if project_dir else find_project_dir()
    env_file = root / "env.yaml"
    raw: dict = read_yaml(env_file) if env_file.is_file() else {}
    environ = {**_read_dotenv(root / ".env"), **os.environ}
    wh = raw.get("warehouse") or {}
    path = environ.get("STARLOOM_WAREHOUSE_PATH") or wh.get("path") or ".warehouse"
    url = environ.get("STARLOOM_CLICKHOUSE_URL") or wh.get("url") or ""
    database = environ.get("STARLOOM_DATABASE") or wh.get("database") or "starloom"
    cluster = environ.get("STARLOOM_CLUSTER") or wh.get("cluster") or ""
    warehouse_path = Path(path)
    if not warehouse_path.is_absolute():
        warehouse_path = root / warehouse_path
    try:
        lock_timeout = float(environ.get("STARLOOM_LOCK_TIMEOUT", "60"))
    except ValueError as exc:
        raise ConfigError("STARLOOM_LOCK_TIMEOUT must be a number of seconds.") from exc
    limit = environ.get("STARLOOM_MEMORY_LIMIT_MB") or wh.get("memory_limit_mb") or 0
    try:
        memory_limit_mb = int(limit)
        if memory_limit_mb < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"The warehouse memory limit {limit!r} (STARLOOM_MEMORY_LIMIT_MB or "
            "warehouse.memory_limit_mb) must be a whole number of MiB, such as 1500; 0 leaves "
            "the engine's own default."
        ) from None
    return Settings(
        project_dir=root,
        warehouse_path=warehouse_path,
        warehouse_url=url,
        database=database,
        cluster=cluster,
        password=environ.get("STARLOOM_CLICKHOUSE_PASSWORD", ""),
        dask_scheduler=environ.get("STARLOOM_DASK_SCHEDULER") or raw.get("dask_scheduler") or "",
        lock_timeout=lock_timeout,
        memory_limit_mb=memory_limit_mb,
        raw=raw,
    )


def parse_date(value: str | dt.date, what: str, hint: str) -> dt.date:
    """A date given as YYYY-MM-DD (or a date, or `today` / `yesterday` in UTC), or an error
    naming `what` and saying `hint`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    relative = {"today": 0, "yesterday": 1}.get(str(value).strip().lower())
    if relative is not None:
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=relative)
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"{what} {value!r} is not a date in the format YYYY-MM-DD (for example 2024-01-07). "
            + hint
        ) from None


def parse_run_date(value: str | dt.date) -> dt.date:
    """A run_date as a date, or an error saying the expected format."""
    return parse_date(
        value,
        "run_date",
        "Pass it as `ploomber build --env--run_date 2024-01-07` or set it in env.yaml.",
    )
