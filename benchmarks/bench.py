"""TPC-H data to a star schema: starloom's path against ClickHouse's own file() load and pandas.

    python benchmarks/bench.py [--sf 1] [--repeat 1] [--out output/bench]

Generates TPC-H CSV with tpchgen-cli (once per scale factor), then, in this one run and on the
same files, times:
  starloom     ingest every table through its contract (benchmarks/tpch/sources/tpch.yml),
               then build the star (benchmarks/tpch/sql) with its model tests
  file()       ClickHouse's own INSERT ... SELECT FROM file(..., CSVWithNames) per table
  pandas       pandas.read_csv then clickhouse-connect insert_df per table, then the same star
and checks TPC-H Q1 and Q6 on the loaded lineitem against the official answers. Prints medians
over the repetitions, the ratios, and the peak RSS; writes them as JSON under --out.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BATCH = "1998-08-02"  # the day folder the generated files sit in
TABLES = ["region", "nation", "customer", "supplier", "part", "orders", "lineitem"]

Q1 = """
SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
       sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price,
       avg(l_discount) AS avg_disc, count() AS count_order
FROM {t} WHERE l_shipdate <= toDate('1998-12-01') - INTERVAL 90 DAY
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus
"""
Q6 = """
SELECT sum(l_extendedprice * l_discount) AS revenue FROM {t}
WHERE l_shipdate >= toDate('1994-01-01') AND l_shipdate < toDate('1995-01-01')
  AND l_discount BETWEEN toDecimal64(0.05, 2) AND toDecimal64(0.07, 2) AND l_quantity < 24
"""


def generate(sf: str, root: Path) -> Path:
    """TPC-H CSV files for scale factor sf in root/sf<sf>/date=<BATCH>/ (kept between runs)."""
    data = root / f"sf{sf}"
    day = data / f"date={BATCH}"
    if not (day / "lineitem.csv").exists():
        shutil.rmtree(data, ignore_errors=True)
        day.mkdir(parents=True)
        tool = Path(sys.executable).with_name("tpchgen-cli")
        started = time.perf_counter()
        subprocess.run([str(tool), "csv", "-s", sf, "-o", str(day)], check=True)
        print(f"generated TPC-H SF {sf} in {time.perf_counter() - started:.1f} s: {day}")
    return data


def _project(root: Path, name: str):
    from starloom.settings import Settings

    project = root / name
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    for folder in ("sources", "sql"):
        shutil.copytree(HERE / "tpch" / folder, project / folder)
    return Settings(
        project_dir=project, warehouse_path=project / ".warehouse", database="tpch", lock_timeout=30
    )


def _contracts(settings) -> dict:
    from starloom.sources import get_source

    return {e.name: e.contract for e in get_source(settings.project_dir, "tpch").entities}


def check_answers(wh, table: str, sf: str) -> dict:
    """Q1 and Q6 on the loaded lineitem against the official answers (money within 0.01)."""
    results = {}
    for name, sql in (("q01", Q1), ("q06", Q6)):
        got = wh.query_rows(sql.format(t=wh.qualified(table)))
        with open(HERE / "answers" / f"sf{sf}-{name}.csv") as fh:
            want = [row for row in csv.reader(fh, delimiter="|")][1:]
        ok = len(got) == len(want)
        for g_row, w_row in zip(got, want):
            for g, w in zip(g_row, w_row):
                try:
                    ok &= abs(Decimal(str(g)) - Decimal(w)) <= Decimal("0.01")
                except ArithmeticError:
                    ok &= str(g) == w
        results[name] = ok
    return results


def run_starloom(settings, data: Path, sf: str) -> dict:
    from starloom import models
    from starloom.ingest import ingest
    from starloom.warehouse import Warehouse

    os.environ["TPCH_DIR"] = str(data)
    wh = Warehouse(settings)
    started = time.perf_counter()
    loads = ingest(wh, "tpch", BATCH)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    builds, tests = models.build(wh)
    models_s = time.perf_counter() - started
    failed = tests[tests.status != "pass"] if len(tests) else tests
    return {
        "rows": int(loads.rows_loaded.sum()),
        "quarantined": int(loads.rows_quarantined.sum()),
        "ingest_s": ingest_s,
        "models_s": models_s,
        "tests": len(tests),
        "tests_failed": len(failed),
        "models": len(builds),
        "answers": check_answers(wh, "raw_tpch__lineitem", sf),
    }


def _create_raw(wh, table: str, contract) -> None:
    from starloom.warehouse import quote_identifier

    cols = ", ".join(f"{quote_identifier(c.name)} {c.clickhouse_type()}" for c in contract.columns)
    wh.command(
        f"CREATE TABLE {wh.qualified('raw_tpch__' + table)} ({cols}) "
        "ENGINE = MergeTree ORDER BY tuple()"
    )


def load_with_file(wh, data: Path, batch: str = BATCH) -> int:
    """INSERT ... SELECT FROM file() per table, with the contracts' column types; rows loaded."""
    contracts = _contracts(wh.settings)
    rows = 0
    with wh.session():
        for table in TABLES:
            _create_raw(wh, table, contracts[table])
            structure = ", ".join(
                f"{c.name} {c.clickhouse_type()}" for c in contracts[table].columns
            )
            wh.command(
                f"INSERT INTO {wh.qualified('raw_tpch__' + table)} SELECT * FROM "
                "file({p:String}, 'CSVWithNames', {s:String})",
                {"p": str(data / f"date={batch}" / f"{table}.csv"), "s": structure},
            )
            rows += wh.count("raw_tpch__" + table)
    return rows


def run_file_baseline(settings, data: Path, sf: str) -> dict:
    """The engine's own limit: INSERT ... SELECT FROM file() per table, same column types."""
    from starloom.warehouse import Warehouse

    wh = Warehouse(settings)
    started = time.perf_counter()
    rows = load_with_file(wh, data)
    return {
        "rows": rows,
        "ingest_s": time.perf_counter() - started,
        "answers": check_answers(wh, "raw_tpch__lineitem", sf),
    }


def run_pandas_baseline(settings, data: Path, sf: str) -> dict:
    """The hand-written way: pandas.read_csv then insert_df, table by table; then the star."""
    from starloom import models
    from starloom.warehouse import Warehouse

    contracts = _contracts(settings)
    wh = Warehouse(settings)
    rows = 0
    started = time.perf_counter()
    with wh.session():
        for table in TABLES:
            contract = contracts[table]
            dates = [c.name for c in contract.columns if c.type == "date"]
            df = pd.read_csv(data / f"date={BATCH}" / f"{table}.csv", parse_dates=dates)
            for c in contract.columns:
                if c.decimal:
                    df[c.name] = df[c.name].map(lambda v: Decimal(str(v)))
            _create_raw(wh, table, contract)
            wh.insert_df("raw_tpch__" + table, df)
            rows += len(df)
            del df
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    models.build(wh)
    return {
        "rows": rows,
        "ingest_s": ingest_s,
        "models_s": time.perf_counter() - started,
        "answers": check_answers(wh, "raw_tpch__lineitem", sf),
    }


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", default="1", help="TPC-H scale factor: 0.01, 0.1, 1, 10 ...")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "output" / "bench")
    parser.add_argument(
        "--peer", choices=["dbt"], help="also run the dbt peer (installed on first use)"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["file", "pandas"], help="baselines to leave out"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = generate(args.sf, args.out / "data")
    runs: dict[str, list[dict]] = {"starloom": [], "file": [], "pandas": [], "dbt": []}
    for rep in range(args.repeat):
        print(f"-- repetition {rep + 1}/{args.repeat}", flush=True)
        runs["starloom"].append(run_starloom(_project(args.out, "starloom"), data, args.sf))
        if "file" not in args.skip:
            runs["file"].append(run_file_baseline(_project(args.out, "file"), data, args.sf))
        if "pandas" not in args.skip:
            runs["pandas"].append(run_pandas_baseline(_project(args.out, "pandas"), data, args.sf))
        if args.peer == "dbt":
            from dbt_peer import run_dbt_peer

            runs["dbt"].append(
                run_dbt_peer(data, BATCH, args.sf, args.out, load_with_file, check_answers)
            )
    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    summary = {
        "sf": args.sf,
        "repeat": args.repeat,
        "peak_rss_mb": round(peak_mb),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "runs": runs,
    }
    lines = [
        f"TPC-H SF {args.sf}, {args.repeat} repetition(s), medians; peak RSS {peak_mb:.0f} MB",
        f"{'stage':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}",
    ]
    stages = [
        ("starloom ingest (contracts)", "starloom", "ingest_s"),
        ("starloom star + tests", "starloom", "models_s"),
        ("file() load (engine limit)", "file", "ingest_s"),
        ("pandas read_csv + insert_df", "pandas", "ingest_s"),
        ("pandas path: star + tests", "pandas", "models_s"),
        ("dbt peer: raw load with file()", "dbt", "ingest_s"),
        ("dbt peer: dbt build", "dbt", "models_s"),
    ]
    for label, who, key in stages:
        seconds, rows = _median(runs[who], key), _median(runs[who], "rows")
        if seconds is not None:
            lines.append(f"{label:<34}{rows:>12,.0f}{seconds:>10.2f}{rows / seconds:>12,.0f}")
    s_in, s_mod = _median(runs["starloom"], "ingest_s"), _median(runs["starloom"], "models_s")
    ratios = {}
    if runs["file"]:
        ratios["ingest_speed_vs_file"] = _median(runs["file"], "ingest_s") / s_in
    if runs["pandas"]:
        pandas_total = _median(runs["pandas"], "ingest_s") + _median(runs["pandas"], "models_s")
        ratios["whole_path_speedup_vs_pandas"] = pandas_total / (s_in + s_mod)
    if runs["dbt"]:
        dbt_total = _median(runs["dbt"], "ingest_s") + _median(runs["dbt"], "models_s")
        ratios["whole_path_speedup_vs_dbt"] = dbt_total / (s_in + s_mod)
    for name, value in ratios.items():
        lines.append(f"{name:<34}{value:>12.2f}x")
    answers = {who: [r["answers"] for r in rs] for who, rs in runs.items()}
    ok = all(all(a.values()) for rs in answers.values() for a in rs)
    lines.append(f"Q1/Q6 against the official answers: {'ok' if ok else 'MISMATCH'} {answers}")
    summary["ratios"] = ratios
    summary["answers_ok"] = ok
    print("\n".join(lines))
    out = args.out / f"results-sf{args.sf}-{summary['at'].replace(':', '')}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"written {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
