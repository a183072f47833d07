"""Incremental run for one new day against a full refresh of the same models, on the demo.

    .venv/bin/python benchmarks/incremental_vs_full.py --size 30 --days 90

In a throwaway copy of the project (embedded warehouse), the demo shop is simulated up to
day D-1, ingested and modelled in full; then day D arrives (new orders, status changes,
moved customers, new prices), is ingested, and the snapshots and dimensions are brought up
to date. Then, for the fact models (`--models`), it times `models.build(..., run_date=D)`
(incremental: the orders created or changed since the lookback start are upserted) and
`models.build(..., run_date=D, full_refresh=True)`, each `--repeat` times (re-running a day
is idempotent), checks that both give the same table (row count and checksum), and prints
the median times and their ratio. Only the shop database is simulated (the clickstream is
left empty: it does not feed the models measured). Times on a shared machine are noisy:
compare the ratio, measured within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["pipeline.yaml", "env.yaml", "sources", "sql"]


def write_shop(shop, path: Path) -> dict[str, int]:
    """The simulated shop's tables as they stand, written to the SQLite file the source reads."""
    from starloom.demo import write_tables

    frames = shop.frames()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        write_tables(engine, frames)
    finally:
        engine.dispose()
    return {name: len(df) for name, df in frames.items()}


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=30, help="demo size (1 = 1,000 orders/day)")
    parser.add_argument("--days", type=int, default=90, help="days of history before day D")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each kind")
    parser.add_argument("--models", nargs="+", default=["fct_orders"], help="models to time")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, help="build the project copy here and keep it")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="starloom-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    os.environ["STARLOOM_PROJECT_DIR"] = str(work)
    for var in ("STARLOOM_CLICKHOUSE_URL", "STARLOOM_WAREHOUSE_PATH", "STARLOOM_CLUSTER"):
        os.environ.pop(var, None)

    from starloom import models
    from starloom.demo import _Shop
    from starloom.ingestion.load import ensure_raw_table, ingest
    from starloom.models import build_state
    from starloom.project import Project
    from starloom.settings import load_settings
    from starloom.warehouse import Warehouse

    wh = Warehouse(load_settings(work))
    start = dt.date(2024, 1, 1)
    day_d = start + dt.timedelta(days=args.days)
    shop_db = work / "data" / "demo" / "shop.db"
    print(f"project copy: {work}\ndemo size {args.size}, history {start}..{day_d}", flush=True)

    try:
        shop = _Shop(start, args.size, np.random.default_rng([args.seed, start.toordinal(), 3]))
        day = start
        while day < day_d:
            shop.step(day, np.random.default_rng([args.seed, day.toordinal(), 1]))
            day += dt.timedelta(days=1)
        t = timed(lambda: print("  day D-1 shop:", write_shop(shop, shop_db), flush=True))
        print(f"  simulated and written in {t:.1f} s", flush=True)
        with wh.session():
            ensure_raw_table(wh, Project.load(work).source("events").entity("events"))
        before = day_d - dt.timedelta(days=1)
        t = timed(lambda: ingest(wh, "shop", run_date=before))
        print(f"  ingested day D-1 in {t:.1f} s", flush=True)
        t = timed(lambda: models.build(wh, None, run_date=before))
        print(f"  built every model for D-1 (full) in {t:.1f} s", flush=True)

        shop.step(day_d, np.random.default_rng([args.seed, day_d.toordinal(), 1]))
        counts = write_shop(shop, shop_db)
        print("  day D shop:", counts, flush=True)
        t = timed(lambda: ingest(wh, "shop", run_date=day_d))
        print(f"  ingested day D in {t:.1f} s", flush=True)
        upstream = ["staging", "snapshots", "dim_customers", "dim_products", "dim_dates"]
        builds, _ = models.build(wh, upstream, run_date=day_d)
        print(builds[["model", "mode", "rows_written", "rows", "seconds"]].to_string(index=False))

        def checksums():
            return {
                m: wh.query_rows(f"SELECT count(), sum(cityHash64(*)) FROM {wh.qualified(m)}")[0]
                for m in args.models
            }

        incremental, full = [], []
        for _ in range(args.repeat):
            build_state.forget(wh, args.models)  # else the inputs are unchanged: skipped
            builds, _ = models.build(wh, args.models, run_date=day_d)
            assert set(builds["mode"]) == {"incremental"}, builds
            incremental.append(builds.seconds.sum())
            after_incremental = checksums()
            written = int(builds.rows_written.sum())
            builds, _ = models.build(wh, args.models, run_date=day_d, full_refresh=True)
            full.append(builds.seconds.sum())
            after_full = checksums()
            if after_incremental != after_full:
                print(f"MISMATCH: incremental {after_incremental} != full {after_full}")
                return 1
        rows = sum(c[0] for c in after_full.values())
        inc, ful = statistics.median(incremental), statistics.median(full)
        print(
            f"\nmodels: {', '.join(args.models)}; rows: {rows:,}; rows written by the "
            f"incremental run: {written:,}"
        )
        print(f"incremental run (day D):  median {inc:.2f} s  {[round(x, 2) for x in incremental]}")
        print(f"full refresh   (day D):  median {ful:.2f} s  {[round(x, 2) for x in full]}")
        print(f"ratio incremental / full: {inc / ful:.1%}  (identical tables after each)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
