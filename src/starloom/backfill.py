"""Backfills: the pipeline once per run date, in order, skipping the dates already built.

`starloom backfill --from 2024-01-01 --to 2024-01-07` runs `starloom run --env--run_date D`
(Ploomber's build, see starloom.ploomber_build) in the project folder for each day D, one
after the other (each day's build sees the days before it). A day whose build succeeded is
recorded in the warehouse table `starloom_runs`, next to the data it produced: wiping or
switching the warehouse forgets the record together with the data, and every machine that
builds into the same ClickHouse server sees the same record. Recorded days are skipped
unless `force` is set. The build's output, ending with the run's summary, goes to
output/logs/build_<date>.log; the first failing day stops the backfill.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from starloom.errors import ConfigError, StarloomError
from starloom.project import Project
from starloom.runs import COMMAND_ENV
from starloom.settings import parse_date
from starloom.warehouse import Warehouse, state

RUNS_TABLE = "starloom_runs"
MAX_DAYS = 3660


class BackfillError(StarloomError):
    """A day of a backfill failed to build."""


@dataclass(frozen=True)
class DayResult:
    run_date: dt.date
    status: str  # "built", "skipped" or "failed"
    seconds: float = 0.0
    log: Path | None = None

    def line(self) -> str:
        """The one summary line printed for the day."""
        if self.status == "skipped":
            return f"{self.run_date}  skipped  (already built; --force to rebuild)"
        text = f"{self.run_date}  {self.status:<7}  {self.seconds:7.1f} s"
        return text + (f"  log: {self.log}" if self.log else "")


def _parse(value: str | dt.date, option: str) -> dt.date:
    return parse_date(value, option, "Give the first and last run dates of the backfill.")


def run_dates(start: str | dt.date, end: str | dt.date | None = None) -> list[dt.date]:
    """Every day from start to end, both included; end defaults to start."""
    first = _parse(start, "--from")
    last = _parse(end, "--to") if end is not None else first
    if first > last:
        raise ConfigError(
            f"--from {first} is after --to {last}: give the earliest run date first "
            f"(--from {last} --to {first})."
        )
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ConfigError(
            f"--from {first} --to {last} spans {days} days, more than {MAX_DAYS}: split the "
            "backfill into shorter ranges."
        )
    return [first + dt.timedelta(days=i) for i in range(days)]


def completed_dates(wh: Warehouse) -> set[dt.date]:
    """The run dates recorded as built in this warehouse."""
    if not wh.table_exists(RUNS_TABLE):
        return set()
    rows = wh.query_rows(f"SELECT DISTINCT run_date FROM {wh.qualified(RUNS_TABLE)}")
    return {r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0])) for r in rows}


def record_run(wh: Warehouse, run_date: dt.date, seconds: float, arguments: Sequence[str]) -> None:
    state.ensure(wh)
    wh.insert_df(
        RUNS_TABLE,
        pd.DataFrame(
            [
                {
                    "run_date": run_date,
                    "finished_at": pd.Timestamp.now(tz="UTC"),
                    "seconds": float(seconds),
                    "arguments": " ".join(arguments),
                }
            ]
        ),
    )


def build_command(run_date: dt.date, force: bool, extra: Sequence[str]) -> list[str]:
    """The `starloom run` command line of one day, with this Python."""
    return [
        sys.executable,
        "-m",
        "starloom.cli",
        "run",
        "--env--run_date",
        run_date.isoformat(),
        *(["--force"] if force else []),
        *extra,
    ]


def _build_day(project: Project, run_date: dt.date, force: bool, extra: Sequence[str]):
    logs = project.output_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"build_{run_date}.log"
    env = {
        **os.environ,
        "STARLOOM_PROJECT_DIR": str(project.root),
        "PLOOMBER_STATS_ENABLED": "false",
        "PLOOMBER_VERSION_CHECK_DISABLED": "1",
        COMMAND_ENV: "backfill",  # the day's run is listed by `starloom runs` as a backfill's
    }
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            build_command(run_date, force, extra),
            cwd=project.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return done.returncode, time.monotonic() - started, log


def backfill(
    start: str | dt.date,
    end: str | dt.date | None = None,
    *,
    force: bool = False,
    extra: Sequence[str] = (),
    project: Project | None = None,
    echo: Callable[[str], None] = print,
) -> list[DayResult]:
    """Build each run date from start to end in order, in `project` (default: the current
    one); raise BackfillError on the first failure.

    `extra` is passed on to Ploomber's build (for example ["--env--demo_size", "0.1"]).
    """
    days = run_dates(start, end)
    project = project or Project.load()
    wh = Warehouse(project.settings)
    done = set() if force else completed_dates(wh)
    results: list[DayResult] = []
    for day in days:
        if day in done:
            result = DayResult(day, "skipped")
        else:
            code, seconds, log = _build_day(project, day, force, extra)
            relative = log.relative_to(project.root)
            if code != 0:
                result = DayResult(day, "failed", seconds, relative)
                echo(result.line())
                results.append(result)
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise BackfillError(
                    f"The build of run date {day} failed (exit code {code}); the later "
                    f"dates were not built. See {relative} for the whole output; its end:\n{tail}"
                )
            record_run(wh, day, seconds, [*(["--force"] if force else []), *extra])
            result = DayResult(day, "built", seconds)
        echo(result.line())
        results.append(result)
    return results
