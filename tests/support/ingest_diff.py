"""Ingest generated files on the real embedded engine and compare the outcome, row by row,
with the reference reading of the rules (tests.support.csv_reference).

Shared by tests/integration/test_ingest_fuzz.py and benchmarks/fuzz_ingest.py, so that a
mismatch the benchmark shows is one the test finds, with the same seed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from starloom.ingestion.load import ingest
from starloom.warehouse import Warehouse
from tests.support.csv_reference import CONTRACT, PRIMARY_KEY, Row, expected_rows, same_text
from tests.support.project import write_source

# how each variant declares the source: the default CSV path (`landing` absent), the CSV
# read by the engine itself (`landing: none`) and JSON lines
VARIANTS = {
    "csv": {"format": "csv"},
    "csv-engine": {"format": "csv", "landing": "none"},
    "jsonl": {"format": "jsonl"},
}


def fmt_of(variant: str) -> str:
    return "jsonl" if variant == "jsonl" else "csv"


def declare(project: Path, variant: str, source: str = "feed") -> None:
    """sources/<source>.yml: one table `items` of the fuzz contract, keyed by id, read from
    data/<source>/date=*/ ."""
    ext = fmt_of(variant)
    items = {
        "path": f"data/{source}/date=*/*.{ext}",
        "partition_key": "date",
        "primary_key": [PRIMARY_KEY],
        "allow_empty": True,  # a generated file may hold no row: that empties its day
        "columns": CONTRACT,
    }
    write_source(project, source, {"items": items}, kind="files", **VARIANTS[variant])


def write_files(project: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclass
class Outcome:
    """What one load gave against the reference."""

    files: int = 0
    rows: int = 0  # rows in, by the reference
    loaded: int = 0
    quarantined: int = 0
    engine: int = 0  # rows read by the engine itself (`landing: none`), by the summary
    mismatches: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)

    def add(self, other: Outcome) -> None:
        self.files += other.files
        self.rows += other.rows
        self.loaded += other.loaded
        self.quarantined += other.quarantined
        self.engine += other.engine
        self.mismatches += other.mismatches

    def report(self, limit: int = 40) -> str:
        """The mismatches by kind, then the first `limit` of them in full."""
        kinds = Counter(kind for kind, _ in self.mismatches)
        lines = [
            f"{len(self.mismatches)} mismatches: "
            + ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        ]
        lines += [message for _, message in self.mismatches[:limit]]
        if len(self.mismatches) > limit:
            lines.append(f"... and {len(self.mismatches) - limit} more")
        return "\n".join(lines)


def _select_list() -> str:
    """The raw table's columns as text that compares exactly: strings as hex (any bytes),
    datetimes in UTC with their full fraction, the rest as the engine writes them."""
    out = []
    for name, spec in CONTRACT.items():
        col = f"`{name}`"
        if spec["type"] == "string":
            out.append(f"hex({col})")
        elif spec["type"] == "datetime":
            out.append(f"toString({col}, 'UTC')")
        else:
            out.append(f"toString({col})")
    return ", ".join(out)


_STORED_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?")


def _same(ctype: str, expected, got) -> bool:
    """A loaded value (as text from the engine) equals the reference's typed value."""
    if expected is None or got is None:
        return expected is None and got is None
    try:
        if ctype == "int64":
            return int(got) == expected
        if ctype.startswith("decimal"):
            return Decimal(got) == expected
        if ctype == "date":
            return got == expected.isoformat()
        if ctype == "datetime":
            m = _STORED_DATETIME.fullmatch(got)
            if not m:
                return False
            whole = dt.datetime.fromisoformat(m.group(1))
            fraction = Decimal("0." + (m.group(2) or "0"))
            return whole == expected.replace(microsecond=0) and fraction == Decimal(
                expected.microsecond
            ) / Decimal(10**6)
    except (ValueError, InvalidOperation):
        return False
    raise ValueError(ctype)


def _wrong_columns(row: Row, got: tuple) -> list[tuple]:
    """(column, expected, got) for each loaded value that differs from the reference's."""
    wrong = []
    for (name, spec), value in zip(CONTRACT.items(), got):
        want = row.values[name]
        if spec["type"] == "string":
            text = None if value is None else _shown("string", value)
            same = (want is None and text is None) or (
                want is not None and text is not None and same_text(want, text, row.text_has_crlf)
            )
        else:
            same = _same(spec["type"], want, value)
        if not same:
            wrong.append((name, want, value))
    return wrong


def _shown(ctype: str, got):
    """A loaded value as a person reads it in a report (strings decoded from hex)."""
    if got is not None and ctype == "string":
        return bytes.fromhex(got).decode("utf-8", errors="backslashreplace")
    return got


def _record_text(data: bytes, line: int) -> str:
    """The file's line `line` (and a bit), for a mismatch report."""
    lines = data.split(b"\n")
    text = b"\n".join(lines[line - 1 : line + 1]) if 0 < line <= len(lines) else b""
    return repr(text[:160])


def compare(
    label: str,
    files: dict[str, bytes],
    expected: dict[str, list[Row]],
    loaded: list[tuple],
    quarantined: list[tuple],
    summary: dict,
) -> Outcome:
    """Every rule of the comparison, file by file; `label` (seed and variant) starts each
    mismatch message so that it can be reproduced."""
    out = Outcome(files=len(files), loaded=len(loaded), quarantined=len(quarantined))
    out.engine = int(summary.get("rows_engine", 0))
    out.rows = sum(len(rows) for rows in expected.values())

    def miss(kind: str, where: str, text: str) -> None:
        out.mismatches.append((kind, f"{label}: {where}: {kind}: {text}"))

    got_rows: dict[tuple, list] = {}
    for row in loaded:
        got_rows.setdefault((row[0], row[1]), []).append(row[2:])
    got_bad: dict[tuple, list[str]] = {}
    for file, line, reason in quarantined:
        got_bad.setdefault((file, line), []).append(reason)
    for key in sorted(set(got_rows) | set(got_bad), key=str):
        if key[0] not in files:
            miss("unknown file", f"{key[0]} line {key[1]}", "a row from a file not written")
    types = [spec["type"] for spec in CONTRACT.values()]
    for file in sorted(files):
        rows = expected[file]
        starts = {row.line for row in rows}
        n_loaded = sum(len(v) for (f, _), v in got_rows.items() if f == file)
        n_bad = sum(len(v) for (f, _), v in got_bad.items() if f == file)
        if len(rows) != n_loaded + n_bad:
            miss(
                "row count",
                file,
                f"expected {len(rows)} rows in, got {n_loaded} loaded + {n_bad} quarantined",
            )
        for f, line in sorted({k for k in (*got_rows, *got_bad) if k[0] == file}, key=str):
            times = len(got_rows.get((f, line), [])) + len(got_bad.get((f, line), []))
            if line not in starts:
                miss(
                    "no row starts there",
                    f"{file} line {line}",
                    f"expected no row, got {'quarantined' if (f, line) in got_bad else 'loaded'}"
                    f" {_record_text(files[file], line) if line else ''}",
                )
            elif times > 1:
                miss("row twice", f"{file} line {line}", f"expected once, got {times} times")
        for row in rows:
            where = f"{file} line {row.line}"
            got = got_rows.get((file, row.line))
            reasons = got_bad.get((file, row.line))
            record = _record_text(files[file], row.line)
            if got is None and reasons is None:
                miss("row lost", where, f"expected {row.reason or 'loaded'}, got nothing {record}")
            elif row.ok and got is None:
                miss(
                    "valid row quarantined",
                    where,
                    f"expected loaded {row.values}, got quarantined ({reasons[0]}) {record}",
                )
            elif not row.ok and got is not None:
                shown = dict(zip(CONTRACT, (_shown(t, v) for t, v in zip(types, got[0]))))
                miss(
                    "bad row loaded",
                    where,
                    f"expected quarantined ({row.reason}), got loaded {shown} {record}",
                )
            elif row.ok:
                wrong = _wrong_columns(row, got[0])
                # a row loaded under another row's line number differs in most columns:
                # said once, naming the line whose values it holds
                closest = min(
                    (r for r in rows if r.ok), key=lambda r: len(_wrong_columns(r, got[0]))
                )
                if wrong and closest is not row and len(_wrong_columns(closest, got[0])) < 3:
                    miss(
                        "wrong line number",
                        where,
                        f"expected the values of line {row.line}, got those of line "
                        f"{closest.line} {record}",
                    )
                    wrong = []
                for name, want, value in wrong:
                    ctype = CONTRACT[name]["type"]
                    miss(
                        f"wrong {ctype} value",
                        where,
                        f"column {name}: expected {want!r}, got {_shown(ctype, value)!r} {record}",
                    )
            elif reasons is not None:
                duplicate = row.reason.startswith("duplicate primary key")
                said = reasons[0].startswith("duplicate primary key")
                if duplicate != said:
                    miss(
                        "wrong reason",
                        where,
                        f"expected {row.reason!r}, got {reasons[0]!r} {record}",
                    )
    read, n_in, n_out = summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]
    if not read == n_in + n_out == out.rows:
        miss(
            "summary",
            "the load",
            f"expected rows_read = loaded + quarantined = {out.rows}, got rows_read {read}, "
            f"rows_loaded {n_in}, rows_quarantined {n_out}",
        )
    return out


def run_load(
    wh: Warehouse,
    project: Path,
    variant: str,
    files: dict[str, bytes],
    label: str,
    source: str = "feed",
) -> Outcome:
    """Declare the source, write `files` (paths under data/feed/), ingest them all in one
    call on the real engine and compare what it loaded and quarantined with the reference."""
    files = {rel.replace("data/feed/", f"data/{source}/", 1): data for rel, data in files.items()}
    declare(project, variant, source)
    write_files(project, files)
    expected = expected_rows(files, fmt_of(variant))
    last_day = max(re.search(r"date=([\d-]+)", rel).group(1) for rel in files)
    try:
        summary = ingest(wh, source, run_date=last_day).iloc[0].to_dict()
    except Exception as exc:  # the load itself broke: one mismatch, with the seed
        out = Outcome(files=len(files), rows=sum(len(r) for r in expected.values()))
        out.mismatches.append(("ingest failed", f"{label}: ingest failed: {exc}"))
        return out
    table = f"raw_{source}__items"
    loaded = wh.query_rows(f"SELECT _source_file, _source_line, {_select_list()} FROM {table}")
    quarantined = wh.query_rows(
        "SELECT file, line, reason FROM starloom_quarantine "
        "WHERE source = {s:String} AND entity = 'items'",
        {"s": source},
    )
    return compare(label, files, expected, loaded, quarantined, summary)
