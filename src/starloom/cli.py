"""The `starloom` command: start a project, load sources, build and test models, query the
warehouse, run the pipeline over a range of dates. `starloom --help` lists the verbs; each
verb's `--help` says what it does (docs/cli.md has them all, with examples)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from starloom.errors import StarloomError

_NUMERIC = ("Int", "UInt", "Float", "Decimal")
_TEXT = ("String", "FixedString", "Enum")  # the types whose TSV values are escaped text


def _base_type(ctype: str) -> str:
    """The type inside LowCardinality(...) and Nullable(...)."""
    return ctype.removeprefix("LowCardinality(").removeprefix("Nullable(")


def _cmd_sql(args) -> int:
    """The query's result as the engine writes it (CSV, JSON lines), or as a table made
    from its TSV: no client library or pandas is loaded, so the answer comes as fast as the
    engine starts. CSV is written again by Python's csv module, which quotes only where a
    value needs it (the engine quotes every text and date)."""
    from starloom.warehouse import connect

    wh = connect()
    if args.format == "csv":  # quoted only where needed, a missing value empty
        import csv
        import io

        text = wh.query_output(
            args.query, "CSVWithNames", {"format_csv_null_representation": ""}
        ).decode()
        csv.writer(sys.stdout, lineterminator="\n").writerows(csv.reader(io.StringIO(text)))
        return 0
    if args.format == "json":
        json_settings = {"output_format_json_quote_64bit_integers": 0}
        sys.stdout.write(wh.query_output(args.query, "JSONEachRow", json_settings).decode())
        return 0
    lines = wh.query_output(args.query, "TSVWithNamesAndTypes").decode().split("\n")
    print(_table(lines, args.max_rows))
    return 0


def _table(lines: list[str], max_rows: int) -> str:
    """TSVWithNamesAndTypes lines as an aligned text table: numbers to the right, NULL for
    the engine's \\N, at most `max_rows` rows and a line saying how many were left out."""
    if len(lines) < 2:
        return "(no result)"
    names = [_unescape(n) for n in lines[0].split("\t")]
    types = lines[1].split("\t")
    rows = [line.split("\t") for line in lines[2:] if line]
    if not rows:
        return f"(no rows; columns: {', '.join(names)})"
    text = [_base_type(t).startswith(_TEXT) for t in types]
    shown = [
        ["NULL" if v == "\\N" else _unescape(v) if t else v for v, t in zip(row, text)]
        for row in rows[:max_rows]
    ]
    widths = [max(len(c), *(len(r[i]) for r in shown)) for i, c in enumerate(names)]
    right = [_base_type(t).startswith(_NUMERIC) for t in types]

    def line(values):
        cells = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right))
        return "  ".join(cells).rstrip()

    out = [line(names), *map(line, shown)]
    if len(rows) > max_rows:
        out.append(f"... {len(rows) - max_rows:,} more rows (--max-rows to see more)")
    return "\n".join(out)


_TSV_ESCAPES = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0"}


def _unescape(value: str) -> str:
    """A TSV text value as it is: the engine writes a tab, a line break or a backslash in a
    text as \\t, \\n or \\\\ (and a quote as \\'), so that each row stays one line of fields;
    any other escaped character is the character itself. (An array, tuple or map is written
    as its SQL literal, with its own quotes and escapes, and is shown so.)"""
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: _TSV_ESCAPES.get(m.group(1), m.group(1)), value, flags=re.S)


def _cmd_runs(args) -> int:
    from starloom import run_history
    from starloom.warehouse import connect

    wh = connect()
    if args.run_id:
        print(run_history.show_run(wh, args.run_id))
    else:
        print(run_history.format_runs(run_history.list_runs(wh, args.last)))
    return 0


def _cmd_tables(args) -> int:
    from starloom.warehouse import connect

    wh = connect()
    df = wh.table_list()
    print(f"-- {wh.describe()}")
    print(df.to_string(index=False) if len(df) else "(no tables yet: run `make build`)")
    return 0


def _cmd_demo(args) -> int:
    from starloom.demo import generate
    from starloom.project import Project

    project = Project.load()
    demo = project.demo
    summary = generate(
        project.root / "data" / "demo",
        run_date=_run_date(args, project),
        start_date=demo.start_date,
        size=args.size if args.size is not None else demo.size,
        seed=demo.seed,
    )
    print(summary)
    return 0


def _cmd_backfill(args) -> int:
    from starloom.backfill import backfill

    extra = args.ploomber_args[1:] if args.ploomber_args[:1] == ["--"] else args.ploomber_args
    backfill(args.start, args.end, force=args.force, extra=extra)
    return 0


def _run_date(args, project=None):
    """--run-date, else env.yaml's run_date, else today."""
    from starloom.project import Project
    from starloom.settings import parse_run_date

    if args.run_date:
        return parse_run_date(args.run_date)
    return (project or Project.load()).settings.run_date


def _record_command(
    command: str, run_id: str, run_date, started_at, status: int, wh=None, **what
) -> None:
    """One row in starloom_commands for the command that ran (starloom.runs.record_command),
    so that `starloom runs` says which command made each run and whether it failed. A
    warehouse that cannot take it does not change the command's outcome: a warning says so."""
    from starloom.runs import record_command
    from starloom.warehouse import connect

    try:
        record_command(
            wh or connect(), run_id, command, run_date=run_date, started_at=started_at,
            failed=bool(status), **what,
        )  # fmt: skip
    except StarloomError as exc:
        print(f"warning: this {command} was not recorded in the warehouse: {exc}", file=sys.stderr)


def _recorded(command: str, run_date, work) -> int:
    """`work()` (its exit status), recorded under the current run id as `command`; an error
    is recorded with its first line, then raised as before."""
    import datetime as dt

    from starloom.errors import WarehouseLockedError
    from starloom.runs import current_run_id

    run_id, started_at = current_run_id(), dt.datetime.now(dt.UTC)
    try:
        status = work()
    except WarehouseLockedError:
        raise  # the warehouse cannot take the record either: no second wait for it
    except StarloomError as exc:
        _record_command(command, run_id, run_date, started_at, 1, error=str(exc))
        raise
    _record_command(command, run_id, run_date, started_at, status)
    return status


def _cmd_ingest(args) -> int:
    from starloom.ingestion.load import ingest_tables

    run_date = _run_date(args)

    def work() -> int:
        loads = ingest_tables(args.tables, run_date, reload=args.reload)
        columns = ["source", "entity", "rows_read", "rows_loaded", "rows_quarantined", "seconds"]
        _print_frame(loads, [*columns, "notes"])
        return 0

    return _recorded("ingest", run_date, work)


def _cmd_build(args) -> int:
    from starloom import models
    from starloom.warehouse import connect

    run_date = _run_date(args)

    def work() -> int:
        builds, tests = models.build(
            connect(), _selection(args), run_date=run_date, full_refresh=args.full_refresh
        )
        _print_frame(builds, ["model", "layer", "materialization", "mode", "rows_written", "rows"])
        return _print_tests(tests)

    return _recorded("build", run_date, work)


def _cmd_test(args) -> int:
    from starloom import models
    from starloom.warehouse import connect

    def work() -> int:
        tests = models.test(connect(), _selection(args), run_date=run_date)
        return _print_tests(tests, always=True)

    run_date = _run_date(args)
    return _recorded("test", run_date, work)


def _selection(args) -> list[str] | None:
    """The models named as arguments and with --select, or None (every model)."""
    return [*args.select, *args.selected] or None


def _print_frame(df, columns: list[str]) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df[columns].to_string(index=False) if len(df) else "(nothing to do)")


def _print_tests(tests, always: bool = False) -> int:
    """The test results in a table when any is not a pass; 1 if an error-level one failed,
    or any test's query failed (it did not run)."""
    from starloom.run_summary import tests_text
    from starloom.runs import ERRORED

    if len(tests) and (always or (tests.status != "pass").any()):
        print()
        _print_frame(tests, ["model", "test", "column", "severity", "failures", "status"])
    counts = tests.status.value_counts().to_dict() if len(tests) else {}
    print(f"tests: {tests_text(counts)}")
    return 1 if counts.get("fail") or counts.get(ERRORED) else 0


def _cmd_init(args) -> int:
    from starloom.scaffold import write_project

    root = write_project(args.dir, name=args.name)
    print(
        f"project written in {root}\n  cd {args.dir}\n  starloom run        "
        "# ingest, build, report: the whole pipeline\n  starloom lab        # the notebooks"
    )
    return 0


def _given_run_date(value: str):
    """The run date a pipeline run was given, as a date (None if it names none, or none
    that reads as a date: the run itself says what is wrong with it)."""
    from starloom.settings import parse_run_date

    try:
        return parse_run_date(value) if value else None
    except StarloomError:
        return None


def _cmd_run(args) -> int:
    import contextlib
    import datetime as dt
    import os
    import time

    from starloom import ploomber_build, runs
    from starloom.project import Project
    from starloom.run_summary import summarize
    from starloom.warehouse import Warehouse

    settings = Project.load().settings
    started = time.monotonic()
    done = ploomber_build.build(args.ploomber_args, settings.project_dir)
    if not done.attempted or not done.started:  # --help, options refused, no DAG: nothing ran
        return done.status
    wh = Warehouse(settings)
    with contextlib.ExitStack() as opened:
        try:  # one opening of the warehouse for the record and the summary
            opened.enter_context(wh.session())
            unread = None
        except StarloomError as exc:  # the summary says so, without a second wait
            unread = exc
        if unread is None:
            _record_command(
                os.environ.get(runs.COMMAND_ENV, "").strip() or "run",  # a backfill's day
                done.run_id,
                _given_run_date(done.run_date),
                dt.datetime.fromtimestamp(done.started_at, dt.UTC),
                done.status,
                wh=wh,
                what_failed=done.failed,
            )
        summary = summarize(
            wh,
            done.run_id,
            ran=done.ran,
            skipped=done.skipped,
            failed=done.failed,
            not_run=done.not_run,
            run_date=done.run_date,
            seconds=time.monotonic() - started,
            published_since=done.started_at,
            unread=unread,
        )
    print(summary, flush=True)
    if done.status:
        print("the run failed: see the error above", file=sys.stderr)
    return done.status


LAB_CONFIG = "lab/jupyter_server_config.py"  # in the package: JupyterLab with Ploomber's cells


def lab_config() -> Path:
    """The JupyterLab configuration `starloom lab` uses, inside the installed package."""
    return Path(__file__).resolve().parent / LAB_CONFIG


def lab_command(project_dir) -> list[str]:
    """The `jupyter lab` command line of `starloom lab`: the package's configuration (each
    notebook opens with the parameters Ploomber injects), the project as the root folder,
    and the environment's own jupyter when it sits beside this Python."""
    import os

    local = Path(sys.executable).with_name("jupyter")
    command = [
        str(local) if local.exists() else "jupyter",
        "lab",
        f"--config={lab_config()}",
        f"--ServerApp.root_dir={Path(project_dir).resolve()}",
    ]
    if os.geteuid() == 0:  # a container's root user: JupyterLab refuses it otherwise
        command.append("--allow-root")
    return command


def _cmd_lab(args) -> int:
    import os

    from starloom.project import Project

    command = [*lab_command(Project.load().root), *args.lab_args]
    os.execvp(command[0], command)
    return 0


def _cmd_docs(args) -> int:
    from starloom.project import Project
    from starloom.publish.site import build_docs

    index = build_docs(Project.load(), Path(args.out) if args.out else None)
    print(f"docs site written: {index}")
    return 0


PASS_THROUGH = ("run", "lab")  # every argument after these verbs goes on to the tool


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in PASS_THROUGH and not {"-h", "--help"} & set(argv[1:2]):
        rest = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        args = build_parser().parse_args(argv[:1])
        args.ploomber_args = args.lab_args = rest
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StarloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if type(exc).__name__ == "TestFailure" else 2  # a failed test: as `test`
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `starloom sql ... | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


def _select_option(parser) -> None:
    parser.add_argument(
        "--select",
        "-s",
        dest="selected",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="the same as a positional selector (may be repeated): --select fct_orders+",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per verb (docs/cli.md documents each)."""
    parser = argparse.ArgumentParser(prog="starloom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sql", help="run a query against the configured warehouse")
    p.add_argument("query", help='the SQL, e.g. "SELECT * FROM dim_customers LIMIT 5"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-rows", type=int, default=100)
    p.set_defaults(func=_cmd_sql)
    p = sub.add_parser("tables", help="list the warehouse's tables with row counts")
    p.set_defaults(func=_cmd_tables)
    p = sub.add_parser("demo", help="(re)generate the demo shop database and event files")
    p.add_argument("--run-date", help="last day of data, YYYY-MM-DD (default: env.yaml)")
    p.add_argument("--size", type=float, help="size factor (default: env.yaml demo_size)")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("init", help="write a new project in DIR that builds at once")
    p.add_argument("dir", help="the folder to create (it must be empty or absent)")
    p.add_argument("--name", help="the project's name (default: the folder's name)")
    p.set_defaults(func=_cmd_init)
    p = sub.add_parser(
        "ingest",
        help="load sources (all, a source, or SOURCE.TABLE) for the run date",
        description="Loads new and changed files, or the run date's database extract, of "
        "each table named (default: every source in sources/). --reload drops the raw "
        "table(s) and loads every file again (after a contract change, for instance).",
    )
    p.add_argument("tables", nargs="*", help="SOURCE or SOURCE.TABLE (default: all)")
    p.add_argument("--reload", action="store_true", help="drop the raw tables, load all again")
    p.add_argument("--run-date", help="YYYY-MM-DD (default: env.yaml run_date, else today)")
    p.set_defaults(func=_cmd_ingest)
    p = sub.add_parser(
        "build",
        help="build models: all, or a selection (name, layer, +upstream, downstream+)",
        description="Builds the selected models in dependency order with their tests; a "
        "model whose inputs did not change is skipped as up to date. Exits 1 when an "
        "error-level test fails.",
    )
    p.add_argument("select", nargs="*", help="models or layers, e.g. marts +fct_orders dim_x+")
    _select_option(p)
    p.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    p.add_argument("--run-date", help="YYYY-MM-DD (default: env.yaml run_date, else today)")
    p.set_defaults(func=_cmd_build)
    p = sub.add_parser(
        "test", help="run the tests of the selected models on their tables, without building"
    )
    p.add_argument("select", nargs="*", help="models or layers (default: all)")
    _select_option(p)
    p.add_argument(
        "--run-date", help="the tests' {run_date:Date}: YYYY-MM-DD (default: env.yaml, else today)"
    )
    p.set_defaults(func=_cmd_test)
    p = sub.add_parser(
        "run",
        help="run the project's pipeline (ploomber build), reports included",
        description="Builds the pipeline as `ploomber build` does (the tasks whose notebook, "
        "parameters or upstream changed; options such as --force, --partially TASK, "
        "--env--run_date 2024-01-03 go on to it), then prints what the run did: tasks, "
        "rows loaded, models built, tests.",
    )
    p.add_argument("ploomber_args", nargs=argparse.REMAINDER, help="options for ploomber build")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser(
        "runs",
        help="the runs kept in the warehouse, or one run whole",
        description="Without RUN_ID: the latest runs, newest first (the command that made "
        "each, its run date, rows loaded and quarantined, models built and up to date, tests "
        "and failures, and its status: ok, or what failed). With RUN_ID (or its first "
        "characters): that run's command and status, loads and what they refused, models, "
        "test results, freshness checks and table stats, joined by run id.",
    )
    p.add_argument("run_id", nargs="?", help="a run id, or its first characters")
    p.add_argument("--last", type=int, default=10, help="how many runs to list (default 10)")
    p.set_defaults(func=_cmd_runs)
    p = sub.add_parser("lab", help="JupyterLab on the project, parameters injected")
    p.add_argument("lab_args", nargs=argparse.REMAINDER, help="options for jupyter lab")
    p.set_defaults(func=_cmd_lab)
    p = sub.add_parser(
        "backfill",
        help="run the pipeline for each date from --from to --to, in order",
        description="Runs `starloom run --env--run_date D` for each date D, skipping the dates "
        "already built (recorded in the warehouse table starloom_runs) unless --force. "
        "Arguments after -- go to ploomber, e.g. -- --env--demo_size 0.1",
    )
    p.add_argument("--from", dest="start", required=True, help="first run date, YYYY-MM-DD")
    p.add_argument("--to", dest="end", help="last run date, YYYY-MM-DD (default: --from)")
    p.add_argument("--force", action="store_true", help="rebuild dates already built")
    p.add_argument("ploomber_args", nargs=argparse.REMAINDER, help="-- then ploomber options")
    p.set_defaults(func=_cmd_backfill)
    p = sub.add_parser("docs", help="build the docs site (models, tests, lineage, quality)")
    p.add_argument("--out", help="folder for the site (default: output/docs)")
    p.set_defaults(func=_cmd_docs)
    return parser


if __name__ == "__main__":
    sys.exit(main())
