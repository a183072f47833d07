"""One run id for everything one pipeline run writes.

Loads, model builds, test results, freshness checks, table stats and lineage events are
stamped with the run id, so one day's work can be read back whole (`starloom runs`).

Within `ploomber build` / `starloom run` the id is minted once, when the DAG renders (the
`on_render` hook, see starloom.pipeline), and handed to every notebook through the
environment variable STARLOOM_RUN_ID: the notebooks' parameters stay as they are, so
Ploomber's skipping of up-to-date tasks is untouched. An id set in the environment by the
caller (an orchestrator, `starloom run`) is kept. Outside a pipeline (a notebook opened in
JupyterLab, a script) a process mints its own id the first time one is needed.

What a run did with each model (built, skipped as up to date, or failed) is kept in the
warehouse table starloom_model_runs, next to the loads (starloom_loads) and the test results
(starloom_test_results) of the same run id; starloom.run_summary reads them back. Each
command (`starloom run`, a backfill's day, `starloom ingest`, `build`, `test`) also leaves
one row in starloom_commands: which command, its run date, and whether it failed, naming
the failed tasks. A failed step writes nothing else a history could read its failure from.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

ENV = "STARLOOM_RUN_ID"
FORCE_ENV = "STARLOOM_FORCE"  # "1" within `starloom run --force`
MODEL_RUNS = "starloom_model_runs"
UP_TO_DATE = "up to date"  # the mode of a model a build skipped (starloom.models.build_state)
ERRORED = "error"  # the status of a model test whose query failed: it did not run, nor pass
FAILED = "failed"  # the mode of a model whose build failed; the status of a failed command
COMMANDS = "starloom_commands"
COMMAND_ENV = "STARLOOM_COMMAND"  # "backfill" for the `starloom run` of a backfill's day
MINTED_ENV = "STARLOOM_RUN_ID_MINTED"  # the last id starloom minted, seen by child processes


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _mint() -> str:
    value = new_run_id()
    os.environ[ENV] = os.environ[MINTED_ENV] = value
    return value


def current_run_id() -> str:
    """The run id of the work in progress: the environment's, else one minted now and kept
    for the rest of this process (and the processes it starts)."""
    return os.environ.get(ENV, "").strip() or _mint()


def forced() -> bool:
    """Whether the run in progress was started with `starloom run --force`: then every task
    runs, and each redoes its work whatever is recorded as done. `starloom.ingest` loads every
    day's files again (as `full_refresh=True` does) and `starloom.build` builds every model
    whole, so a forced run leaves what a first run on the same files leaves."""
    return os.environ.get(FORCE_ENV, "").strip() == "1"


def begin_run() -> str:
    """Start a pipeline run: a new id, unless an orchestrator set one in the environment.
    An id starloom minted itself, in this process or in the one that started it (a
    notebook that ran `!starloom run`, a backfill's days), is not kept: each run is one."""
    given = os.environ.get(ENV, "").strip()
    if given and given != os.environ.get(MINTED_ENV, ""):
        return given
    return _mint()


def record_models(wh, run_id: str, builds: list[dict]) -> None:
    """Keep one row per model a build went through (starloom.models.build's rows: model,
    layer, materialization, mode, rows_written, rows, seconds) under `run_id`, with its
    step in the build order."""
    if not builds:
        return
    import pandas as pd

    from starloom.warehouse import state

    state.ensure(wh)
    rows = pd.DataFrame(builds).assign(
        run_id=run_id, finished_at=dt.datetime.now(dt.UTC), step=range(len(builds))
    )
    for column in ("rows_written", "rows"):
        rows[column] = rows[column].fillna(0).astype("uint64")
    wh.insert_df(MODEL_RUNS, rows)


def record_command(
    wh,
    run_id: str,
    command: str,
    *,
    run_date: dt.date | None,
    started_at: dt.datetime,
    failed: bool,
    what_failed: list[str] = (),
    error: str = "",
) -> None:
    """Keep one row in starloom_commands for a command that ran under `run_id`: which one,
    its run date (None: it has none, as `starloom test`), whether it failed, what failed
    (the tasks of a pipeline run) and the first line of its error."""
    import pandas as pd

    from starloom.warehouse import state

    state.ensure(wh)
    row = {
        "run_id": run_id,
        "command": command,
        "run_date": run_date,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC),
        "status": FAILED if failed else "ok",
        "failed": list(what_failed),
        "error": (error.strip().splitlines() or [""])[0][:500].rstrip(":"),  # its list: below
    }
    wh.insert_df(COMMANDS, pd.DataFrame([row]))
