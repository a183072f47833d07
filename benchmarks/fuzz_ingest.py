"""Differential fuzz of ingestion: generated CSV and JSON-lines files, damaged at random,
loaded on the embedded engine and compared row by row with a reference reading of the rules.

    python benchmarks/fuzz_ingest.py [--files 300] [--seed 1] [--variant all]
                                     [--days 3] [--per-file] [--keep DIR] [--show 40]

The files are split evenly among the variants (`csv`: the default path, `csv-engine`:
`landing: none`, `jsonl`) and the day folders; each variant is one load. The generator and
the reference are those of tests/integration/test_ingest_fuzz.py (tests/support/
csv_reference.py), so a seed that fails here fails there. `--per-file` loads each file on
its own (keys then checked within the file only): a file that breaks a whole load then
hides no other. Prints files, rows, loaded, quarantined, mismatches and the rows the engine
read itself per variant, then the mismatches; exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]  # this checkout's code and its tests package

from tests.support.csv_reference import generate  # noqa: E402
from tests.support.ingest_diff import VARIANTS, Outcome, fmt_of, run_load  # noqa: E402

from starloom.settings import Settings  # noqa: E402
from starloom.warehouse import Warehouse  # noqa: E402


def days_from(start: str, n: int) -> list[str]:
    import datetime as dt

    first = dt.date.fromisoformat(start)
    return [(first + dt.timedelta(days=k)).isoformat() for k in range(n)]


def fuzz_variant(work: Path, variant: str, seed: int, days: list[str], per_day: int, per_file):
    """One variant's files generated, loaded in a project of their own, compared."""
    project = work / variant
    (project / "sources").mkdir(parents=True)
    wh = Warehouse(Settings(project_dir=project, warehouse_path=project / ".warehouse"))
    files = generate(seed, fmt_of(variant), days, per_day)
    label = f"seed {seed} {variant}"
    if not per_file:
        return run_load(wh, project, variant, files, label)
    total = Outcome()
    for k, (rel, data) in enumerate(sorted(files.items())):
        total.add(run_load(wh, project, variant, {rel: data}, f"{label} {rel}", f"f{k:04d}"))
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300, help="files in all (default 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=["all", *VARIANTS], default="all")
    ap.add_argument("--days", type=int, default=3, help="day folders per variant")
    ap.add_argument("--per-file", action="store_true", help="load each file on its own")
    ap.add_argument("--keep", type=Path, help="keep the projects (files, warehouse) here")
    ap.add_argument("--show", type=int, default=40, help="mismatches printed in full")
    args = ap.parse_args()

    variants = list(VARIANTS) if args.variant == "all" else [args.variant]
    days = days_from("2024-01-01", args.days)
    per_day = max(1, math.ceil(args.files / (len(variants) * len(days))))
    work = Path(tempfile.mkdtemp(prefix="fuzz-ingest-"))
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        work = args.keep
    total = Outcome()
    print(
        f"{'variant':<12}{'files':>7}{'rows':>8}{'loaded':>8}{'quarant.':>10}{'mismatch':>10}"
        f"{'engine':>8}{'seconds':>9}"
    )
    try:
        for variant in variants:
            started = time.perf_counter()
            out = fuzz_variant(work, variant, args.seed, days, per_day, args.per_file)
            seconds = time.perf_counter() - started
            total.add(out)
            print(
                f"{variant:<12}{out.files:>7}{out.rows:>8}{out.loaded:>8}{out.quarantined:>10}"
                f"{len(out.mismatches):>10}{out.engine:>8}{seconds:>9.1f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'all':<12}{total.files:>7}{total.rows:>8}{total.loaded:>8}{total.quarantined:>10}"
        f"{len(total.mismatches):>10}{total.engine:>8}"
    )
    if total.mismatches:
        print()
        print(total.report(args.show))
    return 1 if total.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
