"""Names and paths that must not change what a load reads or drops."""

from __future__ import annotations

import pytest
from tests.support.loads import load_files

from starloom.errors import ConfigError

COLUMNS = {"id": {"type": "int64", "nullable": False}, "name": {"type": "string"}}


@pytest.mark.parametrize("landing", ["parquet", "none"])
@pytest.mark.parametrize("folder", ["proj{1}", "proj*", "proj[a]", "proj?x"])
def test_a_project_folder_with_pattern_characters_loads_its_own_files(tmp_path, folder, landing):
    sibling = tmp_path / "proj1" / "data/feed/date=2024-01-04/a.csv"  # what `proj{1}` would read
    sibling.parent.mkdir(parents=True)
    sibling.write_text("id,name\n9,not mine\n")
    files = {
        "data/feed/date=2024-01-04/a.csv": "id,name\n1,a\n2,b\n",
        "data/feed/date=2024-01-04/brace{x}.csv": "id,name\n3,c\n",
    }
    loaded = load_files(tmp_path / folder, files, COLUMNS, landing=landing)
    assert sorted(loaded.rows.id) == [1, 2, 3]
    assert loaded.summary["rows_loaded"] == 3


def test_loading_a_table_leaves_a_sibling_named_like_its_aside_alone(tmp_path):
    root = tmp_path / "p"
    files = {"data/feed/date=2024-01-04/a.csv": "id,name\n1,a\n"}
    first = load_files(root, files, COLUMNS)
    first.wh.command(
        "CREATE TABLE raw_feed__items__load_x (id Int64) ENGINE = MergeTree ORDER BY id"
    )
    first.wh.command("INSERT INTO raw_feed__items__load_x VALUES (7)")
    files = {"data/feed/date=2024-01-05/b.csv": "id,name\n2,b\n"}
    again = load_files(root, files, COLUMNS)
    assert again.wh.count("raw_feed__items__load_x") == 1


@pytest.mark.parametrize("name", ["../../outside", "a b", "x;drop", "1abc"])
def test_a_source_name_that_is_not_an_identifier_is_refused(tmp_path, name):
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "feed.yml").write_text(
        f"source: '{name}'\nkind: files\nformat: csv\n"
        "tables: {items: {path: x.csv, columns: {id: {type: int64}}}}\n"
    )
    from starloom.ingestion.sources import load_sources

    with pytest.raises(ConfigError, match="may hold only letters, digits and underscores"):
        load_sources(tmp_path / "sources", tmp_path)


def test_a_landing_folder_outside_the_output_folder_is_refused(tmp_path):
    from starloom.errors import StarloomError
    from starloom.ingestion.contracts import Contract
    from starloom.ingestion.load import _landing_root
    from starloom.ingestion.sources import Entity, Source
    from starloom.settings import Settings
    from starloom.warehouse import Warehouse

    wh = Warehouse(Settings(project_dir=tmp_path, warehouse_path=tmp_path / ".warehouse"))
    contract = Contract.from_dict({"id": {"type": "int64"}}, "t")
    for source, table in (("..", ".."), ("../../x", "t"), ("s", "../../..")):
        entity = Entity(source=source, name=table, contract=contract)
        with pytest.raises(StarloomError, match="is outside"):
            _landing_root(wh, Source(source, "files", (entity,)), entity)
