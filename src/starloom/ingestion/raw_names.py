"""The name of the raw table a source's table is loaded into: raw_<source>__<table>.

Apart from starloom.ingestion.sources so that what needs only the name (model definitions,
the run summary, the docs site) does not load the contracts and with them pandas and
pyarrow: `starloom run` with nothing to do starts faster."""

from __future__ import annotations


def raw_table(source: str, table: str) -> str:
    """The warehouse table a source's table is loaded into: raw_<source>__<table>."""
    return f"raw_{source}__{table}"
