"""What one run of the pipeline did, in a few lines: `starloom run` prints it at the end.

    run 3f2a9c1d0b7e (run date 2024-01-03), 17.4 s
      tasks   6 ran, 0 up to date
      loads   raw_example__sales: 7 rows
      models  3 built (stg_example__sales, dim_customers, fct_sales), 0 up to date
      tests   8 passed, 0 warned, 0 failed
      reports output/index.html

The tasks come from Ploomber's build; the rest is read back from the warehouse by run id
(starloom.runs): rows loaded per raw table and what a load refused (starloom_loads),
models built, skipped as up to date or failed (starloom_model_runs), test results
(starloom_test_results; a test whose query failed counts as failed). A run that loaded
nothing, or whose models were all up to date, says so. The reports line is there only when
this run wrote the reports' index: after a failed step, or with nothing new to publish, the
index there is an earlier run's.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from starloom.errors import StarloomError, first_line
from starloom.ingestion.raw_names import raw_table
from starloom.runs import ERRORED, FAILED, MODEL_RUNS, UP_TO_DATE
from starloom.warehouse import Warehouse

LIST_AT_MOST = 8  # names listed on a line; more are counted
WIDTH = 96  # characters a line of the summary takes at most
NBSP = "\u00a0"


@dataclass
class RunSummary:
    run_id: str
    run_date: str = ""
    seconds: float | None = None
    tasks_ran: dict[str, float] = field(default_factory=dict)  # task -> seconds
    tasks_skipped: list[str] = field(default_factory=list)
    tasks_failed: list[str] = field(default_factory=list)
    tasks_not_run: list[str] = field(default_factory=list)  # a failed task's downstream
    loads: dict[str, tuple[int, int]] = field(default_factory=dict)  # raw table -> rows, bad
    models_built: list[str] = field(default_factory=list)
    models_skipped: list[str] = field(default_factory=list)
    models_failed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # raw table -> what was refused
    tests: dict[str, int] = field(default_factory=dict)  # pass / warn / fail -> count
    reports: str = ""
    unread: str = ""  # why the warehouse could not be read, if it could not

    @property
    def tests_failed(self) -> int:
        """Failed tests, and tests whose query failed (they did not run: not a pass)."""
        return self.tests.get("fail", 0) + self.tests.get(ERRORED, 0)

    def lines(self) -> list[str]:
        head = f"run {self.run_id}"
        head += f" (run date {self.run_date})" if self.run_date else ""
        head += f", {self.seconds:.1f} s" if self.seconds is not None else ""
        out = [head]

        def line(label: str, text: str) -> None:
            """The label, then the text wrapped under it (never inside an item: their
            spaces are no-break ones until wrapped)."""
            wrapped = textwrap.wrap(
                text, WIDTH, initial_indent=f"  {label:<7} ", subsequent_indent=" " * 10
            )
            out.extend(w.replace(NBSP, " ") for w in wrapped)

        ran = len(self.tasks_ran)
        tasks = f"{ran} ran, {len(self.tasks_skipped)} up to date"
        if self.tasks_failed:
            tasks += f", {len(self.tasks_failed)} failed ({_listed(self.tasks_failed)})"
        if self.tasks_not_run:
            tasks += f", {len(self.tasks_not_run)} not run"
        line("tasks", tasks)
        if self.unread:
            line("warehouse", f"not read: {self.unread}")
        else:
            loaded = [
                _load_text(table, rows, bad, self.refused.get(table, "")).replace(" ", NBSP)
                for table, (rows, bad) in sorted(self.loads.items())
            ]
            line("loads", _listed(loaded) if loaded else "nothing loaded in this run")
            built = f"{len(self.models_built)} built"
            if self.models_built:
                built += f" ({_listed(self.models_built)})"
            built += f", {len(self.models_skipped)} up to date"
            if self.models_failed:
                built += f", {len(self.models_failed)} failed ({_listed(self.models_failed)})"
            line("models", built)
            if self.tests:
                line("tests", tests_text(self.tests))
            else:
                line("tests", "none ran" + (" (their models were up to date)" if ran else ""))
        if self.reports:
            line("reports", self.reports)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _load_text(table: str, rows: int, bad: int, refused: str) -> str:
    """`raw_x: 7 rows (1 quarantined)`, `raw_x: nothing new`, or what was refused."""
    text = f"{rows:,} rows" if rows or bad else ""
    text += f" ({bad:,} quarantined)" if bad else ""
    if refused:
        text += (", " if text else "") + refused
    return f"{table}: {text or 'nothing new'}"


def tests_text(counts: dict[str, int]) -> str:
    """`8 passed, 0 warned, 1 failed`: a test whose query failed did not run, so it counts
    as failed, and is said so (`2 failed (1 errored: its query failed)`)."""
    errored = counts.get(ERRORED, 0)
    text = (
        f"{counts.get('pass', 0)} passed, {counts.get('warn', 0)} warned, "
        f"{counts.get('fail', 0) + errored} failed"
    )
    return text + (f" ({errored} errored: its query failed)" if errored else "")


def _listed(names: list[str]) -> str:
    if len(names) <= LIST_AT_MOST:
        return ", ".join(names)
    return ", ".join(names[:LIST_AT_MOST]) + f" and {len(names) - LIST_AT_MOST} more"


def read_run(wh: Warehouse, run_id: str) -> dict:
    """{"loads": {raw table: (rows loaded, rows quarantined)}, "refused": {raw table: what
    was refused}, "built", "skipped", "failed": [models], "tests": {status: count}} of one
    run, from the warehouse."""

    found: dict = {"loads": {}, "refused": {}, "tests": {}}
    found |= {"built": [], "skipped": [], "failed": []}
    with wh.session():
        loads_columns = {name for name, _ in wh.columns("starloom_loads")}  # none before a load
        if "run_id" in loads_columns:
            refusals = "countIf(error != '')" if "error" in loads_columns else "0"  # older
            for source, entity, rows, bad, files, whole in wh.query_rows(
                "SELECT source, entity, sum(rows_loaded), sum(rows_quarantined), "
                f"sum(length(file_errors)), {refusals} "
                f"FROM {wh.qualified('starloom_loads')} WHERE run_id = {{r:String}} "
                "GROUP BY source, entity ORDER BY source, entity",
                {"r": run_id},
            ):
                table = raw_table(source, entity)
                found["loads"][table] = (int(rows), int(bad))
                if whole or files:
                    found["refused"][table] = "refused" if whole else f"{files} file(s) refused"
        if wh.table_exists(MODEL_RUNS):
            for model, mode, _ in wh.query_rows(  # a model built twice: its last build
                "SELECT model, argMax(mode, (finished_at, step)), max((finished_at, step)) AS at "
                f"FROM {wh.qualified(MODEL_RUNS)} WHERE run_id = {{r:String}} "
                "GROUP BY model ORDER BY at",
                {"r": run_id},
            ):
                kind = {UP_TO_DATE: "skipped", FAILED: "failed"}.get(mode, "built")
                found[kind].append(model)
        if wh.table_exists("starloom_test_results"):
            found["tests"] = dict(
                wh.query_rows(
                    "SELECT status, toInt64(count()) "
                    f"FROM {wh.qualified('starloom_test_results')} "
                    "WHERE run_id = {r:String} GROUP BY status",
                    {"r": run_id},
                )
            )
    return found


def summarize(
    wh: Warehouse,
    run_id: str,
    *,
    ran: dict[str, float] | None = None,
    skipped: list[str] | None = None,
    failed: list[str] | None = None,
    not_run: list[str] | None = None,
    run_date: str = "",
    seconds: float | None = None,
    published_since: float | None = None,
    unread: Exception | None = None,
) -> RunSummary:
    """The summary of run `run_id`: the tasks given (`ran`: {task: seconds}, `skipped` as
    up to date, `failed`, `not_run`), and what the warehouse recorded under the run id.
    The reports are named only when this run wrote their index (at `published_since`, a
    time.time(), or later): an index left by an earlier run is not this run's. `unread`:
    the error that kept the caller from opening the warehouse (it is not tried again)."""
    summary = RunSummary(
        run_id=run_id,
        run_date=run_date,
        seconds=seconds,
        tasks_ran=dict(ran or {}),
        tasks_skipped=list(skipped or []),
        tasks_failed=list(failed or []),
        tasks_not_run=list(not_run or []),
    )
    try:
        if unread is not None:
            raise unread
        found = read_run(wh, run_id)
    except StarloomError as exc:
        summary.unread = first_line(exc)
    else:
        summary.loads, summary.refused = found["loads"], found["refused"]
        summary.models_built, summary.models_skipped = found["built"], found["skipped"]
        summary.models_failed = found["failed"]
        summary.tests = found["tests"]
    summary.reports = _published(wh.settings, published_since)
    return summary


def _published(settings, since: float | None) -> str:
    """The reports' index as the summary names it (relative to the project), or "" when
    there is none, or this run did not write it."""
    index = Path(settings.output_dir) / "index.html"
    try:
        written = index.stat().st_mtime
    except OSError:
        return ""
    if since is not None and written < since:
        return ""
    try:
        return str(index.relative_to(settings.project_dir))
    except ValueError:
        return str(index)
