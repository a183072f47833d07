"""The runs kept in the warehouse, and one run whole: `starloom runs [RUN_ID]`.

Every bookkeeping row is stamped with the run id of the run that wrote it (starloom.runs):
the command that made it (starloom_commands: run, backfill, ingest, build, test; its run
date; whether it failed and which tasks did), loads (starloom_loads, with the files or the
table a load refused), model builds (starloom_model_runs, a failed build included), test
results (starloom_test_results), freshness checks (starloom_freshness) and table stats
(starloom_table_stats). This module joins them by run id:

    run           command  started (UTC)        run date    ...  failed  status
    3f2a9c1d0b7e  run      2024-01-03 06:00:12  2024-01-03  ...       0  ok
    77c01e5a2b19  run      2024-01-02 06:00:09  2024-01-02  ...       0  failed: ingest, shop.orders

A run is failed when its command failed, a load refused a table or files, a model failed
to build or a test failed (or could not run): what failed is read from those records, not
from the command's exit alone. For one run: what it did to each table and model, what was
refused, which tests failed or warned, and which sources were stale. A run id may be given
by its first characters, as git's commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from starloom.errors import StarloomError
from starloom.runs import ERRORED, FAILED, UP_TO_DATE
from starloom.warehouse import Warehouse, state

# each bookkeeping table stamped with run ids, and the column that dates its rows
STAMPED = {
    "starloom_commands": "started_at",
    "starloom_loads": "started_at",
    "starloom_model_runs": "finished_at",
    "starloom_test_results": "checked_at",
    "starloom_freshness": "checked_at",
    "starloom_table_stats": "recorded_at",
}
NAMED_AT_MOST = 3  # what failed, named in the list of runs; more are counted


@dataclass(frozen=True)
class Run:
    run_id: str
    started: str
    run_date: str
    loaded: int
    quarantined: int
    built: int
    up_to_date: int
    tests: int
    failed: int  # tests failed, or whose query failed
    command: str = ""  # run, backfill, ingest, build, test ("+" between several); "": none
    command_failed: bool = False
    what_failed: tuple[str, ...] = ()  # the failed tasks, refused tables, failed models
    error: str = ""  # the first line of a failed command's error

    @property
    def ok(self) -> bool:
        return not (self.command_failed or self.what_failed or self.failed)

    @property
    def status(self) -> str:
        return self.describe(NAMED_AT_MOST)

    def describe(self, at_most: int | None = None) -> str:
        """`ok`, or `failed: ` and what failed, `at_most` names and a count of the others
        (`failed` alone when nothing was named)."""
        if self.ok:
            return "ok"
        names = list(self.what_failed) or ([f"{self.failed} tests"] if self.failed else [])
        if at_most is not None and len(names) > at_most:
            names = names[:at_most] + [f"{len(names) - at_most} more"]
        return "failed" + (": " + ", ".join(names) if names else "")


def _present(wh: Warehouse) -> dict[str, str]:
    """The stamped tables this warehouse holds with a run_id column, and their time columns."""
    have = {
        table
        for (table,) in wh.query_rows(
            "SELECT table FROM system.columns WHERE database = {d:String} AND name = 'run_id'",
            {"d": wh.database},
        )
    }
    return {table: when for table, when in STAMPED.items() if table in have}


def _started(wh: Warehouse, tables: dict[str, str], where: str, params: dict) -> list[tuple]:
    """(run id, when it started) of the runs `where` selects, the newest first."""
    stamps = " UNION ALL ".join(
        f"SELECT run_id, toDateTime64({when}, 3, 'UTC') AS at FROM {wh.qualified(t)}"
        for t, when in tables.items()
    )
    return wh.query_rows(
        f"SELECT run_id, min(at) AS started FROM ({stamps}) WHERE run_id != '' AND {where} "
        "GROUP BY run_id ORDER BY started DESC LIMIT {n:UInt32}",
        params,
    )


def list_runs(wh: Warehouse, last: int = 10) -> list[Run]:
    """The `last` runs that wrote anything, the newest first."""
    with wh.session():
        if not _present(wh):
            return []  # nothing ever ran here: no bookkeeping tables made for a look
        state.ensure(wh)  # the columns read below, in a warehouse an older release left
        tables = _present(wh)
        return _runs(wh, tables, _started(wh, tables, "1", {"n": last}))


def _runs(wh: Warehouse, tables: dict[str, str], ids: list[tuple]) -> list[Run]:
    """The runs `ids` ((run id, started) pairs) as Runs: what each loaded, built and
    tested, which command made it, and what failed in it, from what was recorded."""
    if not ids:
        return []
    wanted = [run_id for run_id, _ in ids]
    commands = _by_run(
        wh, tables, "starloom_commands", wanted,
        "arrayStringConcat(arrayDistinct(arrayMap(c -> c.2, arraySort(groupArray("
        "(started_at, command))))), '+'), ifNull(toString(max(run_date)), ''), "
        f"countIf(status = '{FAILED}') > 0, arrayDistinct(arrayFlatten(groupArray(failed))), "
        "argMaxIf(error, started_at, error != '')",
    )  # fmt: skip
    loads = _by_run(
        wh, tables, "starloom_loads", wanted,
        "toString(max(run_date)), sum(rows_loaded), sum(rows_quarantined), arrayDistinct("
        "groupArrayIf(source || '.' || entity, notEmpty(file_errors) OR error != ''))",
    )  # fmt: skip
    models = _by_run(
        wh, tables, "starloom_model_runs", wanted,
        f"countIf(mode NOT IN ('{UP_TO_DATE}', '{FAILED}')), countIf(mode = '{UP_TO_DATE}'), "
        f"groupArrayIf(model, mode = '{FAILED}')",
    )  # fmt: skip
    tests = _by_run(
        wh, tables, "starloom_test_results", wanted,
        f"count(), countIf(status IN ('fail', '{ERRORED}'))",
    )  # fmt: skip
    runs = []
    for run_id, started in ids:
        command, given_date, command_failed, tasks, error = commands.get(
            run_id, ("", "", False, [], "")
        )
        run_date, loaded, bad, refused = loads.get(run_id, ("", 0, 0, []))
        built, skipped, failed_models = models.get(run_id, (0, 0, []))
        n_tests, failed = tests.get(run_id, (0, 0))
        runs.append(
            Run(
                run_id=run_id,
                started=str(started)[:19],
                run_date=given_date or run_date,
                loaded=int(loaded),
                quarantined=int(bad),
                built=int(built),
                up_to_date=int(skipped),
                tests=int(n_tests),
                failed=int(failed),
                command=command,
                command_failed=bool(command_failed),
                what_failed=tuple(dict.fromkeys([*tasks, *refused, *failed_models])),
                error=error,
            )
        )
    return runs


def _by_run(wh, tables, table, run_ids, aggregates) -> dict[str, tuple]:
    if table not in tables:
        return {}
    rows = wh.query_rows(
        f"SELECT run_id, {aggregates} FROM {wh.qualified(table)} "
        "WHERE run_id IN {ids:Array(String)} GROUP BY run_id",
        {"ids": run_ids},
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def resolve(wh: Warehouse, prefix: str) -> str:
    """The one run id that starts with `prefix`; an error naming the candidates otherwise."""
    tables = _present(wh)
    ids = sorted(
        {
            run_id
            for t in tables
            for (run_id,) in wh.query_rows(
                f"SELECT DISTINCT run_id FROM {wh.qualified(t)} "
                "WHERE startsWith(run_id, {p:String}) LIMIT 20",
                {"p": prefix},
            )
        }
    )
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise StarloomError(
            f"No run id starts with {prefix!r} in {wh.describe()}. `starloom runs` lists the "
            "runs kept there."
        )
    raise StarloomError(
        f"{len(ids)} run ids start with {prefix!r} ({', '.join(ids[:5])}"
        f"{', ...' if len(ids) > 5 else ''}): give more of it."
    )


def show_run(wh: Warehouse, prefix: str) -> str:
    """One run whole, as text: its loads, models, tests, freshness checks and stats."""
    with wh.session():
        run_id = resolve(wh, prefix)
        state.ensure(wh)  # the columns read below, in a warehouse an older release left
        tables = _present(wh)
        p = {"r": run_id}
        (run,) = _runs(wh, tables, _started(wh, tables, "run_id = {r:String}", {**p, "n": 1}))
        out = [f"run {run_id}", *_heading(run)]

        def section(title: str, header: list[str], rows: list[tuple], empty: str) -> None:
            out.append("")
            out.append(title)
            if not rows:
                out.append(f"  {empty}")
                return
            cells = [header] + [[_cell(v) for v in row] for row in rows]
            widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
            for r in cells:
                out.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())

        def rows_of(table: str, sql: str) -> list[tuple]:
            return wh.query_rows(sql.format(t=wh.qualified(table)), p) if table in tables else []

        loads = rows_of(
            "starloom_loads",
            "SELECT source || '.' || entity, toString(run_date), rows_read, rows_loaded, "
            "rows_quarantined, round(seconds, 1) FROM {t} WHERE run_id = {{r:String}} "
            "ORDER BY started_at",
        )
        section(
            "loads",
            ["table", "run date", "read", "loaded", "quarantined", "seconds"],
            loads,
            "none in this run",
        )
        refused = rows_of(
            "starloom_loads",
            "SELECT source || '.' || entity, arrayJoin(arrayConcat(if(error = '', [], [error]), "
            "file_errors)) FROM {t} WHERE run_id = {{r:String}} ORDER BY started_at",
        )
        if refused:  # a table or files a load refused
            section("refused", ["table", "why"], refused, "")
        models = rows_of(
            "starloom_model_runs",
            "SELECT model, layer, materialization, mode, rows_written, rows, round(seconds, 2) "
            "FROM {t} WHERE run_id = {{r:String}} ORDER BY finished_at, step",
        )
        section(
            "models",
            ["model", "layer", "materialization", "mode", "written", "rows", "seconds"],
            models,
            "none in this run",
        )
        tests = rows_of(
            "starloom_test_results",
            "SELECT status, count(), arrayStringConcat(arraySlice(groupArrayIf(model || '.' || "
            "test || if(`column` = '', '', '(' || `column` || ')') || ': ' || "
            "toString(failures), status != 'pass'), 1, 20), ', ') FROM {t} "
            "WHERE run_id = {{r:String}} GROUP BY status ORDER BY status",
        )
        section("tests", ["status", "count", "which (failures)"], tests, "none ran in this run")
        fresh = rows_of(
            "starloom_freshness",
            "SELECT source || '.' || `table`, status, round(age_hours, 1), warn_after_hours, "
            "error_after_hours FROM {t} WHERE run_id = {{r:String}} ORDER BY source, `table`",
        )
        section(
            "freshness",
            ["table", "status", "age (h)", "warn after", "error after"],
            fresh,
            "not checked in this run",
        )
        stats = rows_of(
            "starloom_table_stats",
            "SELECT `table`, if(countIf(partition_date IS NULL) > 0, "  # the table's total
            "sumIf(`rows`, partition_date IS NULL), sum(`rows`)) FROM {t} "  # or its partitions
            "WHERE run_id = {{r:String}} GROUP BY `table` ORDER BY `table`",
        )
        section("table stats", ["table", "rows"], stats, "not recorded in this run")
    return "\n".join(out)


def _heading(run: Run) -> list[str]:
    """The lines under `run ID`: which command made the run, its run date, when it started,
    and whether it failed, naming what failed, with the command's error."""
    made = f"{run.command or '-'}, run date {run.run_date or '-'}, started {run.started} UTC"
    out = [f"  command  {made}", f"  status   {run.describe()}"]
    if run.error:
        out.append(f"  error    {run.error}")
    return out


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_runs(runs: list[Run]) -> str:
    """The runs as an aligned table, the newest first."""
    if not runs:
        return "(no runs recorded yet: `starloom run` records one)"
    header = ["run", "command", "started (UTC)", "run date", "loaded", "quarantined", "models",
              "up to date", "tests", "failed", "status"]  # fmt: skip
    rows = [
        [r.run_id, r.command or "-", r.started, r.run_date or "-", f"{r.loaded:,}",
         f"{r.quarantined:,}", f"{r.built:,}", f"{r.up_to_date:,}", f"{r.tests:,}",
         f"{r.failed:,}", r.status]
        for r in runs
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    left = {0, 1, 2, 3, len(header) - 1}  # the text columns; the counts to the right
    lines = []
    for row in [header, *rows]:
        cells = [v.ljust(w) if i in left else v.rjust(w) for i, v, w in zip(count(), row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
