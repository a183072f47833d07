"""TPC-H data to a star schema: starloom's path against ClickHouse's own file() load and pandas.

    python benchmarks/bench.py [--sf 1] [--repeat 1] [--out output/bench] [--peer dbt]

Generates TPC-H CSV with tpchgen-cli (once per scale factor), then, on the same files, runs
each path in a process of its own (so that each one's peak RSS is its own) and times:
  starloom     ingest every table through its contract (benchmarks/tpch/sources/tpch.yml,
               `landing: none`: the engine reads and checks the CSV itself), then build
               the star (benchmarks/tpch/sql) with its model tests; then, in the
               same project, the report notebook (benchmarks/tpch/report.py, run with
               papermill), the same ingest and build again with nothing changed (no-op), and
               an increment: a new day folder holding 1% more orders with their lines
  file()       ClickHouse's own INSERT ... SELECT FROM file(..., CSVWithNames) per table
  pandas       pandas.read_csv then clickhouse-connect insert_df per table, then the same star
and checks TPC-H Q1 and Q6 on the loaded lineitem against the official answers (for starloom,
before the increment). Then, in a copy of this repository's demo project, times what a user
waits for at the shell (`--no-commands` leaves it out): the first `starloom run`, the run
again with nothing new, and `starloom sql "SELECT 1"`. Prints medians over the repetitions, the ratios, and the peak RSS of
each path and of the whole run; writes them as JSON under --out.

`--path NAME --result FILE` runs one repetition of one path in this process and writes its
figures to FILE: that is how the run starts each path.
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
import threading
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BATCH = "1998-08-02"  # the day folder the generated files sit in
NEXT_BATCH = "1998-08-03"  # the day folder of the increment (in the starloom project only)
INCREMENT_EVERY = 100  # the increment repeats every 100th order (1%), with new keys
PATHS = ["starloom", "file", "pandas", "dbt"]
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
        project_dir=project,
        warehouse_path=project / ".warehouse",
        database="tpch",
        lock_timeout=30,
        memory_limit_mb=int(os.environ.get("STARLOOM_MEMORY_LIMIT_MB") or 0),
    )


def _batches(settings, data: Path) -> Path:
    """The project's own batch folder: the generated day linked in, room for new days."""
    batches = settings.project_dir / "batches"
    batches.mkdir()
    (batches / f"date={BATCH}").symlink_to(data / f"date={BATCH}", target_is_directory=True)
    return batches


def write_increment(day: Path, new_day: Path, every: int = INCREMENT_EVERY) -> dict[str, int]:
    """Every `every`-th order of `day` with its lines, as new orders in new_day; rows written.

    The order keys are shifted past the largest one, so the orders and lines are new; the
    rest of each line is kept as it was (only the first field, the key, is rewritten).
    """
    picked, shift = [], 0
    with open(day / "orders.csv", "rb") as src:
        header = src.readline()
        for i, line in enumerate(src):
            shift = max(shift, int(line.split(b",", 1)[0]))
            if i % every == 0:
                picked.append(line)
    keys = {int(line.split(b",", 1)[0]) for line in picked}
    new_day.mkdir(parents=True)
    with open(new_day / "orders.csv", "wb") as out:
        out.write(header)
        for line in picked:
            key, rest = line.split(b",", 1)
            out.write(b"%d,%s" % (int(key) + shift, rest))
    lines = 0
    with open(day / "lineitem.csv", "rb") as src, open(new_day / "lineitem.csv", "wb") as out:
        out.write(src.readline())
        for line in src:
            key, rest = line.split(b",", 1)
            if int(key) in keys:
                out.write(b"%d,%s" % (int(key) + shift, rest))
                lines += 1
    return {"orders": len(picked), "lineitem": lines}


def _contracts(settings) -> dict:
    from starloom.project import Project

    return {e.name: e.contract for e in Project(settings).source("tpch").entities}


def check_answers(wh, table: str, sf: str) -> dict:
    """Q1 and Q6 on the loaded lineitem against the official answers (money within 0.01);
    empty for a scale factor whose answers are not kept in benchmarks/answers/."""
    results = {}
    for name, sql in (("q01", Q1), ("q06", Q6)):
        answer = HERE / "answers" / f"sf{sf}-{name}.csv"
        if not answer.exists():
            continue
        got = wh.query_rows(sql.format(t=wh.qualified(table)))
        with open(answer) as fh:
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


def ingest_and_build(wh, run_date: str) -> dict:
    """Ingest the source up to run_date, then build the star with its tests; both timed.

    One job, as a scheduled run would be: one warehouse session for both (its opening is
    counted in the ingest, its closing in the build)."""
    from starloom import models
    from starloom.ingestion.load import ingest

    started = time.perf_counter()
    with wh.session():
        loads = ingest(wh, "tpch", run_date=run_date)
        ingest_s = time.perf_counter() - started
        builds, tests = models.build(wh)
    models_s = time.perf_counter() - started - ingest_s
    failed = tests[tests.status != "pass"] if len(tests) else tests
    return {
        "rows": int(loads.rows_loaded.sum()),
        "quarantined": int(loads.rows_quarantined.sum()),
        "ingest_s": ingest_s,
        "models_s": models_s,
        "seconds": ingest_s + models_s,
        "tests": len(tests),
        "tests_failed": len(failed),
        "models": len(builds),
        "rebuilt": sorted(builds.model[builds["mode"] == "full"]),
        "model_seconds": dict(zip(builds.model, builds.seconds, strict=True)),
        "fact_rows_written": int(builds.set_index("model").rows_written["fct_lineorder"]),
    }


def run_report(settings, out: Path) -> tuple[Path, float]:
    """The report notebook over the star, executed with papermill: the executed notebook and
    the seconds it took (kernel start included; importing papermill is not)."""
    import jupytext
    import papermill

    executed = out / "report.ipynb"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    papermill.execute_notebook(
        jupytext.read(HERE / "tpch" / "report.py"),
        str(executed),
        parameters={
            "project_dir": str(settings.project_dir),
            "warehouse_path": str(settings.warehouse_path),
            "database": settings.database,
        },
        kernel_name="python3",
        progress_bar=False,
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],  # as the pipeline's kernels
        cwd=str(settings.project_dir),
    )
    return executed, time.perf_counter() - started


def run_starloom(settings, data: Path, sf: str) -> dict:
    """Full run, answers, report notebook, no-op rebuild, then the 1% increment."""
    from starloom.warehouse import Warehouse

    batches = _batches(settings, data)
    os.environ["TPCH_DIR"] = str(batches)
    wh = Warehouse(settings)
    result = ingest_and_build(wh, BATCH)
    result["answers"] = check_answers(wh, "raw_tpch__lineitem", sf)
    result["q_rows"] = query_rows(wh, "raw_tpch__lineitem")
    report, result["report_s"] = run_report(settings, settings.project_dir / "output")
    result["report"] = str(report)
    noop = ingest_and_build(wh, BATCH)
    result["increment_generated"] = write_increment(
        data / f"date={BATCH}", batches / f"date={NEXT_BATCH}"
    )
    increment = ingest_and_build(wh, NEXT_BATCH)
    result |= {f"noop_{k}": v for k, v in noop.items()}
    result |= {f"increment_{k}": v for k, v in increment.items()}
    result["fact_rows"] = wh.count("fct_lineorder")
    result["lineitem_rows"] = wh.count("raw_tpch__lineitem")
    return result


def query_rows(wh, table: str) -> dict[str, list[list[str]]]:
    """Q1 and Q6 on the loaded lineitem, as text: where no official answers are kept (SF 10),
    each path's are compared with those of the engine's own file() load of the same files."""
    return {
        name: [[str(v) for v in row] for row in wh.query_rows(sql.format(t=wh.qualified(table)))]
        for name, sql in (("q01", Q1), ("q06", Q6))
    }


def _create_raw(wh, table: str, contract) -> None:
    """The raw table: the contract's columns and, as starloom's raw tables, the batch day."""
    from starloom.warehouse import quote_identifier

    cols = ", ".join(f"{quote_identifier(c.name)} {c.clickhouse_type()}" for c in contract.columns)
    wh.command(
        f"CREATE TABLE {wh.qualified('raw_tpch__' + table)} ({cols}, "
        f"`_partition` Date32 DEFAULT '{BATCH}') ENGINE = MergeTree ORDER BY tuple()"
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
            names = ", ".join(c.name for c in contracts[table].columns)
            wh.command(
                f"INSERT INTO {wh.qualified('raw_tpch__' + table)} ({names}) SELECT * FROM "
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
        "q_rows": query_rows(wh, "raw_tpch__lineitem"),
    }


def run_pandas_baseline(settings, data: Path, sf: str) -> dict:
    """The hand-written way: pandas.read_csv then insert_df, table by table; then the star."""
    import pandas as pd

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
        "q_rows": query_rows(wh, "raw_tpch__lineitem"),
    }


def _status_kb(pid: int | str) -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a process, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            fields[line.split(":")[0]] = int(line.split()[1])
    return fields


class ChildPeaks(threading.Thread):
    """The peak RSS (VmHWM) of each process this one starts, sampled while the path runs,
    and the largest RSS of this process and those together at one sample (`together_kb`).

    getrusage's RUSAGE_CHILDREN cannot tell it: a child forked from a large process inherits
    that process's high-water mark. After exec a process has its own, which /proc shows; a
    child not yet exec'd (same command line as this process) is skipped. The sum of the
    peaks is an upper bound (they may come at different times); `together_kb` is what was
    seen at once, every `every` seconds (a shorter spike can fall between two samples).
    """

    def __init__(self, every: float = 0.2):
        super().__init__(daemon=True)
        self.every, self.peaks, self.done = every, {}, threading.Event()
        self.own = Path("/proc/self/cmdline").read_bytes()
        self.together_kb = 0

    def run(self) -> None:
        while not self.done.wait(self.every):
            now = _status_kb("self").get("VmRSS", 0)
            for pid in _descendants(os.getpid()):
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == self.own:
                        continue
                    status = _status_kb(pid)
                except OSError:
                    continue
                now += status.get("VmRSS", 0)
                self.peaks[pid] = max(self.peaks.get(pid, 0), status.get("VmHWM", 0))
            self.together_kb = max(self.together_kb, now)

    def stop(self) -> float:
        """Stop sampling; the sum of the children's peaks in MB."""
        self.done.set()
        self.join()
        return sum(self.peaks.values()) / 1024


def _descendants(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        children = [p for p, ppid in parents.items() if ppid == pid]
        found += children
        todo += children
    return found


def own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_path(who: str, out: Path, sf: str) -> dict:
    """One repetition of one path, in this process, with its peak RSS: this process's own
    plus the sum of the peaks of the processes it starts (notebook kernel, dbt, endpoint)."""
    data = out / "data" / f"sf{sf}"
    os.environ["TPCH_DIR"] = str(data)  # the contracts' paths (starloom's own: its batches)
    children = ChildPeaks()
    children.start()
    if who == "starloom":
        result = run_starloom(_project(out, "starloom"), data, sf)
    elif who == "file":
        result = run_file_baseline(_project(out, "file"), data, sf)
    elif who == "pandas":
        result = run_pandas_baseline(_project(out, "pandas"), data, sf)
    else:
        from dbt_peer import run_dbt_peer

        result = run_dbt_peer(data, BATCH, sf, out, load_with_file, check_answers)
    own, child = own_peak_rss_mb(), children.stop()
    return result | {
        "peak_rss_mb": own + child,
        "peak_rss_own_mb": own,
        "peak_rss_children_mb": child,
        "peak_rss_together_mb": children.together_kb / 1024,
    }


def in_subprocess(who: str, out: Path, sf: str) -> dict:
    """Run one path in a fresh Python process (its own peak RSS); its figures."""
    result = out / f"result-{who}.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--path", who, "--sf", sf, "--out", str(out)]
    subprocess.run([*command, "--result", str(result)], check=True)
    return json.loads(result.read_text())


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


STAGES = [  # label, path, seconds, rows
    ("starloom ingest (contracts)", "starloom", "ingest_s", "rows"),
    ("starloom star + tests", "starloom", "models_s", "rows"),
    ("starloom report notebook", "starloom", "report_s", None),
    ("starloom no-op rebuild", "starloom", "noop_seconds", "noop_rows"),
    ("starloom +1% increment", "starloom", "increment_seconds", "increment_rows"),
    ("file() load (engine limit)", "file", "ingest_s", "rows"),
    ("pandas read_csv + insert_df", "pandas", "ingest_s", "rows"),
    ("pandas path: star + tests", "pandas", "models_s", "rows"),
    ("dbt peer: raw load with file()", "dbt", "ingest_s", "rows"),
    ("dbt peer: dbt build", "dbt", "models_s", "rows"),
]


def ratios_of(runs: dict[str, list[dict]]) -> dict[str, float]:
    s_in, s_mod = _median(runs["starloom"], "ingest_s"), _median(runs["starloom"], "models_s")
    full = s_in + s_mod
    ratios = {
        "increment_vs_full": _median(runs["starloom"], "increment_seconds") / full,
        "noop_vs_full": _median(runs["starloom"], "noop_seconds") / full,
    }
    if runs["file"]:
        ratios["ingest_speed_vs_file"] = _median(runs["file"], "ingest_s") / s_in
    if runs["pandas"]:
        pandas_total = _median(runs["pandas"], "ingest_s") + _median(runs["pandas"], "models_s")
        ratios["whole_path_speedup_vs_pandas"] = pandas_total / full
    if runs["dbt"]:
        dbt_total = _median(runs["dbt"], "ingest_s") + _median(runs["dbt"], "models_s")
        ratios["whole_path_speedup_vs_dbt"] = dbt_total / full
    return ratios


DEMO_FILES = ["pipeline.yaml", "env.yaml", "sources", "sql", "notebooks"]


def run_commands(out: Path, repeat: int = 3) -> dict:
    """What a user waits for at the shell, each command a process of its own as a user
    starts it, in a copy of this repository's demo project: its first `starloom run`
    (cold: the packages installed, no warehouse, no data yet), `starloom run` again with
    nothing new (median of `repeat`), and `starloom sql "SELECT 1"` there (median)."""
    demo = out / "demo"
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir(parents=True)
    for name in DEMO_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, demo / name)
    env = {**os.environ, "STARLOOM_PROJECT_DIR": str(demo)}
    starloom = str(Path(sys.executable).with_name("starloom"))

    def timed(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([starloom, *args], cwd=demo, env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    cold = timed("run")
    return {
        "cold_run_s": cold,
        "noop_run_s": statistics.median(timed("run") for _ in range(repeat)),
        "sql_select_1_s": statistics.median(timed("sql", "SELECT 1") for _ in range(repeat)),
    }


def table(runs: dict[str, list[dict]], peaks: dict[str, float], ratios: dict) -> list[str]:
    lines = [f"{'stage':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'path peak MB':>14}"]
    for label, who, key, rows_key in STAGES:
        seconds = _median(runs[who], key)
        if seconds is None:
            continue
        rows = _median(runs[who], rows_key) if rows_key else None
        shown = "" if rows is None else f"{rows:,.0f}"
        speed = f"{rows / seconds:,.0f}" if rows else ""
        lines.append(f"{label:<34}{shown:>12}{seconds:>10.2f}{speed:>12}{peaks[who]:>14,.0f}")
    starloom = runs["starloom"][-1]
    lines.append(
        f"no-op: {starloom['noop_rows']} rows loaded, fct_lineorder appended "
        f"{starloom['noop_fact_rows_written']}, rebuilt in full: "
        f"{', '.join(starloom['noop_rebuilt']) or 'nothing'}"
    )
    lines.append(
        f"increment: {starloom['increment_generated']} new rows generated, "
        f"{starloom['increment_rows']} loaded, fct_lineorder appended "
        f"{starloom['increment_fact_rows_written']}"
    )
    lines.append(
        "starloom peak RSS: this process {:,.0f} MB, the processes it started (report "
        "kernel) {:,.0f} MB; at once, sampled every 0.2 s: {:,.0f} MB".format(
            *(
                max(r.get(k, 0) for r in runs["starloom"])
                for k in ("peak_rss_own_mb", "peak_rss_children_mb", "peak_rss_together_mb")
            )
        )
    )
    lines += [f"{name:<34}{value:>12.3f}x" for name, value in ratios.items()]
    return lines


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
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="the embedded engine's own memory limit in every path (STARLOOM_MEMORY_LIMIT_MB)",
    )
    parser.add_argument(
        "--no-commands",
        action="store_true",
        help="leave out the demo's cold run, no-op run and `starloom sql` timings",
    )
    parser.add_argument("--path", choices=PATHS, help="run one path here (see the docstring)")
    parser.add_argument("--result", type=Path, help="with --path: where its figures go")
    args = parser.parse_args(argv)
    if args.memory_limit_mb is not None:  # the paths' processes inherit it
        os.environ["STARLOOM_MEMORY_LIMIT_MB"] = str(args.memory_limit_mb)
    if args.path:
        result = run_path(args.path, args.out, args.sf)
        args.result.write_text(json.dumps(result, default=str))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    generate(args.sf, args.out / "data")
    paths = ["starloom"] + [p for p in ("file", "pandas") if p not in args.skip]
    paths += ["dbt"] if args.peer == "dbt" else []
    runs: dict[str, list[dict]] = {who: [] for who in PATHS}
    for rep in range(args.repeat):
        print(f"-- repetition {rep + 1}/{args.repeat}", flush=True)
        for who in paths:
            runs[who].append(in_subprocess(who, args.out, args.sf))
    commands = {} if args.no_commands else run_commands(args.out)
    # this process and the largest process it waited for (a path, or one that path started)
    peak_mb = own_peak_rss_mb() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peaks = {who: max((r["peak_rss_mb"] for r in rs), default=0.0) for who, rs in runs.items()}
    ratios = ratios_of(runs)
    answers = {who: [r["answers"] for r in rs] for who, rs in runs.items()}
    official = any(a for rs in answers.values() for a in rs)
    if official:
        ok = all(all(a.values()) for rs in answers.values() for a in rs)
        checked = f"Q1/Q6 against the official answers: {'ok' if ok else 'MISMATCH'} {answers}"
    elif runs["file"]:  # no official answers: the engine's own load of the same files is
        reference = runs["file"][0]["q_rows"]
        same = {
            who: [r["q_rows"] == reference for r in rs if "q_rows" in r]
            for who, rs in runs.items()
            if who != "file" and rs
        }
        ok = all(all(v) for v in same.values())
        checked = (
            f"Q1/Q6 against the engine's own file() load (no official answers for SF "
            f"{args.sf}): {'ok' if ok else 'MISMATCH'} {same}"
        )
    else:
        ok, checked = True, f"Q1/Q6: not checked, no official answers kept for SF {args.sf}"
    summary = {
        "sf": args.sf,
        "repeat": args.repeat,
        "memory_limit_mb": os.environ.get("STARLOOM_MEMORY_LIMIT_MB") or None,
        "peak_rss_mb": round(peak_mb),
        "peak_rss_mb_by_path": {who: round(mb) for who, mb in peaks.items() if mb},
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "runs": runs,
        "ratios": ratios,
        "answers_ok": ok,
        "commands": commands,
    }
    lines = [
        f"TPC-H SF {args.sf}, {args.repeat} repetition(s), medians; "
        f"peak RSS of the whole run {peak_mb:.0f} MB; engine memory limit "
        f"{os.environ.get('STARLOOM_MEMORY_LIMIT_MB') or 'none'} MiB",
        *table(runs, peaks, ratios),
        checked,
    ]
    if commands:
        lines.append(
            "the demo, each command a new process: first `starloom run` {cold_run_s:.1f} s, "
            'again with nothing new {noop_run_s:.2f} s, `starloom sql "SELECT 1"` '
            "{sql_select_1_s:.2f} s".format(**commands)
        )
    print("\n".join(lines))
    out = args.out / f"results-sf{args.sf}-{summary['at'].replace(':', '')}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"written {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
