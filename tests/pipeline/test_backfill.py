"""Backfills: `starloom backfill --from --to` runs the pipeline per date, skipping dates done."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from tests.support.project import copy_project, run_tool

from starloom.backfill import completed_dates, record_run, run_dates
from starloom.cli import main
from starloom.errors import ConfigError
from starloom.settings import load_settings
from starloom.warehouse import Warehouse

SMALL = ["--", "--env--demo_size", "0.05"]


def test_run_dates_are_every_day_in_order():
    assert run_dates("2024-01-30", "2024-02-02") == [
        dt.date(2024, 1, 30),
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 2),
    ]
    assert run_dates("2024-01-05") == [dt.date(2024, 1, 5)]


def test_bad_dates_are_clear_errors(capsys):
    with pytest.raises(ConfigError, match="--to '2024-02-30' is not a date"):
        run_dates("2024-02-01", "2024-02-30")
    with pytest.raises(ConfigError, match="--from 2024-01-05 is after --to 2024-01-01"):
        run_dates("2024-01-05", "2024-01-01")
    assert main(["backfill", "--from", "01/05/2024"]) == 2
    assert "is not a date in the format YYYY-MM-DD" in capsys.readouterr().err


def test_completed_dates_are_recorded_in_the_warehouse(wh):
    assert completed_dates(wh) == set()
    record_run(wh, dt.date(2024, 1, 2), 1.5, ["--env--demo_size", "0.05"])
    record_run(wh, dt.date(2024, 1, 2), 1.0, [])
    record_run(wh, dt.date(2024, 1, 1), 1.0, [])
    assert completed_dates(wh) == {dt.date(2024, 1, 1), dt.date(2024, 1, 2)}


def _starloom_build(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_tool(root, "starloom", "backfill", *args, timeout=1200)


def _lines(output: str) -> dict[str, str]:
    """{date: status} from the summary lines."""
    table = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("built", "skipped", "failed"):
            table[parts[0]] = parts[1]
    return table


@pytest.mark.slow
def test_backfill_builds_each_date_once_in_order(tmp_path):
    root = copy_project(tmp_path / "project")
    first = _starloom_build(root, "--from", "2024-01-01", "--to", "2024-01-02", *SMALL)
    assert first.returncode == 0, first.stdout + first.stderr
    assert list(_lines(first.stdout).items()) == [
        ("2024-01-01", "built"),
        ("2024-01-02", "built"),
    ]
    wh = Warehouse(load_settings(root))
    assert completed_dates(wh) == {dt.date(2024, 1, 1), dt.date(2024, 1, 2)}
    # the last build was the last date
    assert str(wh.scalar("SELECT max(date_day) FROM dim_dates")) == "2024-01-02"
    assert (root / "output" / "logs" / "build_2024-01-01.log").is_file()

    again = _starloom_build(root, "--from", "2024-01-01", "--to", "2024-01-02", *SMALL)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _lines(again.stdout) == {"2024-01-01": "skipped", "2024-01-02": "skipped"}

    forced = _starloom_build(root, "--from", "2024-01-02", "--force", *SMALL)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _lines(forced.stdout) == {"2024-01-02": "built"}
    runs = wh.query_rows("SELECT count() FROM starloom_runs WHERE run_date = '2024-01-02'")
    assert runs[0][0] == 2


@pytest.mark.slow
def test_a_failing_date_stops_the_backfill_and_is_not_recorded(tmp_path):
    root = copy_project(tmp_path / "project")
    done = _starloom_build(
        root, "--from", "2024-01-01", "--to", "2024-01-02", "--", "--env--demo_size", "lots"
    )
    assert done.returncode == 2
    assert _lines(done.stdout) == {"2024-01-01": "failed"}
    assert "The build of run date 2024-01-01 failed" in done.stderr
    assert "output/logs/build_2024-01-01.log" in done.stderr
    assert completed_dates(Warehouse(load_settings(root))) == set()
