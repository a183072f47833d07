"""Fault trials ("soak"): SIGKILL an ingest or a model build at a random moment, run it
again, and check that the warehouse ends exactly as an unkilled run leaves it.

    python benchmarks/soak.py [--ingest 20] [--builds 10] [--seed 1] [--workdir DIR]
                              [--rows 300000] [--sales-rows 2000000]

Why: a load builds its partitions in a table aside (`_starloom_load_*`) and swaps them in
with REPLACE PARTITION, and a table model is built as `<name>__new` and swapped in with
EXCHANGE TABLES, so that a process killed at any moment leaves the previous state or the
new one, never a mix, and a rerun finishes the work. tests/integration/test_ingest_kill.py
kills a load at three chosen moments; these trials kill at random moments, many times,
with data large enough for a load or a build to take seconds.

Ingest trials, half on each CSV path: `python` (a files source without `landing`: read by
Dask into landing Parquet) and `engine` (`landing: none`: each clean file read by the
embedded engine itself, a file with a broken row by Python). The feed is three day folders
of three CSV files (`--rows` rows in all), made by a seeded generator in two versions, A
and B, that share the first day: per day, the second file repeats a few keys of the first
and the third holds rows that break the contract. A trial starts from a fresh project (a
quarter of the time) or from the project of the previous trial with the feed switched to
the other version, starts a load in a child process, SIGKILLs it after a delay drawn
uniformly between 0 and the duration of an unkilled load of the same kind, then loads again
to completion and checks:
- as the kill left it, each day of the raw table is the previous load's or the new one's
  (a day being replaced when the kill came may be either, never a mix of both);
- after the rerun, the raw table's row count and checksum (every contract column, the
  partition, file and line) equal those of an unkilled load of that version;
- no table aside (`_starloom_load_*`) is left;
- the rerun's rows read = rows loaded + rows quarantined;
- the quarantine holds exactly the broken and repeated rows the generator made (by file
  and line), with the reasons and records of an unkilled load;
- one more load finds nothing to do (the manifest records every file).

Build trials: six models over a raw table of `--sales-rows` rows (`raw_t__sales`, made in
the warehouse in two versions): three table models (a GROUP BY, a join with a window
function, a top 100), a view, an incremental `replace_partitions` model with a partition a
day, and a table reading the view, the top 100 and the incremental model. A trial switches
the raw table to the other version (or starts afresh, a quarter of the time), starts
`models.build` in a child process, SIGKILLs it at a random moment within an unkilled
build's duration, and checks that each table is still exactly the previous build's or
already exactly the new one's (for the incremental model: each partition), that no table
is new while a table it reads is not, then builds again and checks that every model
equals an unkilled build's and no `__new` table is left.

Unkilled reference loads and builds come first: each version is loaded fresh and on top of
the other, and both must agree (the same holds for the two CSV paths). The loads and
builds run in child processes (this script with `--child`), so this process never opens
the warehouse. Prints a line per trial and a summary per kind; exits 1 if anything is not
clean, keeping the project of each such trial as the kill left it (`killed-*` under the
work folder), to reproduce: run the load or build on it again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's starloom, here and in the children

VERSIONS = ("A", "B")
FRESH_SHARE = 0.25  # the share of trials that start from an empty project
CHILD_TIMEOUT = 600  # seconds an unkilled child may take

# -- the feed (ingest trials) ---------------------------------------------------------------
DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")
FILES_PER_DAY = 3
INGEST_RUN_DATE = DAYS[-1]
STATUSES = ("new", "done", "void")
COLUMNS = {
    "item_id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "amount": {"type": "decimal(10,2)", "min": 0},
    "status": {"type": "string", "nullable": False, "accepted_values": list(STATUSES)},
    "sold_on": {"type": "date"},
    "version": {"type": "int64"},
}
HEADER = ",".join(COLUMNS) + "\n"
BROKEN = (  # rows that break the contract, by the Python path's checks and the engine's
    "x{id},item {id},1.00,new,{day},{v}\n",  # a key that is not an integer
    ",item {id},1.00,done,{day},{v}\n",  # no key
    "{id},item {id},1.00,lost,{day},{v}\n",  # a status not accepted
    "{id},item {id},-4.50,new,{day},{v}\n",  # below the minimum
    "{id},item {id},1.005,void,{day},{v}\n",  # more decimals than the type has
    "{id},item {id},1.00,new,2024-02-30,{v}\n",  # a day that does not exist
    "{id},item {id}\n",  # too few fields
)


@dataclass
class Feed:
    """One version of the feed: its files, and the (file, line) of each row it quarantines."""

    files: dict[str, bytes] = field(default_factory=dict)  # path in the project -> content
    bad: set[tuple[str, int]] = field(default_factory=set)
    rows: int = 0


def make_feed(seed: int, version: str, rows: int) -> Feed:
    """The feed's files of `version`: the first day is the same in every version."""
    feed = Feed()
    per_file = max(100, rows // (len(DAYS) * FILES_PER_DAY))
    for d, day in enumerate(DAYS):
        v = VERSIONS[0] if d == 0 else version
        first_ids: list[int] = []
        for f in range(FILES_PER_DAY):
            rng = random.Random(f"{seed}/{v}/{day}/{f}")
            base = (d + 1) * 10_000_000 + f * 1_000_000
            n = per_file + rng.randint(-per_file // 20, per_file // 20)
            vno = VERSIONS.index(v) + 1
            lines = [_row(rng, base + i, day, vno) for i in range(n)]
            if f == 0:
                first_ids = [base + i for i in range(n)]
            extra = []
            if f == 1:  # keys of the day's first file again: quarantined as repeated
                extra = [_row(rng, k, day, vno) for k in rng.sample(first_ids, rng.randint(3, 12))]
            if f == 2:  # rows that break the contract
                extra = [
                    rng.choice(BROKEN).format(id=base + n + k, day=day, v=vno)
                    for k in range(rng.randint(5, 15))
                ]
            at = sorted(rng.sample(range(n + len(extra)), len(extra)))
            for pos, line in zip(at, extra):
                lines.insert(pos, line)
            rel = f"data/feed/date={day}/part-{f}.csv"
            feed.files[rel] = (HEADER + "".join(lines)).encode()
            feed.bad |= {(rel, pos + 2) for pos in at}  # the header is line 1
            feed.rows += len(lines)
    return feed


def _row(rng: random.Random, item_id: int, day: str, vno: int) -> str:
    name = f'"item, {item_id} ""{vno}"""' if rng.random() < 0.02 else f"item {item_id}"
    amount = f"{rng.randrange(0, 10_000_000) / 100:.2f}"
    return f"{item_id},{name},{amount},{rng.choice(STATUSES)},{day},{vno}\n"


def declare_feed(project: Path, path: str) -> None:
    """sources/feed.yml: the feed's one table `items`, read by Python or by the engine."""
    spec = {"source": "feed", "kind": "files", "format": "csv"}
    if path == "engine":
        spec["landing"] = "none"
    spec["tables"] = {
        "items": {"path": "data/feed/date=*/*.csv", "primary_key": ["item_id"], "columns": COLUMNS}
    }
    (project / "sources").mkdir(parents=True, exist_ok=True)
    (project / "sources" / "feed.yml").write_text(yaml.safe_dump(spec, sort_keys=False))


def put_feed(project: Path, feed: Feed) -> None:
    """The feed's files in the project; a file already as wanted is left untouched."""
    for rel, data in feed.files.items():
        path = project / rel
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


# -- the models (build trials) --------------------------------------------------------------
BUILD_RUN_DATE = "2024-01-30"
SALES_DAYS = 30
TABLES = ("customer_totals", "sales_ranked", "top_customers", "summary")  # table models
INCREMENTAL = "daily"  # replace_partitions, a partition a day
READS = {  # the tables (not views) each model reads: built before it
    "customer_totals": (),
    "sales_ranked": ("customer_totals",),
    "top_customers": ("customer_totals",),
    "daily": (),
    "summary": ("top_customers", "daily"),
}
MODELS = {
    "customer_totals": """/* ---
description: Orders and revenue per customer.
materialization: table
order_by: [customer_id]
columns:
  customer_id: {tests: [unique, not_null]}
--- */
SELECT customer_id, count() AS orders, sum(amount) AS revenue,
       min(day) AS first_day, max(day) AS last_day
FROM {{ source('t', 'sales') }}
GROUP BY customer_id
""",
    "sales_ranked": """/* ---
description: Each sale with its customer's order count and its rank among them.
materialization: table
order_by: [customer_id, id]
columns:
  id: {tests: [unique]}
  customer_id: {tests: [{relationships: {to: customer_totals, field: customer_id}}]}
--- */
SELECT s.id AS id, s.customer_id AS customer_id, s.amount AS amount, s.day AS day,
       t.orders AS customer_orders,
       row_number() OVER (PARTITION BY s.customer_id ORDER BY s.amount DESC, s.id) AS rank
FROM {{ source('t', 'sales') }} AS s
INNER JOIN {{ ref('customer_totals') }} AS t ON t.customer_id = s.customer_id
""",
    "top_customers": """/* ---
description: The 100 customers with the most revenue.
materialization: table
order_by: [customer_id]
--- */
SELECT customer_id, revenue FROM {{ ref('customer_totals') }}
ORDER BY revenue DESC, customer_id LIMIT 100
""",
    "large_sales": """/* ---
description: Sales of 900 or more, as a view.
materialization: view
--- */
SELECT * FROM {{ source('t', 'sales') }} WHERE amount >= 900
""",
    "daily": """/* ---
description: Orders, revenue and customers per day.
materialization: incremental
incremental_strategy: replace_partitions
partition_by: toYYYYMMDD(day)
order_by: [day]
lookback_days: 40
--- */
SELECT day, count() AS orders, sum(amount) AS revenue, uniqExact(customer_id) AS customers
FROM {{ source('t', 'sales') }}
WHERE day <= {run_date:Date}
{% if is_incremental() %}AND day >= {lookback_start:Date}{% endif %}
GROUP BY day
""",
    "summary": """/* ---
description: One row of totals over the other models.
materialization: table
--- */
SELECT (SELECT count() FROM {{ ref('large_sales') }}) AS large_sales,
       (SELECT sum(revenue) FROM {{ ref('daily') }}) AS revenue,
       (SELECT sum(revenue) FROM {{ ref('top_customers') }}) AS top_revenue
""",
}


def declare_models(project: Path) -> None:
    folder = project / "sql" / "marts"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in MODELS.items():
        (folder / f"{name}.sql").write_text(text)


# -- child processes ------------------------------------------------------------------------
@dataclass
class Run:
    """A child process run: whether the kill ended it, its seconds from `ready` to its end."""

    returncode: int
    seconds: float
    output: str  # its stdout after `ready` (the JSON of a check)
    log: str  # its stderr

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def failure(self) -> str:
        tail = [line for line in self.log.strip().splitlines() if line.strip()][-3:]
        return f"exit {self.returncode}: " + (" | ".join(tail) or "no message")


def run_child(mode: str, project: Path, *args: str, kill_after: float | None = None) -> Run:
    """This script as a child in `mode`; SIGKILLed `kill_after` seconds after it says ready
    (it says so once its imports are done, just before the work to kill starts)."""
    log_path = project.parent / f"{project.name}.log"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, str(project), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        ready = proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        if ready and kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        try:
            output, _ = proc.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            print(f"  (killed a child stuck for {CHILD_TIMEOUT} s: {mode} {project})")
        seconds = time.monotonic() - started
        log.seek(0)
        text = log.read()
    log_path.unlink()
    if not ready:
        return Run(proc.returncode or 1, 0.0, "", text)
    return Run(proc.returncode, seconds, output, text)


def checked(run: Run) -> dict:
    """The JSON a check child printed (it fails with the child's message if there is none)."""
    try:
        return json.loads(run.output)
    except ValueError:
        raise RuntimeError(f"a check failed: {run.failure()}") from None


# -- the children's side (they open the warehouse; the parent never does) -------------------
def child_main(mode: str, project: Path, args: list[str]) -> int:
    from starloom.settings import Settings
    from starloom.warehouse import Warehouse

    wh = Warehouse(Settings(project_dir=project, warehouse_path=project / ".warehouse"))
    if mode in ("ingest", "build"):
        from starloom import models
        from starloom.ingestion.load import ingest

        print("ready", flush=True)
        os.dup2(2, 1)  # anything else it prints goes to its log
        if mode == "ingest":
            ingest(wh, "feed", run_date=INGEST_RUN_DATE)
        else:
            models.build(wh, run_date=BUILD_RUN_DATE, sql_dir=project / "sql")
        return 0
    print("ready", flush=True)
    if mode == "check-ingest":
        result = check_ingest(wh)
    elif mode == "check-build":
        result = check_build(wh, project)
    elif mode == "sales":
        result = put_sales(wh, *args)
    else:
        raise SystemExit(f"unknown child mode {mode}")
    print(json.dumps(result, default=str))
    return 0


def check_ingest(wh) -> dict:
    """Load again to completion, then what the checks compare."""
    from starloom.ingestion.load import ingest

    def load() -> dict:
        row = ingest(wh, "feed", run_date=INGEST_RUN_DATE).iloc[0]
        keys = ("rows_read", "rows_loaded", "rows_quarantined", "rows_engine")
        return {k: int(row[k]) for k in keys}

    killed = raw_days(wh)
    try:
        rerun = load()
    except Exception as exc:  # the rerun must succeed: its error is the finding
        return {"killed": killed, "error": f"{type(exc).__name__}: {exc}"}
    days = raw_days(wh)
    return {
        "killed": killed,
        "rerun": rerun,
        "days": days,
        "raw": [sum(n for n, _ in days.values()), sum(c for _, c in days.values()) % 2**64],
        "quarantine": wh.query_rows(
            "SELECT count(), sum(cityHash64(partition, file, line, reason, record)) "
            "FROM starloom_quarantine WHERE source = 'feed' AND entity = 'items'"
        )[0],
        "bad": wh.query_rows(
            "SELECT file, line FROM starloom_quarantine WHERE source = 'feed' AND entity = 'items'"
        ),
        "asides": _tables(wh, "startsWith(name, '_starloom_load_')"),
        "engine": wh.scalar(  # rows the engine itself read, in the last load that read any
            "SELECT rows_engine FROM starloom_loads WHERE rows_read > 0 "
            "ORDER BY started_at DESC LIMIT 1"
        ),
        "again": load(),
    }


def raw_days(wh) -> dict[str, list]:
    """{day: [rows, checksum]} of the raw table: every contract column, partition, file, line."""
    if not wh.table_exists("raw_feed__items"):
        return {}
    columns = ", ".join([*COLUMNS, "_partition", "_source_file", "_source_line"])
    return {
        str(day): [n, s]
        for day, n, s in wh.query_rows(
            f"SELECT _partition, count(), sum(cityHash64({columns})) FROM raw_feed__items "
            "GROUP BY 1"
        )
    }


def _tables(wh, condition: str) -> list[str]:
    return [
        name
        for (name,) in wh.query_rows(
            f"SELECT name FROM system.tables WHERE database = {{d:String}} AND {condition}",
            {"d": wh.database},
        )
    ]


def put_sales(wh, version: str, seed: str, rows: str) -> dict:
    """raw_t__sales as `version` makes it: `rows` sales (more in B) over SALES_DAYS days."""
    v = VERSIONS.index(version) + 1
    wh.command(
        "CREATE TABLE IF NOT EXISTS raw_t__sales (id Int64, customer_id Int64, "
        "amount Decimal(12, 2), day Date) ENGINE = MergeTree ORDER BY id"
    )
    wh.command("TRUNCATE TABLE raw_t__sales")
    wh.command(
        "INSERT INTO raw_t__sales SELECT number, cityHash64(number, {s:UInt64}, {v:UInt8}, 1) "
        "% 50000, CAST(cityHash64(number, {s:UInt64}, {v:UInt8}, 2) % 100000 AS Decimal(12, 2))"
        " / 100, toDate('2024-01-01') + cityHash64(number, {s:UInt64}, {v:UInt8}, 3) % {d:UInt8}"
        " FROM numbers({n:UInt64})",
        {"s": int(seed), "v": v, "n": int(rows) + 1000 * v, "d": SALES_DAYS},
    )
    return {"rows": wh.count("raw_t__sales")}


def model_state(wh) -> dict:
    """Each table model's (rows, checksum); the incremental model's per partition."""
    state: dict = {}
    present = set(_tables(wh, "engine != 'View'"))
    for name in TABLES:
        if name in present:
            state[name] = list(wh.query_rows(f"SELECT count(), sum(cityHash64(*)) FROM {name}")[0])
    if INCREMENTAL in present:
        state[INCREMENTAL] = {
            pid: [n, s]
            for pid, n, s in wh.query_rows(
                f"SELECT _partition_id, count(), sum(cityHash64(*)) FROM {INCREMENTAL} GROUP BY 1"
            )
        }
    return state


def check_build(wh, project: Path) -> dict:
    """The models as the kill left them, then built again to completion."""
    from starloom import models

    before = model_state(wh)
    leftover = _tables(wh, "endsWith(name, '__new')")
    marked = _tables(wh, "endsWith(name, '__moving')")  # a move of partitions was cut off
    try:
        models.build(wh, run_date=BUILD_RUN_DATE, sql_dir=project / "sql")
    except Exception as exc:
        return {"before": before, "leftover": leftover, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "before": before,
        "leftover": leftover,
        "marked": marked,
        "after": model_state(wh),
        "asides": _tables(wh, "endsWith(name, '__new')"),
    }


# -- trials ---------------------------------------------------------------------------------
@dataclass
class Tally:
    trials: int = 0
    clean: int = 0
    killed: int = 0
    seconds: float = 0.0

    def add(self, run: Run, problems: list[str], copy: Path, started: float) -> str:
        """Count a trial (its copy of the killed project is dropped if it is clean)."""
        if not problems:
            shutil.rmtree(copy)
        self.trials += 1
        self.clean += not problems
        self.killed += run.killed
        self.seconds += time.monotonic() - started
        return "killed" if run.killed else "ended first"


@dataclass
class Slot:
    """The project a kind of trial works in, and the version its warehouse holds (None:
    unknown, after a trial that was not clean: the next one starts afresh)."""

    work: Path
    label: str
    project: Path | None = None
    holds: str | None = None

    def fresh(self, trial: int) -> Path:
        if self.project:
            shutil.rmtree(self.project, ignore_errors=True)
        self.project = self.work / f"{self.label}-{trial:03d}"
        self.project.mkdir(parents=True)
        self.holds = None
        return self.project


def other(version: str) -> str:
    return VERSIONS[1 - VERSIONS.index(version)]


def keep_killed(work: Path, project: Path, name: str) -> Path:
    """A copy of the project as the kill left it (kept only if the trial is not clean)."""
    copy = work / f"killed-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project, copy, symlinks=True)
    return copy


def partitions_moved(have: dict, old: dict, new: dict) -> tuple[int, int, list[str]]:
    """Partitions ({id: [rows, checksum]}) as a kill left them, between the previous
    state `old` and the new one: (how many of those that change are new, how many change,
    the partitions that are neither the old nor the new one)."""
    changing = {p for p in set(old) | set(new) if old.get(p) != new.get(p)}
    moved = [p for p in changing if have.get(p) == new.get(p)]
    torn = sorted(p for p in set(have) | changing if have.get(p) not in (old.get(p), new.get(p)))
    return len(moved), len(changing), torn


def differences(label: str, got, want) -> list[str]:
    got, want = list(got), list(want)
    return [] if got == want else [f"{label}: {got}, unkilled {want}"]


@dataclass
class IngestRefs:
    raw: dict[str, list]  # version -> [rows, checksum]
    days: dict[str, dict]  # version -> {day: [rows, checksum]}
    quarantine: dict[str, list]
    seconds: dict[str, float]  # "fresh" / "switch" -> seconds of an unkilled load
    engine_rows: int


def ingest_references(work: Path, path: str, feeds: dict[str, Feed]) -> IngestRefs:
    """Unkilled loads: each version fresh, then the other on top; both ways must agree."""
    raw, days, quarantine, on_top = {}, {}, {}, {}
    seconds = {"fresh": [], "switch": []}
    engine_rows = 0
    for first in VERSIONS:
        project = work / f"reference-{path}-{first}"
        project.mkdir(parents=True)
        declare_feed(project, path)
        for version, kind in ((first, "fresh"), (other(first), "switch")):
            put_feed(project, feeds[version])
            run = run_child("ingest", project)
            if run.returncode:
                raise RuntimeError(f"reference load ({path}, {version}): {run.failure()}")
            seconds[kind].append(run.seconds)
            got = checked(run_child("check-ingest", project))
            if "error" in got:
                raise RuntimeError(f"reference load ({path}, {version}): {got['error']}")
            problems = ingest_problems(got, feeds[version], None)
            if problems:
                raise RuntimeError(f"reference load ({path}, {version}): " + "; ".join(problems))
            if kind == "fresh":
                raw[version], quarantine[version] = got["raw"], got["quarantine"]
                days[version] = got["days"]
                engine_rows = max(engine_rows, got["engine"])
            else:
                on_top[version] = (got["raw"], got["quarantine"])
        shutil.rmtree(project)
    for version, (r, q) in on_top.items():
        if [r, q] != [raw[version], quarantine[version]]:
            raise RuntimeError(
                f"reference loads ({path}): {version} loaded on top of {other(version)} gives "
                f"raw {r}, quarantine {q}; loaded fresh: raw {raw[version]}, quarantine "
                f"{quarantine[version]}"
            )
    if path == "engine" and not engine_rows:
        raise RuntimeError("reference loads (engine): the engine itself read no file")
    mean = {kind: sum(v) / len(v) for kind, v in seconds.items()}
    return IngestRefs(raw, days, quarantine, mean, engine_rows)


def ingest_problems(got: dict, feed: Feed, refs: IngestRefs | None, version: str = "") -> list:
    """What differs from an unkilled load of `feed` (refs None: only the generator's truth)."""
    if "error" in got:
        return [f"the rerun failed: {got['error']}"]
    problems = []
    rerun = got["rerun"]
    if rerun["rows_read"] != rerun["rows_loaded"] + rerun["rows_quarantined"]:
        problems.append(f"rerun: rows read != loaded + quarantined ({rerun})")
    if refs:
        problems += differences("raw table [rows, checksum]", got["raw"], refs.raw[version])
        problems += differences(
            "quarantine [rows, checksum]", got["quarantine"], refs.quarantine[version]
        )
    elif got["raw"][0] != feed.rows - len(feed.bad):
        problems.append(f"raw table: {got['raw'][0]} rows, {feed.rows - len(feed.bad)} made")
    bad = {(f, int(n)) for f, n in got["bad"]}
    if len(got["bad"]) != len(bad):
        problems.append(f"quarantine: {len(got['bad']) - len(bad)} rows held twice")
    missing, extra = sorted(feed.bad - bad), sorted(bad - feed.bad)
    if missing or extra:
        problems.append(
            f"quarantine: {len(missing)} broken or repeated rows missing (first: "
            f"{missing[:2]}), {len(extra)} rows not expected (first: {extra[:2]})"
        )
    if got["asides"]:
        problems.append(f"tables aside left: {got['asides']}")
    if got["again"]["rows_read"]:
        problems.append(f"one more load read {got['again']['rows_read']} rows (want 0)")
    return problems


def ingest_trials(work, path, n, rng, feeds, refs, tally: Tally) -> None:
    slot = Slot(work, f"ingest-{path}")
    for trial in range(1, n + 1):
        started = time.monotonic()
        if slot.holds is None or rng.random() < FRESH_SHARE:
            project = slot.fresh(trial)
            declare_feed(project, path)
            version, kind, start = rng.choice(VERSIONS), "fresh", "empty"
        else:
            project, version, kind, start = slot.project, other(slot.holds), "switch", slot.holds
        put_feed(project, feeds[version])
        budget = refs.seconds[kind]
        delay = rng.uniform(0, budget)
        run = run_child("ingest", project, kill_after=delay)
        problems = [] if run.killed or run.returncode == 0 else [f"the load: {run.failure()}"]
        copy = keep_killed(work, project, f"ingest-{path}-{trial:03d}")
        old = refs.days[start] if kind == "switch" else {}
        reread = ""
        try:
            got = checked(run_child("check-ingest", project))
            moved, changing, torn = partitions_moved(got["killed"], old, refs.days[version])
            problems += [
                f"day {d} after the kill: {got['killed'].get(d)}, previous {old.get(d)}, "
                f"new {refs.days[version].get(d)}"
                for d in torn
            ]
            problems += ingest_problems(got, feeds[version], refs, version)
            read = got.get("rerun", {}).get("rows_read", "-")
            reread = f"{moved}/{changing} days new, rerun read {read:>6} rows"
        except RuntimeError as exc:
            problems.append(str(exc))
        slot.holds = None if problems else version
        what = tally.add(run, problems, copy, started)
        print(
            f"ingest ({path}) {trial:>3}: {start:>5} -> {version}, kill at {delay:4.2f} of "
            f"{budget:4.2f} s: {what:<11} {reread}  "
            + ("clean" if not problems else f"NOT CLEAN ({copy}): " + "; ".join(problems)),
            flush=True,
        )


@dataclass
class BuildRefs:
    state: dict[str, dict]  # version -> model_state
    seconds: dict[str, float]


def build_references(work: Path, seed: int, rows: int) -> BuildRefs:
    """Unkilled builds: each version fresh, then the other on top; both ways must agree."""
    state, on_top, seconds = {}, {}, {"fresh": [], "switch": []}
    for first in VERSIONS:
        project = work / f"reference-build-{first}"
        project.mkdir(parents=True)
        declare_models(project)
        for version, kind in ((first, "fresh"), (other(first), "switch")):
            checked(run_child("sales", project, version, str(seed), str(rows)))
            run = run_child("build", project)
            if run.returncode:
                raise RuntimeError(f"reference build ({version}): {run.failure()}")
            seconds[kind].append(run.seconds)
            got = checked(run_child("check-build", project))
            if "error" in got or got["before"] != got["after"] or got["asides"]:
                raise RuntimeError(f"reference build ({version}): {got}")
            (state if kind == "fresh" else on_top)[version] = got["after"]
        shutil.rmtree(project)
    for version in VERSIONS:
        if on_top[version] != state[version]:
            raise RuntimeError(
                f"reference builds: {version} built on top of {other(version)} gives "
                f"{on_top[version]}; built fresh: {state[version]}"
            )
    return BuildRefs(state, {kind: sum(v) / len(v) for kind, v in seconds.items()})


def killed_build_problems(before: dict, old: dict, new: dict, marked=()) -> tuple[list[str], str]:
    """The models as the kill left them: each table the previous build's (absent if there was
    none) or the new one's, each partition of the incremental model too (or, where the kill
    cut a move of partitions off, the model marked as mid-move for readers and for the next
    build, which rebuilds it whole), and nothing new while a table it reads is not. Returns
    the problems and a word on how far it got."""
    problems, done = [], {}
    for name in TABLES:
        have = before.get(name)
        if have is not None and have == new.get(name):
            done[name] = True
        elif have == old.get(name):
            done[name] = False
        else:
            done[name] = False
            problems.append(
                f"{name}: {have} after the kill, previous {old.get(name)}, new {new[name]}"
            )
    parts, was = before.get(INCREMENTAL) or {}, old.get(INCREMENTAL) or {}
    moved, changing, torn = partitions_moved(parts, was, new[INCREMENTAL])
    mid_move = f"{INCREMENTAL}__moving" in marked
    problems += [
        f"{INCREMENTAL} partition {p} after the kill: {parts.get(p)}, previous {was.get(p)}, "
        f"new {new[INCREMENTAL].get(p)}"
        for p in torn
        if not mid_move
    ]
    done[INCREMENTAL] = parts == new[INCREMENTAL]
    for name, inputs in READS.items():
        if done.get(name) and name != INCREMENTAL and not all(done[i] for i in inputs):
            problems.append(f"{name} is new while {[i for i in inputs if not done[i]]} is not")
    tables_new = sum(done[n] for n in TABLES)
    where = f"{tables_new}/{len(TABLES)} tables new, {INCREMENTAL} {moved}/{changing} partitions"
    if mid_move:
        where += f" (cut off mid-move, marked; {len(torn)} partition(s) torn until the rebuild)"
    return problems, where


def build_trials(work, n, rng, seed, rows, refs: BuildRefs, tally: Tally) -> None:
    slot = Slot(work, "build")
    for trial in range(1, n + 1):
        started = time.monotonic()
        if slot.holds is None or rng.random() < FRESH_SHARE:
            project = slot.fresh(trial)
            declare_models(project)
            version, kind, start, old = rng.choice(VERSIONS), "fresh", "empty", {}
        else:
            project, version, kind = slot.project, other(slot.holds), "switch"
            start, old = slot.holds, refs.state[slot.holds]
        problems = []
        checked(run_child("sales", project, version, str(seed), str(rows)))
        budget = refs.seconds[kind]
        delay = rng.uniform(0, budget)
        run = run_child("build", project, kill_after=delay)
        if not run.killed and run.returncode:
            problems.append(f"the build: {run.failure()}")
        copy = keep_killed(work, project, f"build-{trial:03d}")
        where = ""
        try:
            got = checked(run_child("check-build", project))
            found, where = killed_build_problems(
                got["before"], old, refs.state[version], got.get("marked", ())
            )
            problems += found
            where += f", {len(got['leftover'])} __new left"
            if "error" in got:
                problems.append(f"the rebuild failed: {got['error']}")
            else:
                new = refs.state[version]
                for name in (*TABLES, INCREMENTAL):
                    if got["after"].get(name) != new[name]:
                        problems.append(
                            f"{name} rebuilt: {got['after'].get(name)}, unkilled {new[name]}"
                        )
                if got["asides"]:
                    problems.append(f"tables aside left after the rebuild: {got['asides']}")
        except RuntimeError as exc:
            problems.append(str(exc))
        slot.holds = None if problems else version
        what = tally.add(run, problems, copy, started)
        print(
            f"build {trial:>3}: {start:>5} -> {version}, kill at {delay:4.2f} of {budget:4.2f} s: "
            f"{what:<11} {where:<50} "
            + ("clean" if not problems else f"NOT CLEAN ({copy}): " + "; ".join(problems)),
            flush=True,
        )


def summary(label: str, tally: Tally) -> str:
    return (
        f"{label}: {tally.clean}/{tally.trials} clean ({tally.killed} killed during the work, "
        f"{tally.trials - tally.killed} ended before the kill), {tally.seconds:.1f} s"
    )


def soak_ingest(work: Path, n: int, seed: int, rows: int) -> dict[str, Tally]:
    """The ingest trials, half on each CSV path, after their reference loads."""
    feeds = {v: make_feed(seed, v, rows) for v in VERSIONS}
    counts = ", ".join(f"{v}: {f.rows} rows, {len(f.bad)} quarantined" for v, f in feeds.items())
    print(f"feed: {len(DAYS)} days x {FILES_PER_DAY} CSV files; {counts}")
    refs = {}
    for path in ("python", "engine"):
        refs[path] = ref = ingest_references(work, path, feeds)
        print(
            f"reference loads ({path}): fresh {ref.seconds['fresh']:.2f} s, switching version "
            f"{ref.seconds['switch']:.2f} s; rows read by the engine itself in a fresh load: "
            f"{ref.engine_rows}",
            flush=True,
        )
    python, engine = refs["python"], refs["engine"]
    if (python.raw, python.quarantine) != (engine.raw, engine.quarantine):
        raise RuntimeError(
            f"the two CSV paths load different rows: python {python.raw} quarantine "
            f"{python.quarantine}, engine {engine.raw} quarantine {engine.quarantine}"
        )
    tallies = {}
    for path, trials in (("python", (n + 1) // 2), ("engine", n // 2)):
        tally = tallies[f"ingest ({path})"] = Tally()
        rng = random.Random(f"{seed}/ingest/{path}")
        ingest_trials(work, path, trials, rng, feeds, refs[path], tally)
    return tallies


def soak_builds(work: Path, n: int, seed: int, rows: int) -> Tally:
    """The build trials, after their reference builds."""
    refs = build_references(work, seed, rows)
    print(
        f"reference builds: fresh {refs.seconds['fresh']:.2f} s, "
        f"switching version {refs.seconds['switch']:.2f} s",
        flush=True,
    )
    tally = Tally()
    build_trials(work, n, random.Random(f"{seed}/build"), seed, rows, refs, tally)
    return tally


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingest", type=int, default=20, help="ingest trials, half on each path")
    ap.add_argument("--builds", type=int, default=10, help="build trials")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="work here (emptied first; kept after)")
    ap.add_argument("--rows", type=int, default=300_000, help="CSV rows of the feed")
    ap.add_argument("--sales-rows", type=int, default=2_000_000, help="rows the models read")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="starloom-soak-"))
    if args.workdir:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    print(f"work folder {work}, seed {args.seed}", flush=True)
    tallies: dict[str, Tally] = {}
    try:
        if args.ingest:
            tallies |= soak_ingest(work, args.ingest, args.seed, args.rows)
        if args.builds:
            tallies["build"] = soak_builds(work, args.builds, args.seed, args.sales_rows)
    except RuntimeError as exc:  # a reference run failed or disagreed: no trial means much
        print(f"NOT CLEAN: {exc}\nkept for inspection: {work}")
        return 1
    print()
    for label, tally in tallies.items():
        print(summary(label, tally))
    clean = all(t.clean == t.trials for t in tallies.values())
    if not clean:
        print(f"kept for inspection: {work}")
    elif not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if clean else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2], Path(sys.argv[3]), sys.argv[4:]))
    sys.exit(main())
