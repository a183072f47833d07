"""The key tables of docs/sources.md are those the loader checks, and its examples load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from starloom.errors import ConfigError
from starloom.ingestion.sources import load_source
from starloom.keys import LEVELS, check_keys, write_key_tables

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "sources.md"


def test_every_key_table_in_the_docs_is_current():
    pages = {p: (DOCS / p).read_text() for p in ("sources.md", "models.md")}
    for name, text in pages.items():
        assert write_key_tables(text) == text, (
            f"docs/{name} is behind starloom.keys: run "
            "`python -m starloom.keys docs/sources.md docs/models.md`"
        )
    for level in LEVELS:
        assert any(f"<!-- keys:{level} -->" in t for t in pages.values()), level


def _examples() -> list[str]:
    pages = (PAGE, DOCS / "howto.md")
    return [t for p in pages for t in re.findall(r"```yaml\n(.*?)```", p.read_text(), flags=re.S)]


def test_every_key_used_in_an_example_is_documented_and_every_example_loads(tmp_path):
    loaded = []
    for i, text in enumerate(_examples()):
        spec = yaml.safe_load(text)
        if "kind" not in spec:  # a fragment: the keys of one table, or of one column
            continue
        path = tmp_path / "sources" / f"example{i}.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        loaded.append(load_source(path, tmp_path).name)
    assert len(loaded) >= 3 and "shop" in loaded  # sources.md's, and howto.md's


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_a_misspelt_key_names_the_closest_one(level):
    key = next(iter(LEVELS[level]))
    with pytest.raises(ConfigError, match=f"unknown key `{key}x`. Did you mean `{key}`"):
        check_keys({f"{key}x": 1}, level, "here")


def test_every_model_of_the_demo_and_of_a_new_project_keeps_to_the_documented_keys(tmp_path):
    from starloom.models import load_models
    from starloom.scaffold import write_project

    assert load_models(DOCS.parent / "sql")
    assert load_models(write_project(tmp_path / "p") / "sql")


def test_an_unknown_model_key_names_the_closest(tmp_path):
    from starloom.errors import ModelError
    from starloom.models import load_models

    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "m.sql").write_text(
        "/* ---\nmaterialisation: table\n--- */\nSELECT 1 AS x\n"
    )
    with pytest.raises(ModelError, match="unknown key `materialisation`. Did you mean"):
        load_models(tmp_path)


def test_every_model_example_in_the_docs_loads(tmp_path):
    import re

    from starloom.models import load_models

    examples = [
        text
        for page in ("models.md", "howto.md")
        for text in re.findall(r"```sql\n(.*?)```", (DOCS / page).read_text(), flags=re.S)
    ]
    assert len(examples) >= 3
    for i, text in enumerate(examples):
        folder = tmp_path / str(i) / "marts"
        folder.mkdir(parents=True)
        (folder / "example.sql").write_text(text)
        for ref in re.findall(r"ref\('(\w+)'\)", text):  # the models it reads, as stubs
            stub = "/* ---\ndescription: stub\nmaterialization: view\n--- */\nSELECT 1 AS x\n"
            (folder / f"{ref}.sql").write_text(stub)
        assert load_models(folder.parent)["example"].sql
