"""The dbt peer: the same star and tests, built by dbt-clickhouse on the same engine.

Installed on demand in its own virtual environment (output/bench/dbt-venv): dbt-core 1.12.0
with dbt-core-experimental-parser 2.0.0a4 (later dbt-core releases need a parser whose source
package downloads a wheel while building) and dbt-clickhouse. The dbt project is generated from
benchmarks/tpch/sql, so both sides build the same SQL with the same tests: raw tables are loaded
with ClickHouse's file(), then `dbt build` runs against the ClickHouse-HTTP endpoint backed by
chdb (tests/support/clickhouse_http.py), since no ClickHouse server can be installed here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PINS = ["dbt-core==1.12.0", "dbt-core-experimental-parser==2.0.0a4", "dbt-clickhouse==1.10.3"]
_HEADER = re.compile(r"^\s*/\*\s*---\s*\n(.*?)\n\s*---\s*\*/", re.S)


def ensure_venv(out: Path) -> Path:
    venv = out / "dbt-venv"
    dbt = venv / "bin" / "dbt"
    if not dbt.exists():
        print("installing the dbt peer in", venv, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PINS], check=True)
    return dbt


def _dbt_test(test):
    name, args = (test, {}) if isinstance(test, str) else next(iter(test.items()))
    if name == "relationships":
        return {"relationships": {"to": f"ref('{args['to']}')", "field": args["field"]}}
    if name == "accepted_values":
        return {"accepted_values": {"values": args["values"]}}
    return name


def write_project(project: Path, sql_dir: Path, raw_database: str) -> int:
    """A dbt project with one model per starloom model (same SQL, same tests)."""
    shutil.rmtree(project, ignore_errors=True)
    (project / "models").mkdir(parents=True)
    models, tables = [], set()
    for path in sorted(sql_dir.rglob("*.sql")):
        text = path.read_text()
        header = _HEADER.match(text)
        meta = yaml.safe_load(header.group(1))
        body = text[header.end() :].strip()
        tables.update(re.findall(r"source\('tpch',\s*'(\w+)'\)", body))
        order = meta.get("order_by") or []
        config = [f"materialized='{meta.get('materialization', 'view')}'"]
        if order:
            config.append(f"order_by='({', '.join(order)})'")
        if meta.get("partition_by"):
            config.append(f"partition_by='{meta['partition_by']}'")
        config.append("engine='MergeTree()'")
        (project / "models" / path.name).write_text(
            "{{ config(" + ", ".join(config) + ") }}\n" + body + "\n"
        )
        columns = [
            {"name": col, "tests": [_dbt_test(t) for t in (spec or {}).get("tests", [])]}
            for col, spec in (meta.get("columns") or {}).items()
        ]
        models.append({"name": path.stem, "columns": columns})
    sources = [
        {
            "name": "tpch",
            "schema": raw_database,
            "tables": [{"name": t, "identifier": f"raw_tpch__{t}"} for t in sorted(tables)],
        }
    ]
    (project / "models" / "schema.yml").write_text(
        yaml.safe_dump({"version": 2, "models": models, "sources": sources}, sort_keys=False)
    )
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": "tpch_star",
                "version": "1.0",
                "config-version": 2,
                "profile": "tpch_star",
                "model-paths": ["models"],
                "target-path": "target",
                "clean-targets": ["target"],
            }
        )
    )
    (project / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                "tpch_star": {
                    "target": "bench",
                    "outputs": {
                        "bench": {
                            "type": "clickhouse",
                            "driver": "http",
                            "host": "127.0.0.1",
                            "port": "{{ env_var('DBT_CLICKHOUSE_PORT') | int }}",
                            "user": "default",
                            "password": "",
                            "schema": "tpch_dbt",
                            "threads": 2,
                            "compression": "",
                        }
                    },
                }
            }
        )
    )
    n_tests = sum(len(c["tests"]) for m in models for c in m["columns"])
    return n_tests


def run_dbt_peer(data: Path, batch: str, sf: str, out: Path, load_raw, check_answers) -> dict:
    """Raw load with file() through the HTTP endpoint, then `dbt build`; both timed."""
    sys.path.insert(0, str(REPO))
    from tests.support.fixtures import start_clickhouse_server

    from starloom.settings import Settings
    from starloom.warehouse import Warehouse

    dbt = ensure_venv(out)
    work = out / "dbt"
    shutil.rmtree(work, ignore_errors=True)
    server = start_clickhouse_server(work / "chdb")
    try:
        settings = Settings(
            project_dir=HERE / "tpch",
            warehouse_path=work / "unused",
            warehouse_url=server.url,
            database="tpch_raw",
        )
        wh = Warehouse(settings)
        started = time.perf_counter()
        rows = load_raw(wh, data, batch)
        raw_s = time.perf_counter() - started
        n_tests = write_project(work / "project", HERE / "tpch" / "sql", "tpch_raw")
        env = dict(
            os.environ,
            DBT_CLICKHOUSE_PORT=str(server.port),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            DO_NOT_TRACK="1",
        )
        started = time.perf_counter()
        done = subprocess.run(
            [
                str(dbt),
                "build",
                "--project-dir",
                str(work / "project"),
                "--profiles-dir",
                str(work / "project"),
                "--no-use-colors",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        build_s = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError("dbt build failed:\n" + done.stdout[-4000:])
        summary = [line for line in done.stdout.splitlines() if "PASS=" in line]
        return {
            "rows": rows,
            "ingest_s": raw_s,
            "models_s": build_s,
            "tests": n_tests,
            "dbt_summary": summary[-1].strip() if summary else "",
            "answers": check_answers(wh, "raw_tpch__lineitem", sf),
        }
    finally:
        server.stop()
