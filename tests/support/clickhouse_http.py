"""A ClickHouse HTTP interface over the embedded chdb engine, for tests.

It answers what clickhouse-connect's HTTP client and its SQLAlchemy dialect send: the query
in the `query` parameter and/or the body, `INSERT ... FORMAT X` with the data in the body
(plain, chunked, or gzip/deflate/lz4-encoded), multipart forms, `database`, `default_format`,
`param_<name>` bindings, `session_id`, URL settings, `/ping`, and ClickHouse-shaped errors.

chdb hosts one engine per process, so run it as its own process:

    python -m tests.support.clickhouse_http --path DIR [--port 0] [--password-env VAR]

It prints `listening on PORT` once ready and serves until SIGTERM.

Not supported: external data (file parts of a form), `decompress=1` (ClickHouse's own block
compression of the body), compressed responses (the body is always sent as is, which every
client accepts), users other than `default`, read-only GET requests (GET may modify), and
progress headers. Settings passed in the URL of a `session_id` request stay set in that
session, where a server applies them to the one query. Unknown URL settings are ignored.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import gzip
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb

# URL parameters that belong to the HTTP layer, never passed to the engine as settings.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
    }
)
# HTTP status per exception name, as in ClickHouse's exceptionCodeToHTTPStatus.cpp.
STATUS_BY_NAME = {
    "REQUIRED_PASSWORD": 401,
    "UNKNOWN_USER": 403,
    "WRONG_PASSWORD": 403,
    "AUTHENTICATION_FAILED": 403,
    "ACCESS_DENIED": 403,
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}
_BAD_REQUEST = re.compile(
    r"^(CANNOT_PARSE_\w+|BAD_ARGUMENTS|SYNTAX_ERROR|INCORRECT_DATA|"
    r"TYPE_MISMATCH|ILLEGAL_COLUMN|DUPLICATE_COLUMN|THERE_IS_NO_COLUMN)$"
)
_NOT_FOUND = re.compile(
    r"^UNKNOWN_(TABLE|FUNCTION|IDENTIFIER|TYPE|STORAGE|DATABASE|SETTING|"
    r"FORMAT|AGGREGATE_FUNCTION|DATABASE_ENGINE|TYPE_OF_QUERY|ROLE)$"
)
# The first top-level keyword of an INSERT tells whether data follows a FORMAT clause.
_INSERT_HEAD = re.compile(r"\s*INSERT\s+INTO\s", re.IGNORECASE)
_INSERT_TOKEN = re.compile(
    r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|"
    r"\b(FORMAT|VALUES|SELECT|WITH)\b",
    re.IGNORECASE | re.DOTALL,
)
_FORMAT_NAME = re.compile(r"\s+(\w+)[ \t\r]*\n?")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_RESULT_VERBS = {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK"}


class QueryError(Exception):
    """An exception as ClickHouse reports it: code, name and text."""

    def __init__(self, code: int, text: str, status: int | None = None):
        super().__init__(text)
        self.code, self.text, self._status = code, text, status
        self.name = (re.findall(r"\(([A-Z0-9_]+)\)", text) or [""])[-1]

    @classmethod
    def from_engine(cls, exc: Exception) -> QueryError:
        text = str(exc).strip()
        if "Code: " in text:
            text = text[text.index("Code: ") :]
            return cls(int(re.match(r"Code: (\d+)", text).group(1)), text)
        return cls(1001, f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)")

    @property
    def status(self) -> int:
        if self._status:
            return self._status
        if self.name in STATUS_BY_NAME:
            return STATUS_BY_NAME[self.name]
        if _BAD_REQUEST.match(self.name):
            return 400
        return 404 if _NOT_FOUND.match(self.name) else 500


def _quote(value: str, mark: str = "'") -> str:
    return mark + value.replace("\\", "\\\\").replace(mark, "\\" + mark) + mark


def split_insert(text: bytes) -> tuple[str, str, bytes] | None:
    """(statement, format, data) for `INSERT INTO ... FORMAT X <data>`, else None."""
    head = text[:65536].decode("latin-1")
    if not _INSERT_HEAD.match(head):
        return None
    for match in _INSERT_TOKEN.finditer(head):
        if match.group(1):
            if match.group(1).upper() != "FORMAT":
                return None
            name = _FORMAT_NAME.match(head, match.end())
            if not name:
                return None
            statement = text[: match.start()].decode()
            return statement, name.group(1), text[name.end() :]
    return None


class Engine:
    """One chdb engine; a handle per session, a fresh handle per session-less request."""

    def __init__(self, path: str):
        self.path = os.path.realpath(path)
        self.lock = threading.Lock()
        self.anchor = chdb.connect(self.path)  # keeps the engine up between requests
        self.version = self.anchor.query("SELECT version()", "TSV").bytes().decode().strip()
        names = self.anchor.query("SELECT name FROM system.settings", "TabSeparated").bytes()
        self.setting_names = set(names.decode().split()) - TRANSPORT_PARAMS
        self.sessions: dict[str, list] = {}  # session_id -> [handle, expires_at]

    def _handle(self, params: dict) -> tuple[object, bool]:
        now = time.monotonic()
        for key, (conn, expires) in list(self.sessions.items()):
            if expires < now:
                conn.close()
                del self.sessions[key]
        session = params.get("session_id")
        if not session:
            return chdb.connect(self.path), True
        if session not in self.sessions:
            if params.get("session_check") == "1":
                raise QueryError(
                    372,
                    f"Code: 372. DB::Exception: Session {session} not found. (SESSION_NOT_FOUND)",
                )
            self.sessions[session] = [chdb.connect(self.path), 0.0]
        entry = self.sessions[session]
        entry[1] = now + float(params.get("session_timeout") or 60)
        return entry[0], False

    def execute(self, text: bytes, params: dict) -> tuple[bytes, str | None, dict]:
        """Run one request: the response body, its format (None: no result set), summary."""
        binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k in self.setting_names}
        with self.lock:
            conn, fresh = self._handle(params)
            try:
                if params.get("database"):
                    conn.query(f"USE {_quote(params['database'], '`')}", "TabSeparated")
                for key, value in settings.items():
                    conn.query(f"SET {key} = {_quote(value)}", "TabSeparated")
                insert = split_insert(text)
                if insert:
                    statement, fmt, data = insert
                    with conn.send_insert(statement, fmt) as inserter:
                        for start in range(0, len(data), 1 << 20):
                            inserter.append(data[start : start + (1 << 20)])
                        done = inserter.finish()
                    return (
                        b"",
                        None,
                        {
                            "written_rows": done.rows_written,
                            "written_bytes": done.bytes_written,
                            "elapsed_ns": int(done.elapsed * 1e9),
                        },
                    )
                sql = text.decode()
                default = params.get("default_format") or "TabSeparated"
                result = conn.query(sql, default, params=binds)
                body = result.bytes() or b""
                trailing = _TRAILING_FORMAT.search(sql)
                verb = (sql.split(None, 1) or [""])[0].upper()
                fmt = trailing.group(1) if trailing else default
                summary = {
                    "read_rows": result.rows_read(),
                    "read_bytes": result.bytes_read(),
                    "elapsed_ns": int(result.elapsed() * 1e9),
                }
                return body, fmt if (body or verb in _RESULT_VERBS) else None, summary
            except (RuntimeError, UnicodeDecodeError) as exc:
                # the engine raises chdb._exceptions.ChdbError (a RuntimeError), not chdb.ChdbError
                raise QueryError.from_engine(exc) from None
            finally:
                if fresh:
                    conn.close()

    def close(self) -> None:
        with self.lock:
            for conn, _ in self.sessions.values():
                conn.close()
            self.sessions.clear()
            self.anchor.close()


def _decode_body(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise QueryError(
        415,
        f"Code: 415. DB::Exception: Content-Encoding {encoding} is not "
        "supported by this endpoint. (UNSUPPORTED_MEDIA_TYPE)",
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format, *args):  # quiet: one line per request is noise in tests
        pass

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(parts)
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return _decode_body(data, self.headers.get("Content-Encoding", ""))

    def _credentials(self, params: dict) -> tuple[str, str]:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user, password
        if self.headers.get("X-ClickHouse-User"):
            return self.headers["X-ClickHouse-User"], self.headers.get("X-ClickHouse-Key", "")
        return params.get("user", "default"), params.get("password", "")

    def _serve(self):
        url = urlsplit(self.path)
        query_id = str(uuid.uuid4())
        try:
            body = self._read_body()
            if url.path == "/ping" or (url.path == "/" and self.command == "GET" and not url.query):
                return self._reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            if url.path != "/":
                raise QueryError(0, f"There is no handle {url.path}", 404)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body
                )
                for part in form.iter_parts():
                    if part.get_filename():
                        raise QueryError(
                            48,
                            "Code: 48. DB::Exception: External data is not "
                            "supported by this endpoint. (NOT_IMPLEMENTED)",
                        )
                    name = part.get_param("name", header="content-disposition")
                    params[name] = part.get_payload(decode=True).decode()
                body = b""
            user, password = self._credentials(params)
            expected = self.server.password
            if expected is not None and not (
                user == "default" and hmac.compare_digest(password.encode(), expected.encode())
            ):
                raise QueryError(
                    516,
                    f"Code: 516. DB::Exception: {user}: Authentication failed: "
                    "password is incorrect, or there is no user with such name. "
                    "(AUTHENTICATION_FAILED)",
                )
            if self.headers.get("X-ClickHouse-Database"):
                params.setdefault("database", self.headers["X-ClickHouse-Database"])
            query_id = params.get("query_id") or query_id
            text = params.get("query", "").encode()
            text = text + b"\n" + body if text and body else text or body
            if not text.strip():
                raise QueryError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
            result, fmt, summary = self.server.engine.execute(text, params)
        except Exception as exc:  # noqa: BLE001 - every failure is answered like ClickHouse would
            error = exc if isinstance(exc, QueryError) else QueryError.from_engine(exc)
            message = error.text.rstrip()
            if error.code and "(version " not in message:
                message += f" (version {self.server.engine.version})"
            headers = {
                "X-ClickHouse-Query-Id": query_id,
                "Content-Type": "text/plain; charset=UTF-8",
            }
            if error.code:
                headers["X-ClickHouse-Exception-Code"] = str(error.code)
            return self._reply(error.status, (message + "\n").encode(), headers)
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Summary": json.dumps({k: str(v) for k, v in summary.items()}),
            "Content-Type": "text/plain; charset=UTF-8"
            if fmt in (None, "TabSeparated", "TSV", "CSV")
            else "application/octet-stream",
        }
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        self._reply(200, result, headers)

    def _reply(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, engine: Engine, password: str | None):
        super().__init__(address, Handler)
        self.engine, self.password = engine, password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="chdb data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--password-env", help="require the password held in this variable")
    args = parser.parse_args(argv)
    password = os.environ[args.password_env] if args.password_env else None
    engine = Engine(args.path)
    server = Server((args.host, args.port), engine, password)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        engine.close()


if __name__ == "__main__":
    main()
