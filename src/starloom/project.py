"""A project folder, loaded once: its settings, its sources, its models and its paths.

    project/
      pipeline.yaml     the DAG (marks the project's root)
      env.yaml          settings (starloom.settings): run_date, warehouse, project_name, ...
      sources/*.yml     sources and their contracts (starloom.ingestion.sources)
      sql/<layer>/*.sql models (starloom.models.definition)
      notebooks/        the pipeline's steps
      output/           what runs write: executed notebooks, reports, docs, landing Parquet

Everything else asks a Project for these instead of reading the files or building the
paths itself. A Project reads each file the first time it is asked for it and keeps the
result, so one run parses sources/ and sql/ once; load a new Project to see edits.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from starloom.errors import ConfigError
from starloom.settings import PROJECT_MARKER, Settings, load_settings, parse_date, read_yaml

if TYPE_CHECKING:
    from starloom.ingestion.sources import Entity, Source
    from starloom.models.definition import Model


@dataclass(frozen=True)
class DemoOptions:
    """What the demo sources are made with (env.yaml `demo_start_date`, `demo_size`,
    `demo_seed`)."""

    start_date: dt.date = dt.date(2024, 1, 1)
    size: float = 1.0
    seed: int = 42


class Project:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root: Path = settings.project_dir

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    @classmethod
    def load(cls, folder: str | Path | None = None) -> Project:
        """The project in `folder` (default: $STARLOOM_PROJECT_DIR, else the first folder up
        from the current one that holds pipeline.yaml)."""
        return cls(load_settings(Path(folder) if folder else None))

    # -- paths ---------------------------------------------------------------------------
    @property
    def sources_dir(self) -> Path:
        return self.root / "sources"

    @property
    def sql_dir(self) -> Path:
        return self.root / "sql"

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir

    @property
    def pipeline_file(self) -> Path:
        return self.root / PROJECT_MARKER

    @property
    def name(self) -> str:
        """`project_name` of env.yaml, else the folder's name."""
        return str(self.settings.raw.get("project_name") or self.root.name)

    @property
    def demo(self) -> DemoOptions:
        """The demo sources' options of env.yaml (defaults where absent)."""
        raw, default = self.settings.raw, DemoOptions()
        try:
            return DemoOptions(
                start_date=parse_date(
                    raw.get("demo_start_date") or default.start_date,
                    "demo_start_date",
                    "Set it in env.yaml.",
                ),
                size=float(raw.get("demo_size", default.size)),
                seed=int(raw.get("demo_seed", default.seed)),
            )
        except (TypeError, ValueError):
            raise ConfigError(
                "env.yaml: demo_size must be a number and demo_seed a whole number."
            ) from None

    # -- the pipeline --------------------------------------------------------------------
    @cached_property
    def pipeline(self) -> dict:
        """pipeline.yaml, parsed ({} when it is empty)."""
        spec = read_yaml(self.pipeline_file)
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{self.pipeline_file} must be a mapping with a `tasks` list, not "
                f"{type(spec).__name__}."
            )
        return spec

    # -- sources -------------------------------------------------------------------------
    @cached_property
    def sources(self) -> dict[str, Source]:
        """Every source of sources/*.yml by name, validated (an unknown key is an error)."""
        from starloom.ingestion.sources import load_sources

        return load_sources(self.sources_dir, self.root)

    def source(self, name: str) -> Source:
        """The source `name`, or an error naming the closest declared one."""
        try:
            return self.sources[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.sources), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"No source named {name!r} in {self.sources_dir}.{hint} Declared: "
                f"{', '.join(sorted(self.sources)) or 'none'}. A source is a file "
                "sources/<name>.yml whose `source:` key is its name."
            ) from None

    @cached_property
    def raw_tables(self) -> dict[str, Entity]:
        """Every source table by the name of its raw table (raw_<source>__<table>)."""
        return {e.raw_table: e for s in self.sources.values() for e in s.entities}

    # -- models --------------------------------------------------------------------------
    @cached_property
    def models(self) -> dict[str, Model]:
        """Every model of sql/ by name, validated, with its refs resolved ({} without sql/)."""
        from starloom.models.definition import load_models

        return load_models(self.sql_dir) if self.sql_dir.is_dir() else {}
