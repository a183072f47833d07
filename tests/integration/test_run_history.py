"""`starloom runs`: the runs kept in the warehouse, and one run whole, joined by run id."""

from __future__ import annotations

import shutil

import pytest
from tests.integration.test_run_summary_warehouse import feed_project  # noqa: F401
from tests.support.project import declare_feed, feed_file

import starloom
from starloom import run_history, runs
from starloom.cli import main
from starloom.errors import StarloomError
from starloom.settings import load_settings

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
    assert text.splitlines()[0].split()[:3] == ["run", "command", "started"]
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


def _new_process(monkeypatch):
    """The environment of a new `starloom` process: no run id minted yet."""
    for name in (runs.ENV, runs.MINTED_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def _newest(wh) -> run_history.Run:
    return run_history.list_runs(wh, last=1)[0]


def test_a_refused_file_or_table_fails_its_run_naming_the_table(
    wh,
    feed_project,  # noqa: F811
    monkeypatch,
    capsys,
):
    _new_process(monkeypatch)
    assert main(["ingest", "--run-date", "2024-01-03"]) == 0
    ok = _newest(wh)
    assert (ok.command, ok.run_date, ok.status, ok.loaded) == ("ingest", "2024-01-03", "ok", 2)
    # a file the load refuses: the other files load, the run failed
    feed_file(feed_project.parent / "project", "2024-01-02").write_text("")
    _new_process(monkeypatch)
    assert main(["ingest", "--run-date", "2024-01-03"]) == 2
    refused = _newest(wh)
    assert (refused.command, refused.status, refused.failed) == ("ingest", "failed: feed.items", 0)
    assert refused.command_failed and "could not be loaded" in refused.error
    text = run_history.format_runs(run_history.list_runs(wh))
    assert text.splitlines()[1].split()[1:2] == ["ingest"]
    assert text.splitlines()[1].endswith("failed: feed.items")
    capsys.readouterr()
    assert main(["runs", refused.run_id]) == 0
    out = capsys.readouterr().out
    assert "  status   failed: feed.items" in out.splitlines()
    why = out.split("\nrefused\n")[1].split("\n\n")[0]
    assert "feed.items" in why and "empty file" in why
    # a table refused whole (its contract no longer matches its raw table): named too
    declare_feed(feed_project.parent / "project", {"item_id": {"type": "string"}})
    _new_process(monkeypatch)
    assert main(["ingest", "--run-date", "2024-01-03"]) == 2
    whole = _newest(wh)
    assert whole.status == "failed: feed.items" and whole.loaded == 0
    assert "no longer matches" in run_history.show_run(wh, whole.run_id)


def test_a_failed_build_names_its_model_and_commands_are_listed_with_their_run_date(
    project,
    wh,
    feed_project,  # noqa: F811
    monkeypatch,
):
    shutil.rmtree(project / "sql")
    shutil.copytree(feed_project, project / "sql")  # the project's models are these
    _new_process(monkeypatch)
    assert main(["ingest", "--run-date", "2024-01-03"]) == 0
    _new_process(monkeypatch)
    assert main(["build", "--run-date", "2024-01-04"]) == 0
    _new_process(monkeypatch)
    assert main(["build", "--run-date", "2024-01-05"]) == 0  # nothing new: no load, no build
    idle = _newest(wh)
    assert (idle.command, idle.run_date, idle.up_to_date, idle.status) == (
        "build", "2024-01-05", 1, "ok",
    )  # fmt: skip
    dim = project / "sql" / "marts" / "dim_items.sql"
    dim.write_text(dim.read_text().replace("SELECT item_id, name", "SELECT item_id, nope"))
    _new_process(monkeypatch)
    assert main(["build", "--run-date", "2024-01-06"]) == 2
    broken = _newest(wh)
    assert (broken.command, broken.run_date, broken.built) == ("build", "2024-01-06", 1)
    assert broken.status == "failed: dim_items"
    _new_process(monkeypatch)
    assert main(["test"]) == 0  # the table of the last good build
    tested = _newest(wh)
    assert (tested.command, tested.tests, tested.status) == ("test", 2, "ok")
    assert tested.run_date == str(load_settings().run_date)  # its tests' run date
    lines = run_history.format_runs(run_history.list_runs(wh)).splitlines()
    assert [line.split()[1] for line in lines[1:]] == ["test", "build", "build", "build", "ingest"]
    assert lines[1].split()[4] == tested.run_date and lines[3].split()[4] == "2024-01-05"
    status = lines[0].index("status")  # aligned: every status starts under its header
    assert [line[status:] for line in lines[1:4]] == ["ok", "failed: dim_items", "ok"]
