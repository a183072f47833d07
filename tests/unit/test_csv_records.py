"""The CSV reader gives the same records whatever size its blocks: generated files full
of quotes and line breaks, read in blocks of a few bytes and in one block."""

from __future__ import annotations

import io
import random

import pytest

from starloom.ingestion import csv_records
from starloom.ingestion.csv_records import CsvDialect, read_records

NAMES = ["a", "b", "c"]
TOKENS = ["a", "p", "q", '"', '""', '"x"', ",", ",", "\n", "\n", "\r\n", " "]


def _read(data: bytes, block: int, monkeypatch) -> tuple[list, list]:
    monkeypatch.setattr(csv_records, "BLOCK_BYTES", block)
    rows, bad = [], []
    for chunk in read_records(io.BufferedReader(io.BytesIO(data)), CsvDialect(), NAMES, 2):
        values = zip(*(chunk.columns[n].to_pylist() for n in NAMES), strict=True)
        rows += zip(chunk.lines.tolist(), values, strict=True)
        bad += [(line, reason, text) for line, reason, text in chunk.bad]
    return sorted(rows), sorted(bad)


def test_a_record_borrowing_lines_after_one_gave_them_back_reads_them_in_order(monkeypatch):
    data = b'"\nq""","\n"p\n\n'  # the bad record of line 3 gives its borrowed lines back
    assert _read(data, 7, monkeypatch) == _read(data, 1 << 20, monkeypatch)


@pytest.mark.parametrize("seed", range(3))
def test_blocks_of_any_size_read_the_same_records(monkeypatch, seed):
    rng = random.Random(seed)
    for _ in range(400):
        data = "".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 40))).encode()
        whole = _read(data, 1 << 20, monkeypatch)
        for block in (1, 3, 7, 15):
            assert _read(data, block, monkeypatch) == whole, (data, block)
