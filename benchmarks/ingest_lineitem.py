"""TPC-H lineitem CSV through starloom's ingest and through ClickHouse's own file() load.

    python benchmarks/ingest_lineitem.py [--sf 0.1] [--workdir output/bench_lineitem]
                                         [--profile]

Generates lineitem at the scale factor with tpchgen-cli (once), then, in this one run and
on the same file, loads it
  starloom  through a files source with the lineitem contract of benchmarks/tpch: by
            default (`--landing none`) the engine reads the CSV and checks the contract in
            SQL; with `--landing parquet` Dask checks it per chunk and lands Parquet; then
            the key check and REPLACE PARTITION into the raw table
  file()    with ClickHouse's own INSERT INTO ... SELECT FROM file(..., CSVWithNames) into
            a table of the same column types
each in its own process, and prints rows/s of each, their ratio (starloom / file()) and the
peak RSS of each process. `--profile` runs the starloom load under cProfile and prints the
functions where the time goes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DAY = "1998-08-02"
# the lineitem contract of the TPC-H benchmark project (benchmarks/tpch/sources/tpch.yml)
LINEITEM = yaml.safe_load((REPO / "benchmarks" / "tpch" / "sources" / "tpch.yml").read_text())[
    "tables"
]["lineitem"]

STARLOOM = """
import cProfile, json, pstats, resource, sys, time
from starloom.ingestion.load import ingest
from starloom.warehouse import Warehouse
wh = Warehouse()
profile = cProfile.Profile() if sys.argv[1] == "profile" else None
t = time.perf_counter()
if profile:
    profile.enable()
loads = ingest(wh, "tpch", run_date=sys.argv[2])
if profile:
    profile.disable()
seconds = time.perf_counter() - t
row = loads.iloc[0]
if profile:
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
print(json.dumps({"rows": int(row.rows_loaded), "read": int(row.rows_read),
                  "phases": {k: float(row[f"seconds_{k}"]) for k in ("plan", "land", "warehouse")},
                  "quarantined": int(row.rows_quarantined), "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

NATIVE = """
import json, resource, sys, time
from starloom.ingestion.contracts import Contract
from starloom.project import Project
from starloom.warehouse import Warehouse, quote_identifier
wh = Warehouse()
entity = Project(wh.settings).source("tpch").entity("lineitem")
cols = ", ".join(f"{quote_identifier(c.name)} {c.clickhouse_type()}"
                 for c in entity.contract.columns)
wh.command("DROP TABLE IF EXISTS native_lineitem")
wh.command(f"CREATE TABLE native_lineitem ({cols}) ENGINE = MergeTree "
           "ORDER BY (l_orderkey, l_linenumber)")
t = time.perf_counter()
wh.command("INSERT INTO native_lineitem SELECT * FROM file({p:String}, 'CSVWithNames')",
           {"p": sys.argv[1]})
seconds = time.perf_counter() - t
print(json.dumps({"rows": wh.count("native_lineitem"), "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_project(work: Path, sf: float, landing: str) -> Path:
    """A throwaway project whose one source is the generated lineitem file."""
    project = work / "project"
    data = work / f"sf{sf}" / f"date={DAY}"
    if not (data / "lineitem.csv").exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(Path(sys.executable).parent / "tpchgen-cli"),
                "csv",
                "-s",
                str(sf),
                "--tables",
                "lineitem",
                "--output-dir",
                str(data),
            ],
            check=True,
        )
    shutil.rmtree(project, ignore_errors=True)
    (project / "sources").mkdir(parents=True)
    (project / "pipeline.yaml").write_text("tasks: []\n")
    spec = {
        "source": "tpch",
        "kind": "files",
        "format": "csv",
        "landing": landing,
        "tables": {
            "lineitem": {
                "path": str(data.parent / "date=*" / "lineitem.csv"),
                **{k: v for k, v in LINEITEM.items() if k != "path"},
            }
        },
    }
    (project / "sources" / "tpch.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return project


def run(code: str, project: Path, *args: str) -> dict:
    env = {"STARLOOM_PROJECT_DIR": str(project), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"load failed:\n{done.stderr[-3000:]}")
    if done.stderr.strip() and "profile" in args:
        print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, default=0.1)
    ap.add_argument("--workdir", type=Path, default=REPO / "output" / "bench_lineitem")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--landing",
        choices=["none", "parquet"],
        default="none",
        help="none: the engine reads and checks the CSV; parquet: Dask does, via landing Parquet",
    )
    opts = ap.parse_args()
    project = make_project(opts.workdir.resolve(), opts.sf, opts.landing)
    csv_path = next((opts.workdir.resolve() / f"sf{opts.sf}").rglob("lineitem.csv"))
    size_mb = csv_path.stat().st_size / 2**20
    native = run(NATIVE, project, str(csv_path))
    ours = run(STARLOOM, project, "profile" if opts.profile else "plain", DAY)
    assert ours["read"] == ours["rows"] + ours["quarantined"]
    assert ours["rows"] == native["rows"], (ours, native)
    rate = {k: v["rows"] / v["seconds"] for k, v in (("starloom", ours), ("file", native))}
    print(
        f"TPC-H lineitem SF {opts.sf}: {native['rows']:,} rows, {size_mb:.0f} MiB CSV, "
        f"landing: {opts.landing}"
    )
    print(f"{'path':<10} {'seconds':>8} {'rows/s':>12} {'peak RSS MiB':>13}")
    for name, res in (("starloom", ours), ("file()", native)):
        key = "starloom" if name == "starloom" else "file"
        print(f"{name:<10} {res['seconds']:>8.2f} {rate[key]:>12,.0f} {res['rss_mb']:>13,.0f}")
    print(f"ratio starloom / file(): {rate['starloom'] / rate['file']:.2f}")
    phases = ", ".join(f"{k} {v:.2f} s" for k, v in ours["phases"].items())
    land = (
        "the engine reads and checks the CSV into a table aside"
        if opts.landing == "none"
        else "Dask reads and checks the CSV into landing Parquet"
    )
    print(
        f"starloom phases: {phases} (plan = file checksums, except a new file the engine "
        f"reads; land = {land}; warehouse = load landing Parquet if any, key check, "
        "swap partitions)"
    )
    print(f"quarantined by starloom: {ours['quarantined']}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(benchmark ran in {time.perf_counter() - started:.0f} s)")
