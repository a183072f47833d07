"""A build given --force makes the notebooks' ingest and build redo their work: the
on_render hook finds out whether Ploomber is rendering with force, on a real Ploomber DAG."""

from __future__ import annotations

import os

from ploomber import DAG
from ploomber.executors import Serial
from ploomber.products import File
from ploomber.tasks import PythonCallable

from starloom import pipeline, runs
from starloom.kernel import HEADLESS_ENV, interactive


def _write(product):
    from pathlib import Path

    Path(str(product)).write_text("done")


def test_on_render_tells_a_forced_build(tmp_path, monkeypatch):
    monkeypatch.delenv(runs.FORCE_ENV, raising=False)
    monkeypatch.delenv(runs.ENV, raising=False)  # on_render mints a run id
    monkeypatch.delenv(HEADLESS_ENV, raising=False)  # and marks the notebooks headless
    seen = []
    dag = DAG(executor=Serial(build_in_subprocess=False))
    dag.on_render = lambda: (pipeline.on_render(None), seen.append(runs.forced()))
    PythonCallable(_write, File(tmp_path / "out.txt"), dag, name="write")
    dag.build()
    dag.build()  # up to date: skipped, not forced
    dag.build(force=True)
    dag.build()
    assert seen[-4:] == [False, False, True, False]
    assert os.environ[HEADLESS_ENV] == "1" and not interactive()  # no bars in the reports


def test_a_render_that_is_no_build_changes_nothing(tmp_path, monkeypatch):
    """JupyterLab's Ploomber extension renders the DAG with force in the server each time a
    notebook opens: the kernels it starts must not inherit a forced, headless run."""
    for name in (runs.FORCE_ENV, runs.ENV, HEADLESS_ENV):
        monkeypatch.delenv(name, raising=False)
    dag = DAG(executor=Serial(build_in_subprocess=False))
    dag.on_render = pipeline.on_render
    PythonCallable(_write, File(tmp_path / "out.txt"), dag, name="write")
    dag.render(force=True)
    assert not {runs.FORCE_ENV, runs.ENV, HEADLESS_ENV} & set(os.environ)


def test_the_end_of_a_build_takes_its_marks_back(tmp_path, monkeypatch):
    for name in (runs.FORCE_ENV, runs.ENV, HEADLESS_ENV):
        monkeypatch.delenv(name, raising=False)
    dag = DAG(executor=Serial(build_in_subprocess=False))
    dag.on_render = pipeline.on_render
    monkeypatch.setattr(pipeline.lineage, "emit_dag_events", lambda *a, **k: [])
    dag.on_finish = pipeline.on_finish
    PythonCallable(_write, File(tmp_path / "out.txt"), dag, name="write")
    dag.build(force=True)
    assert not {runs.FORCE_ENV, HEADLESS_ENV} & set(os.environ)
