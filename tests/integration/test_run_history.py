"""`starloom runs`: the runs kept in the warehouse, and one run whole, joined by run id."""

from __future__ import annotations

import pytest
from tests.integration.test_run_summary_warehouse import feed_project  # noqa: F401

import starloom
from starloom import run_history
from starloom.cli import main
from starloom.errors import StarloomError

pytestmark = pytest.mark.usefixtures("project")


def _two_runs(wh, sql_dir):
    for run_id in ("aaa111first", "aaa222second"):
        starloom.ingest(wh, run_date="2024-01-03", run_id=run_id)
        starloom.build(wh, run_date="2024-01-03", run_id=run_id, sql_dir=sql_dir)
        starloom.check_freshness(wh, run_date="2024-01-03", run_id=run_id)
        starloom.record_stats(wh, run_date="2024-01-03", run_id=run_id)


def test_the_runs_newest_first_with_what_each_did(wh, feed_project):  # noqa: F811
    _two_runs(wh, feed_project)
    runs = run_history.list_runs(wh)
    assert [r.run_id for r in runs] == ["aaa222second", "aaa111first"]
    second, first = runs
    assert (first.loaded, first.quarantined, first.built, first.up_to_date) == (2, 1, 2, 0)
    assert (first.tests, first.failed, first.run_date) == (2, 0, "2024-01-03")
    # nothing new: the file is not read again, the table model is up to date
    assert (second.loaded, second.built, second.up_to_date, second.tests) == (0, 1, 1, 0)
    assert run_history.list_runs(wh, last=1) == [second]
    text = run_history.format_runs(runs)
    assert text.splitlines()[0].split()[:2] == ["run", "started"]
    assert text.splitlines()[2].startswith("aaa111first")


def test_one_run_whole_by_a_prefix_of_its_id(wh, feed_project, capsys):  # noqa: F811
    _two_runs(wh, feed_project)
    assert main(["runs", "aaa1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run aaa111first\n")
    assert "feed.items" in out and "dim_items" in out and "stg_feed__items" in out
    loads = out.split("\nloads\n")[1].split("\n\n")[0].splitlines()
    assert loads[1].split()[:5] == ["feed.items", "2024-01-03", "3", "2", "1"]
    tests = out.split("\ntests\n")[1].split("\n\n")[0].splitlines()
    assert tests[1].split() == ["pass", "2"]
    stats = out.split("\ntable stats\n")[1].splitlines()
    assert ["raw_feed__items", "2"] in [line.split() for line in stats]  # its total, once


def test_a_prefix_of_several_runs_or_of_none_is_an_error(wh, feed_project, capsys):  # noqa: F811
    _two_runs(wh, feed_project)
    with pytest.raises(StarloomError, match=r"2 run ids start with 'aaa'.*give more of it"):
        run_history.show_run(wh, "aaa")
    assert main(["runs", "zzz"]) == 2
    assert "No run id starts with 'zzz'" in capsys.readouterr().err


def test_a_warehouse_with_no_runs(wh, capsys):
    assert main(["runs"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
