"""The runs kept in the warehouse, and one run whole: `starloom runs [RUN_ID]`.

Every bookkeeping row is stamped with the run id of the pipeline run that wrote it
(starloom.runs): loads (starloom_loads), model builds (starloom_model_runs), test results
(starloom_test_results), freshness checks (starloom_freshness) and table stats
(starloom_table_stats). This module joins them by run id:

    run           started (UTC)        run date    loaded  quarantined  models  up to date ...
    3f2a9c1d0b7e  2024-01-03 06:00:12  2024-01-03   1,204            2       5           7 ...

and, for one run, what it did to each table and model, which tests failed or warned, and
which sources were stale. A run id may be given by its first characters, as git's commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from starloom.errors import StarloomError
from starloom.runs import ERRORED, UP_TO_DATE
from starloom.warehouse import Warehouse

# each bookkeeping table stamped with run ids, and the column that dates its rows
STAMPED = {
    "starloom_loads": "started_at",
    "starloom_model_runs": "finished_at",
    "starloom_test_results": "checked_at",
    "starloom_freshness": "checked_at",
    "starloom_table_stats": "recorded_at",
}


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
    failed: int


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


def list_runs(wh: Warehouse, last: int = 10) -> list[Run]:
    """The `last` runs that wrote anything, the newest first."""
    with wh.session():
        tables = _present(wh)
        if not tables:
            return []
        stamps = " UNION ALL ".join(
            f"SELECT run_id, toDateTime64({when}, 3, 'UTC') AS at FROM {wh.qualified(t)}"
            for t, when in tables.items()
        )
        ids = wh.query_rows(
            f"SELECT run_id, min(at) AS started FROM ({stamps}) WHERE run_id != '' "
            "GROUP BY run_id ORDER BY started DESC LIMIT {n:UInt32}",
            {"n": last},
        )
        if not ids:
            return []
        wanted = [run_id for run_id, _ in ids]
        loads = _by_run(
            wh, tables, "starloom_loads", wanted,
            "toString(max(run_date)), sum(rows_loaded), sum(rows_quarantined)",
        )  # fmt: skip
        models = _by_run(
            wh, tables, "starloom_model_runs", wanted,
            f"countIf(mode != '{UP_TO_DATE}'), countIf(mode = '{UP_TO_DATE}')",
        )  # fmt: skip
        tests = _by_run(
            wh, tables, "starloom_test_results", wanted,
            f"count(), countIf(status IN ('fail', '{ERRORED}'))",
        )  # fmt: skip
    runs = []
    for run_id, started in ids:
        run_date, loaded, bad = loads.get(run_id, ("", 0, 0))
        built, skipped = models.get(run_id, (0, 0))
        n_tests, failed = tests.get(run_id, (0, 0))
        runs.append(
            Run(
                run_id=run_id,
                started=str(started)[:19],
                run_date=run_date,
                loaded=int(loaded),
                quarantined=int(bad),
                built=int(built),
                up_to_date=int(skipped),
                tests=int(n_tests),
                failed=int(failed),
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
        tables = _present(wh)
        p = {"r": run_id}
        out = [f"run {run_id}"]

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
    header = ["run", "started (UTC)", "run date", "loaded", "quarantined", "models",
              "up to date", "tests", "failed"]  # fmt: skip
    rows = [
        [r.run_id, r.started, r.run_date or "-", f"{r.loaded:,}", f"{r.quarantined:,}",
         f"{r.built:,}", f"{r.up_to_date:,}", f"{r.tests:,}", f"{r.failed:,}"]
        for r in runs
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
