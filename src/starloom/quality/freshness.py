"""Source freshness: how old the newest row of each source table is, against the limits
declared in sources/<source>.yml:

    tables:
      events:
        freshness:
          column: event_at            # default _loaded_at (when the row was loaded)
          warn_after: {hours: 24}     # hours, minutes or days
          error_after: {hours: 72}

The age of a table is `reference - max(column)` over its raw table. The reference is the end
of the run date (midnight UTC after `run_date`) when a run date is given, otherwise the
current time: a run for a past day is judged against that day, so backfills are not all stale.
Results go to `starloom_freshness`.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from starloom.errors import StarloomError
from starloom.project import Project
from starloom.runs import current_run_id
from starloom.warehouse import Warehouse, quote_identifier, state

FRESHNESS_TABLE = "starloom_freshness"
DEFAULT_LOADED_AT = "_loaded_at"


class FreshnessError(StarloomError):
    """A source table is older than its error_after."""


def freshness_specs(project: Project) -> list[dict]:
    """The freshness declarations of the project's sources: one dict per table that has one."""
    return [
        {
            "source": e.source,
            "table": e.name,
            "raw_table": e.raw_table,
            "column": e.freshness.column,
            "warn_after_hours": e.freshness.warn_after_hours,
            "error_after_hours": e.freshness.error_after_hours,
        }
        for e in project.raw_tables.values()
        if e.freshness
    ]


def reference_time(run_date=None, now: dt.datetime | None = None) -> dt.datetime:
    """End of run_date (midnight UTC after it) when given, else now (UTC)."""
    if run_date is not None and run_date != "":
        day = dt.date.fromisoformat(str(run_date)[:10])
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return now or dt.datetime.now(dt.UTC)


def check_freshness(
    wh: Warehouse, *, run_date=None, run_id: str | None = None, now: dt.datetime | None = None
) -> pd.DataFrame:
    """Check every declared freshness; record and return one row per table.

    status: pass, warn, error, or missing (the raw table or its rows do not exist yet, an error).
    """
    specs = freshness_specs(Project(wh.settings))
    reference = reference_time(run_date, now)
    run_id = run_id or current_run_id()
    rows = []
    with wh.session():
        for spec in specs:
            latest = None
            if wh.table_exists(spec["raw_table"]):
                latest = wh.scalar(
                    f"SELECT toTimeZone(max({quote_identifier(spec['column'])}), 'UTC') "
                    f"FROM {wh.qualified(spec['raw_table'])}"
                )
            if latest is not None and pd.isna(latest):
                latest = None
            if latest is not None:
                latest = pd.Timestamp(latest)
                latest = latest.tz_localize("UTC") if latest.tzinfo is None else latest
                age = (pd.Timestamp(reference) - latest).total_seconds() / 3600
            else:
                age = None
            if age is None:
                status = "missing"
            elif spec["error_after_hours"] is not None and age > spec["error_after_hours"]:
                status = "error"
            elif spec["warn_after_hours"] is not None and age > spec["warn_after_hours"]:
                status = "warn"
            else:
                status = "pass"
            rows.append(
                {
                    "run_id": run_id,
                    "source": spec["source"],
                    "table": spec["table"],
                    "column": spec["column"],
                    "latest_at": latest.to_pydatetime() if latest is not None else None,
                    "reference_at": reference,
                    "age_hours": round(age, 3) if age is not None else None,
                    "warn_after_hours": spec["warn_after_hours"],
                    "error_after_hours": spec["error_after_hours"],
                    "status": status,
                    "checked_at": dt.datetime.now(dt.UTC),
                }
            )
        df = pd.DataFrame(
            rows,
            columns=[
                "run_id", "source", "table", "column", "latest_at", "reference_at", "age_hours",
                "warn_after_hours", "error_after_hours", "status", "checked_at",
            ],
        )  # fmt: skip
        if len(df):
            state.ensure(wh)
            wh.insert_df(FRESHNESS_TABLE, df)
    return df


def raise_on_stale(freshness: pd.DataFrame) -> None:
    """Raise FreshnessError naming every table in error or missing."""
    bad = freshness[freshness.status.isin(["error", "missing"])]
    if len(bad):
        parts = [
            f"{r.source}.{r.table} ({r.status}: "
            + (
                f"latest {r.column} {r.latest_at:%Y-%m-%d %H:%M} UTC is {r.age_hours:.1f} h old, "
                f"error after {r.error_after_hours:g} h)"
                if r.status == "error"
                else f"no rows in raw_{r.source}__{r.table})"
            )
            for r in bad.itertuples()
        ]
        raise FreshnessError(
            "Stale sources: " + "; ".join(parts) + ". Check that the sources delivered and "
            "the ingest ran for this run date, or relax `freshness` in sources/*.yml."
        )
