"""The benchmark at a tiny scale: it runs every path and every stage, and the TPC-H answers
match (no timing)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_increment_repeats_every_hundredth_order_with_new_keys(tmp_path):
    day = tmp_path / "date=1998-08-02"
    day.mkdir()
    orders = ["o_orderkey,o_custkey,o_comment"] + [f'{k},{k % 7},"c, {k}"' for k in range(1, 251)]
    lines = ["l_orderkey,l_linenumber,l_comment"]
    lines += [f'{k},{n},"l {k}-{n}"' for k in range(1, 251) for n in (1, 2, 3)]
    (day / "orders.csv").write_text("\n".join(orders) + "\n")
    (day / "lineitem.csv").write_text("\n".join(lines) + "\n")

    written = _bench_module().write_increment(day, tmp_path / "date=1998-08-03")

    # orders 1, 101 and 201, keys shifted past the largest (250), each with its 3 lines
    assert written == {"orders": 3, "lineitem": 9}
    new_orders = (tmp_path / "date=1998-08-03" / "orders.csv").read_text().splitlines()
    assert new_orders == [orders[0], '251,1,"c, 1"', '351,3,"c, 101"', '451,5,"c, 201"']
    new_lines = (tmp_path / "date=1998-08-03" / "lineitem.csv").read_text().splitlines()
    assert new_lines[0] == lines[0] and len(new_lines) == 10
    assert new_lines[1:4] == ['251,1,"l 1-1"', '251,2,"l 1-2"', '251,3,"l 1-3"']
    assert {line.split(",")[0] for line in new_lines[1:]} == {"251", "351", "451"}


@pytest.mark.slow
def test_bench_runs_and_tpch_answers_match(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench.py"),
            "--sf",
            "0.01",
            "--memory-limit-mb",
            "800",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Q1/Q6 against the official answers: ok" in done.stdout
    assert "engine memory limit 800 MiB" in done.stdout
    assert "the demo, each command a new process: first `starloom run`" in done.stdout
    for stage in ("starloom report notebook", "starloom no-op rebuild", "starloom +1% increment"):
        assert stage in done.stdout
    (result,) = tmp_path.glob("results-sf0.01-*.json")
    summary = json.loads(result.read_text())
    assert summary["answers_ok"] is True
    starloom = summary["runs"]["starloom"][0]
    # every generated row arrives, through the contracts, nothing quarantined on clean data
    assert starloom["rows"] == summary["runs"]["file"][0]["rows"] > 60_000
    assert starloom["quarantined"] == 0 and starloom["tests_failed"] == 0
    # what a scale factor without official answers is checked by: the engine's own load
    assert starloom["q_rows"] == summary["runs"]["file"][0]["q_rows"]
    assert len(starloom["q_rows"]["q01"]) == 4 and summary["memory_limit_mb"] == "800"
    commands = summary["commands"]
    assert commands["cold_run_s"] > commands["noop_run_s"] > commands["sql_select_1_s"] > 0
    assert set(summary["ratios"]) == {
        "increment_vs_full",
        "noop_vs_full",
        "ingest_speed_vs_file",
        "whole_path_speedup_vs_pandas",
    }

    # each path ran in its own process and has its own peak RSS
    assert set(summary["peak_rss_mb_by_path"]) == {"starloom", "file", "pandas"}
    assert all(mb > 0 for mb in summary["peak_rss_mb_by_path"].values())
    assert summary["peak_rss_mb"] > 0
    for who in ("starloom", "file", "pandas"):
        assert summary["runs"][who][0]["peak_rss_own_mb"] > 0
    assert starloom["peak_rss_children_mb"] > 0  # the notebook kernel
    # sampled at once: never above the sum of each process's own peak
    assert 0 < starloom["peak_rss_together_mb"] <= starloom["peak_rss_mb"]

    # the report notebook ran to the end: a plot, tables, its promises kept, no error
    notebook = json.loads(Path(starloom["report"]).read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    printed = "".join("".join(o["text"]) for o in outputs if o["output_type"] == "stream")
    assert "regions add up to the fact's revenue: True" in printed
    assert "top customers ranked by revenue: True" in printed

    # nothing changed: nothing loaded, nothing appended to the fact
    assert starloom["noop_rows"] == 0 and starloom["noop_fact_rows_written"] == 0
    assert "fct_lineorder" not in starloom["noop_rebuilt"]

    # the increment: exactly the new rows loaded and appended, the fact still whole
    generated = starloom["increment_generated"]
    assert generated["orders"] == 150 and generated["lineitem"] > 0
    assert starloom["increment_rows"] == generated["orders"] + generated["lineitem"]
    assert starloom["increment_fact_rows_written"] == generated["lineitem"]
    assert starloom["increment_tests_failed"] == 0
    assert starloom["fact_rows"] == starloom["lineitem_rows"]
    assert starloom["lineitem_rows"] == starloom["fact_rows_written"] + generated["lineitem"]
