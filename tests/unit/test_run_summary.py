"""The lines `starloom run` prints at the end of a run."""

from __future__ import annotations

from starloom.run_summary import RunSummary


def test_a_run_that_loaded_and_built():
    summary = RunSummary(
        run_id="abc123",
        run_date="2024-01-03",
        seconds=12.34,
        tasks_ran={"ingest": 3.0, "build_models": 2.5},
        tasks_skipped=["report"],
        loads={"raw_example__sales": (7, 0), "raw_example__refunds": (1200, 3)},
        models_built=["dim_customers", "fct_sales"],
        models_skipped=["dim_dates"],
        tests={"pass": 8, "fail": 1},
        reports="output/index.html",
    )
    assert summary.lines() == [
        "run abc123 (run date 2024-01-03), 12.3 s",
        "  tasks   2 ran, 1 up to date",
        "  loads   raw_example__refunds: 1,200 rows (3 quarantined), raw_example__sales: 7 rows",
        "  models  2 built (dim_customers, fct_sales), 1 up to date",
        "  tests   8 passed, 0 warned, 1 failed",
        "  reports output/index.html",
    ]
    assert summary.tests_failed == 1


def test_a_run_with_nothing_new():
    summary = RunSummary(
        run_id="abc123",
        tasks_ran={"ingest": 1.0},
        loads={"raw_example__sales": (0, 0)},
        models_skipped=["dim_customers", "fct_sales"],
    )
    text = str(summary)
    assert "raw_example__sales: nothing new" in text
    assert "models  0 built, 2 up to date" in text
    assert "tests   none ran (their models were up to date)" in text


def test_nothing_loaded_long_lists_and_an_unreadable_warehouse():
    nothing = RunSummary(run_id="r", tasks_skipped=["ingest"])
    assert "loads   nothing loaded in this run" in str(nothing)
    many = RunSummary(run_id="r", models_built=[f"m{i}" for i in range(12)])
    assert "(m0, m1, m2, m3, m4, m5, m6, m7 and 4 more)" in str(many)
    unread = RunSummary(run_id="r", unread="the warehouse is held by process 42")
    assert str(unread).splitlines()[-1] == (
        "  warehouse not read: the warehouse is held by process 42"
    )


def test_a_failed_run_names_the_task_that_failed():
    summary = RunSummary(
        run_id="r", tasks_ran={"ingest": 1.0}, tasks_failed=["build_models"], tasks_not_run=["a"]
    )
    assert "  tasks   1 ran, 0 up to date, 1 failed (build_models), 1 not run" in summary.lines()


def test_long_lines_wrap_under_the_label():
    loads = {f"raw_shop__table_{i}": (1000, 2) for i in range(6)}
    lines = RunSummary(run_id="r", loads=loads).lines()
    loads_lines = lines[2 : lines.index("  models  0 built, 0 up to date")]
    assert len(loads_lines) > 1 and max(map(len, lines)) <= 96
    assert loads_lines[0] == "  loads   raw_shop__table_0: 1,000 rows (2 quarantined),"
    assert all(line.startswith(" " * 10 + "raw_shop__table_") for line in loads_lines[1:])


def test_a_test_whose_query_failed_counts_as_failed():
    summary = RunSummary(run_id="r", tests={"pass": 3, "error": 1})
    assert "  tests   3 passed, 0 warned, 1 failed (1 errored: its query failed)" in summary.lines()
    assert summary.tests_failed == 1


def test_a_failed_model_and_a_refused_table_are_named():
    summary = RunSummary(
        run_id="r",
        loads={"raw_feed__items": (0, 0), "raw_feed__prices": (5, 1), "raw_feed__tags": (2, 0)},
        refused={"raw_feed__items": "refused", "raw_feed__prices": "1 file(s) refused"},
        models_built=["stg_feed__items"],
        models_failed=["dim_items"],
    )
    lines = summary.lines()
    assert lines[2] == (
        "  loads   raw_feed__items: refused, raw_feed__prices: 5 rows (1 quarantined), 1 file(s) "
        "refused,"
    )
    assert lines[3] == " " * 10 + "raw_feed__tags: 2 rows"
    assert "  models  1 built (stg_feed__items), 0 up to date, 1 failed (dim_items)" in lines


def test_a_warehouse_the_caller_could_not_open_is_not_tried_again(tmp_path):
    """starloom run opens the warehouse once for its record and its summary: when that
    fails, the summary says why and does not wait for the warehouse a second time."""
    from types import SimpleNamespace

    from starloom.errors import WarehouseLockedError
    from starloom.run_summary import summarize

    class NeverRead:
        settings = SimpleNamespace(project_dir=tmp_path, output_dir=tmp_path / "output")

        def __getattr__(self, name):
            raise AssertionError(f"the warehouse was used: {name}")

    held = WarehouseLockedError("The embedded warehouse at x is held by process 7.\nmore")
    summary = summarize(NeverRead(), "r1", ran={"ingest": 1.0}, unread=held)
    assert summary.unread == "The embedded warehouse at x is held by process 7."
