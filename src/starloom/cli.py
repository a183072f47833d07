"""The `starloom` command: query the warehouse, make the demo sources, list tables."""

from __future__ import annotations

import argparse
import sys

from starloom.errors import StarloomError


def _cmd_sql(args) -> int:
    from starloom.warehouse import connect

    wh = connect()
    df = wh.query_df(args.query)
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", lines=True))
    else:
        import pandas as pd

        with pd.option_context(
            "display.max_rows", args.max_rows, "display.width", 200, "display.max_columns", 50
        ):
            print(
                df.to_string(index=False, max_rows=args.max_rows)
                if len(df)
                else f"(no rows; columns: {', '.join(map(str, df.columns))})"
            )
    return 0


def _cmd_tables(args) -> int:
    from starloom.warehouse import connect

    wh = connect()
    df = wh.query_df(
        "SELECT name, engine, total_rows AS rows FROM system.tables WHERE database = {d:String} "
        "AND name NOT LIKE '%\\_\\_new' ORDER BY name",
        {"d": wh.database},
    )
    print(f"-- {wh.describe()}")
    print(df.to_string(index=False) if len(df) else "(no tables yet: run `make build`)")
    return 0


def _cmd_demo(args) -> int:
    from starloom.demo import generate
    from starloom.settings import load_settings, parse_run_date

    settings = load_settings()
    raw = settings.raw
    summary = generate(
        settings.project_dir / "data" / "demo",
        run_date=parse_run_date(args.run_date or raw.get("run_date")),
        start_date=parse_run_date(raw.get("demo_start_date", "2024-01-01")),
        size=args.size if args.size is not None else float(raw.get("demo_size", 1)),
        seed=int(raw.get("demo_seed", 42)),
    )
    print(summary)
    return 0


def _cmd_build(args) -> int:
    from starloom.backfill import backfill

    extra = args.ploomber_args[1:] if args.ploomber_args[:1] == ["--"] else args.ploomber_args
    backfill(args.start, args.end, force=args.force, extra=extra)
    return 0


def _cmd_docs(args) -> int:
    from pathlib import Path

    from starloom.docs import build_docs
    from starloom.settings import load_settings

    index = build_docs(load_settings(), Path(args.out) if args.out else None)
    print(f"docs site written: {index}")
    return 0


def main(argv: list[str] | None = None) -> int:
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
    p = sub.add_parser(
        "build",
        help="backfill: run the pipeline for each date from --from to --to, in order",
        description="Runs `ploomber build --env--run_date D` for each date D, skipping the dates "
        "already built (recorded in the warehouse table starloom_runs) unless --force. "
        "Arguments after -- go to ploomber, e.g. -- --env--demo_size 0.1",
    )
    p.add_argument("--from", dest="start", required=True, help="first run date, YYYY-MM-DD")
    p.add_argument("--to", dest="end", help="last run date, YYYY-MM-DD (default: --from)")
    p.add_argument("--force", action="store_true", help="rebuild dates already built")
    p.add_argument("ploomber_args", nargs=argparse.REMAINDER, help="-- then ploomber options")
    p.set_defaults(func=_cmd_build)
    p = sub.add_parser("docs", help="build the docs site (models, tests, lineage, quality)")
    p.add_argument("--out", help="folder for the site (default: output/docs)")
    p.set_defaults(func=_cmd_docs)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StarloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
