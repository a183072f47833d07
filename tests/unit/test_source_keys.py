"""The key tables of docs/sources.md are those the loader checks, and its examples load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from starloom.errors import ConfigError
from starloom.source_keys import LEVELS, check_keys, write_key_tables
from starloom.sources import load_source

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sources.md"


def test_every_key_table_in_the_docs_is_current():
    text = PAGE.read_text()
    assert write_key_tables(text) == text, (
        "docs/sources.md is behind starloom.source_keys: run "
        "`python -m starloom.source_keys docs/sources.md`"
    )
    for level in LEVELS:
        assert f"<!-- keys:{level} -->" in text, f"the docs have no table of {level} keys"


def _examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_every_key_used_in_an_example_is_documented_and_every_example_loads(tmp_path):
    loaded = 0
    for i, text in enumerate(_examples()):
        spec = yaml.safe_load(text)
        if "kind" not in spec:  # a fragment: the keys of one table, or of one column
            continue
        path = tmp_path / "sources" / f"example{i}.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        load_source(path, tmp_path)
        loaded += 1
    assert loaded >= 2


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_a_misspelt_key_names_the_closest_one(level):
    key = next(iter(LEVELS[level]))
    with pytest.raises(ConfigError, match=f"unknown key `{key}x`. Did you mean `{key}`"):
        check_keys({f"{key}x": 1}, level, "here")
