"""The benchmark at a tiny scale: it runs every path and the TPC-H answers match (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_bench_runs_and_tpch_answers_match(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench.py"),
            "--sf",
            "0.01",
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
    (result,) = tmp_path.glob("results-sf0.01-*.json")
    summary = json.loads(result.read_text())
    assert summary["answers_ok"] is True
    starloom = summary["runs"]["starloom"][0]
    # every generated row arrives, through the contracts, nothing quarantined on clean data
    assert starloom["rows"] == summary["runs"]["file"][0]["rows"] > 60_000
    assert starloom["quarantined"] == 0 and starloom["tests_failed"] == 0
    assert set(summary["ratios"]) == {"ingest_speed_vs_file", "whole_path_speedup_vs_pandas"}
