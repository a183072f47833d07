"""The Ploomber glue: the hooks and the tasks a project's pipeline.yaml names.

on_render: starloom.pipeline.on_render      # one run id for the whole build; quiet kernels
on_finish: starloom.pipeline.on_finish      # OpenLineage events of the tasks it ran
on_failure: starloom.pipeline.on_failure
tasks:
  - source: starloom.pipeline.publish_reports   # notebooks -> output/index.html
  - source: starloom.pipeline.publish_docs      # the docs site -> output/docs/
"""

from __future__ import annotations

import hashlib
import inspect
import os
import time
from pathlib import Path

from starloom import lineage, runs
from starloom.errors import StarloomError
from starloom.ingestion.sources import entity_files
from starloom.kernel import HEADLESS_ENV
from starloom.project import Project
from starloom.publish.reports import (
    build_index,
    entry_for,
    export_html,
    notebook_of,
    plot_dag,
    warehouse_summary_html,
)
from starloom.publish.site import build_docs

# How the notebooks run (papermill): no progress bar per cell, and no log lines of the
# kernel process itself (that it talks to papermill over local TCP without encryption, that
# the interrupt papermill sends when it shuts the kernel down came mid-message). An error in
# a notebook's code is not one of those: it fails its task, and shows in the output.
NOTEBOOK_EXECUTION = {
    "progress_bar": False,
    "extra_arguments": ["--IPKernelApp.log_level=CRITICAL"],
}


# A step that must see every new data file or SQL file has `stamp: "ingest {{now}}"` (or
# "models {{now}}") in pipeline.yaml: a plain `ploomber build` runs it every time, and
# `starloom run` puts the fingerprint of what it reads in place of the time
# (starloom.ploomber_build), so that it runs, and the steps after it, only when that changed.


def input_fingerprints(project: Project) -> dict[str, str]:
    """{"ingest": fingerprint, "models": fingerprint}. The ingest step reads sources/*.yml
    and every file their tables match (by name, size and modification time, as the
    manifest first compares them); the build step reads sql/. A database source, or files
    behind a URL, cannot be fingerprinted cheaply: then the ingest step runs every time."""
    ingest, models = hashlib.sha256(), hashlib.sha256()
    for path in sorted(project.sources_dir.glob("*.yml")):
        ingest.update(path.name.encode() + b"\0" + path.read_bytes())
    try:
        sources = list(project.sources.values())
    except StarloomError:
        sources = []  # the ingest step runs, and says what is wrong
        ingest.update(str(time.time_ns()).encode())
    for source in sorted(sources, key=lambda s: s.name):
        if source.kind != "files":
            ingest.update(str(time.time_ns()).encode())  # a database may have new rows
            continue
        for entity in source.entities:
            for name in entity_files(project.root, entity):
                if "://" in name:
                    ingest.update(str(time.time_ns()).encode())
                    continue
                stat = os.stat(name)
                ingest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    if project.sql_dir.is_dir():
        for path in sorted(project.sql_dir.rglob("*.sql")):
            models.update(str(path.relative_to(project.sql_dir)).encode() + b"\0")
            models.update(path.read_bytes())
    return {"ingest": ingest.hexdigest()[:16], "models": models.hexdigest()[:16]}


def _ploomber_frame(name: str):
    """The innermost frame of Ploomber's function `name` on the stack, or None."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == name and str(frame.f_globals.get("__name__", "")).startswith(
            "ploomber."
        ):
            return frame
        frame = frame.f_back
    return None


def rendering_for_a_build() -> bool:
    """Whether the DAG renders because it is being built (`ploomber build`, `starloom run`,
    `dag.build()`), not only rendered: JupyterLab's Ploomber extension renders the DAG,
    with force, in the server each time a notebook opens, and that must change nothing in
    the server's environment, which every kernel it starts inherits."""
    return _ploomber_frame("_build") is not None


def rendering_forced() -> bool:
    """Whether the DAG rendering now was asked to force (`ploomber build --force`,
    `starloom run --force`, `dag.build(force=True)`). Ploomber hands `force` to the render
    that calls the on_render hook, not to the hook itself, so it is read from that frame
    (tests/unit/test_pipeline_force.py builds a DAG both ways to keep this true)."""
    frame = _ploomber_frame("_render_current")
    return bool(frame is not None and frame.f_locals.get("force"))


def on_render(dag) -> None:
    """pipeline.yaml `on_render`: when the DAG is built, mint the run id every task of this
    build stamps, mark the notebooks headless (their outputs are the reports: no progress
    bars), and with --force make the notebooks' ingest and build redo their work too
    (starloom.runs.forced): forcing reruns the notebooks, and a rerun notebook that skipped
    every file and model would force nothing. The notebooks run quietly (a task's own
    `executor_params` win). A render that is not a build (JupyterLab's) changes nothing;
    on_finish and on_failure take the build's marks back."""
    for name in dag or ():
        task = dag[name]
        params = getattr(task, "executor_params", None)
        if getattr(task, "executor", None) == "papermill" and isinstance(params, dict):
            for key, value in NOTEBOOK_EXECUTION.items():
                params.setdefault(key, value)
    if not rendering_for_a_build():
        return
    runs.begin_run()
    os.environ[HEADLESS_ENV] = "1"
    if rendering_forced():
        os.environ[runs.FORCE_ENV] = "1"
    else:
        os.environ.pop(runs.FORCE_ENV, None)


def _build_over() -> None:
    """The build's marks off this process's environment (it may go on: a kernel, a script)."""
    os.environ.pop(runs.FORCE_ENV, None)
    os.environ.pop(HEADLESS_ENV, None)


def on_finish(dag, report=None) -> None:
    """pipeline.yaml `on_finish`: lineage events of the tasks this build ran."""
    elapsed = {}
    try:
        values = report.values
        elapsed = dict(zip(values["name"], map(float, values["Elapsed (s)"])))
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    _build_over()
    lineage.emit_dag_events(dag, elapsed=elapsed)


def on_failure(dag, traceback) -> None:
    """pipeline.yaml `on_failure`: lineage events, the failed tasks as FAIL."""
    _build_over()
    lineage.emit_dag_events(dag, error=str((traceback or {}).get("build", "")))


def publish_reports(
    product, upstream, project_dir: str | None = None, reports: str | None = None
) -> None:
    """Ploomber task: every upstream notebook to reports/<stem>.html, the DAG, then the index;
    the pages of notebooks no longer upstream are removed. `reports` names the upstream
    tasks (`starloom run` sets it, see starloom.ploomber_build.stamp_inputs): a task taken
    out of the upstream list changes it, so the index is published again without it."""
    project = Project.load(Path(project_dir or os.getcwd()).resolve())
    index = Path(str(product))
    output_dir = index.parent
    notebooks = sorted(
        {nb for nb in map(notebook_of, (upstream or {}).values()) if nb is not None},
        key=lambda p: (p.name, str(p)),
    )
    entries, pages = [], output_dir / "reports"
    for notebook in notebooks:
        html = export_html(notebook, pages / f"{notebook.stem}.html", project_dir=project.root)
        entries.append(entry_for(notebook, html, output_dir))
    kept = {f"{notebook.stem}.html" for notebook in notebooks}
    for page in pages.glob("*.html"):
        if page.name not in kept:  # the report of a task no longer in the pipeline
            page.unlink()
    dag_png = plot_dag(project.pipeline_file, output_dir / "pipeline.png")
    build_index(
        output_dir,
        entries,
        dag_png=dag_png,
        title=f"{project.name}: pipeline reports",
        name=index.name,
        summary_html=warehouse_summary_html(project.settings),
    )


def publish_docs(product, upstream=None) -> None:
    """Ploomber task: build the docs site at `product` (output/docs/index.html)."""
    build_docs(Project.load(), Path(str(product)).parent)
