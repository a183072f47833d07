"""One run id for everything one pipeline run writes.

Loads, model builds, test results, freshness checks, table stats and lineage events are
stamped with the run id, so one day's work can be read back whole (`starloom runs`).

Within `ploomber build` / `starloom run` the id is minted once, when the DAG renders (the
`on_render` hook, see starloom.pipeline), and handed to every notebook through the
environment variable STARLOOM_RUN_ID: the notebooks' parameters stay as they are, so
Ploomber's skipping of up-to-date tasks is untouched. An id set in the environment by the
caller (an orchestrator, `starloom run`) is kept. Outside a pipeline (a notebook opened in
JupyterLab, a script) a process mints its own id the first time one is needed.
"""

from __future__ import annotations

import os
import uuid

ENV = "STARLOOM_RUN_ID"
_minted = ""  # the id this process minted itself (replaced when a new pipeline run starts)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def current_run_id() -> str:
    """The run id of the work in progress: the environment's, else one minted now and kept
    for the rest of this process (and the processes it starts)."""
    global _minted
    value = os.environ.get(ENV, "").strip()
    if not value:
        value = _minted = new_run_id()
        os.environ[ENV] = value
    return value


def begin_run() -> str:
    """Start a pipeline run: a new id, unless the caller set one in the environment."""
    global _minted
    given = os.environ.get(ENV, "").strip()
    if given and given != _minted:
        return given
    _minted = new_run_id()
    os.environ[ENV] = _minted
    return _minted
