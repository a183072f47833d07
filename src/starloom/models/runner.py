"""Build and test the selected models in dependency order (see starloom.models.definition
for what a model is): selection, skipping of up-to-date tables, and the summary frames."""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from starloom.errors import ModelError, WarehouseError, WarehouseLockedError
from starloom.ingestion.raw_names import raw_table
from starloom.kernel import interactive
from starloom.models import build_state, data_tests
from starloom.models.definition import Model, build_order, load_models, render
from starloom.models.materializations import BUILDERS, SKIPPABLE
from starloom.models.materializations.shared import (
    ASIDE,
    MOVING,
    BuildContext,
    Outcome,
    storage_of,
)
from starloom.project import Project
from starloom.runs import FAILED, UP_TO_DATE, current_run_id, forced, record_models
from starloom.settings import parse_run_date
from starloom.warehouse import Warehouse
from starloom.warehouse.ddl import Ddl


def _selectors(select) -> list[str]:
    if isinstance(select, str):
        return [p for p in re.split(r"[\s,]+", select) if p]
    return [str(p) for p in select]


def _select(models: dict[str, Model], select) -> list[str]:
    """The models a selection names, in build order. A selector is a model's name, a layer
    (the folder under sql/: staging, snapshots, marts, ...), `+name` (the model and every
    model upstream of it), `name+` (it and everything downstream), or `+name+`; several are
    given as a list or separated by spaces or commas."""
    order = build_order(models)
    if select is None:
        return order
    upstream = {n: (m.tables_read & set(models)) - {n} for n, m in models.items()}
    downstream: dict[str, set[str]] = {n: set() for n in models}
    for n, ups in upstream.items():
        for u in ups:
            downstream[u].add(n)

    def closure(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    wanted: set[str] = set()
    for sel in _selectors(select):
        name = sel.strip("+")
        if name in models:
            wanted.add(name)
            if sel.startswith("+"):
                wanted |= closure(name, upstream)
            if sel.endswith("+"):
                wanted |= closure(name, downstream)
            continue
        layer = {n for n, m in models.items() if m.layer == name}
        if not layer or sel != name:
            close = difflib.get_close_matches(name, [*models, *{m.layer for m in models.values()}])
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelError(
                f"No model or layer named {name!r}.{hint} Models: {', '.join(order)}; layers: "
                f"{', '.join(sorted({m.layer for m in models.values()}))}. Select with a name, "
                "a layer, +name (with its upstream) or name+ (with its downstream)."
            )
        wanted |= layer
    return [n for n in order if n in wanted]


def _models(wh: Warehouse, sql_dir: Path | None) -> dict[str, Model]:
    """The models of `sql_dir` when given, else the warehouse's project's."""
    return load_models(Path(sql_dir)) if sql_dir else Project(wh.settings).models


def _run(ctx: BuildContext, model: Model, storage: str) -> Outcome:
    """Build the model by its materialization, which renders its SQL as it needs. A statement
    the engine refuses (a syntax error, an unknown column) is an error naming the model and
    its file before the engine's message: the statement shown is the rendered one, wrapped
    in starloom's DDL, in which the user would not recognise their file."""
    try:
        return _materialize(ctx, model, storage)
    except WarehouseLockedError:
        raise
    except WarehouseError as exc:
        raise ModelError(
            f"Model {model.name} ({model.file}) could not be built; check its SQL. {exc}"
        ) from None


def _materialize(ctx: BuildContext, model: Model, storage: str) -> Outcome:
    wh = ctx.wh

    def render_sql(incremental: bool) -> str:
        return render(
            model,
            wh.qualified,
            lambda s, t: wh.qualified(raw_table(s, t)),
            incremental=incremental,
            this=wh.qualified(storage),
        )

    return BUILDERS[model.config.materialization](ctx, model, render_sql)


def build(
    wh: Warehouse,
    select=None,
    *,
    run_date=None,
    full_refresh: bool = False,
    run_id: str | None = None,
    sql_dir: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the selected models in dependency order; returns (builds, test results).

    `select` is a model name, a layer (staging, marts, snapshots) or a list of them; None
    builds everything; the models are the project's (`sql_dir`: those of another folder).
    `full_refresh=True` (and `starloom run --force`, see starloom.runs.forced) rebuilds
    incremental models from scratch and skips no model (snapshots keep their history). Each
    row of `builds` says the model's mode (full, incremental, or "up to date": a table whose
    inputs did not change since its last build is skipped with its tests, see
    starloom.models.build_state), the rows its run wrote, the rows it holds afterwards and
    the seconds its build took (counting the rows is not included).
    """
    models = _models(wh, sql_dir)
    names = _select(models, select)
    ctx = BuildContext(
        wh=wh,
        ddl=Ddl(wh.database, wh.settings.cluster),
        run_id=run_id or current_run_id(),
        run_date=parse_run_date(run_date or "today"),
        full_refresh=full_refresh or forced(),
    )
    builds, results = [], []
    with wh.session(), _recording(wh, results, builds, ctx.run_id):
        state = None if wh.settings.cluster else build_state.BuildState(wh, models, ctx.params)
        leftovers = {
            n
            for (n,) in wh.query_rows(
                "SELECT name FROM system.tables WHERE database = {d:String} "
                "AND (endsWith(name, {s:String}) OR endsWith(name, {m:String}))",
                {"d": wh.database, "s": ASIDE, "m": MOVING},
            )
        }
        bar = tqdm(names, desc="models", unit="model", disable=not interactive(), leave=False)
        for name in bar:
            bar.set_postfix_str(name, refresh=True)
            model = models[name]
            started = time.perf_counter()
            storage = storage_of(model)
            try:
                with wh.writer_lock(name):  # on a server, builds of one model take turns
                    for aside in {name + ASIDE, storage + ASIDE} & leftovers:
                        for statement in ctx.ddl.drop_table(aside):  # left by a killed build
                            wh.command(statement)
                    skippable = state and model.config.materialization in SKIPPABLE
                    sig, version = state.signature(model, storage) if skippable else ("", None)
                    cut_off = storage + MOVING in leftovers  # a move was killed
                    if (
                        skippable
                        and not (ctx.full_refresh or cut_off)
                        and state.up_to_date(model, sig, version)
                    ):
                        outcome = Outcome([], UP_TO_DATE, 0)
                    else:
                        outcome = _run(ctx, model, storage)
                        if state:
                            state.changed(name, storage)
                        if skippable:
                            state.record(model, storage, ctx.run_id, sig)
            except Exception:  # kept as failed: the run's history names the model
                builds.append(_build_row(model, FAILED, 0, None, _since(started)))
                raise
            seconds = _since(started)  # counting the rows is not the build's time
            rows = state.rows(name) if state and outcome.mode == UP_TO_DATE else None
            results.extend(outcome.tests)
            builds.append(
                _build_row(
                    model,
                    outcome.mode,
                    outcome.rows_written,
                    wh.count(name) if rows is None else rows,
                    seconds,
                )
            )
    return pd.DataFrame(builds, columns=BUILD_COLUMNS), data_tests.results_frame(results)


BUILD_COLUMNS = ["model", "layer", "materialization", "mode", "rows_written", "rows", "seconds"]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _build_row(model: Model, mode: str, rows_written: int, rows, seconds: float) -> dict:
    """One row of `build`'s frame (BUILD_COLUMNS)."""
    return {
        "model": model.name,
        "layer": model.layer,
        "materialization": model.config.materialization,
        "mode": mode,
        "rows_written": rows_written,
        "rows": rows,
        "seconds": seconds,
    }


@contextlib.contextmanager
def _recording(wh: Warehouse, results: list[dict], builds: list[dict] = (), run_id: str = ""):
    """Record the test results and the models' outcomes gathered so far however the block
    ends: a build that stops at one model keeps those of the models built before it."""
    try:
        yield
    finally:
        if results:
            data_tests.record_results(wh, results)
        record_models(wh, run_id, list(builds))


def test(
    wh: Warehouse,
    select=None,
    *,
    run_id: str | None = None,
    sql_dir: Path | None = None,
    run_date=None,
) -> pd.DataFrame:
    """Run the tests of the selected models on the tables they hold now, without building.

    Every selected model's tests run, failing or not; the results are recorded in
    starloom_test_results and returned (`status` is pass, warn or fail). A test's
    `{run_date:Date}` is `run_date` (default: the project's, env.yaml's `run_date`)."""
    models = _models(wh, sql_dir)
    run_id = run_id or current_run_id()
    ctx = BuildContext(
        wh=wh,
        ddl=Ddl(wh.database, wh.settings.cluster),
        run_id=run_id,
        run_date=parse_run_date(run_date or wh.settings.run_date),
        full_refresh=False,
    )
    rows: list[dict] = []
    with wh.session():
        for name in _select(models, select):
            if not wh.table_exists(name):
                raise ModelError(f"Model {name} is not built yet: build it first (starloom build).")
            try:
                model = models[name]
                rows += data_tests.run_model_tests(
                    wh, model, name, run_id, record=False, params=ctx.params(model)
                )
            except data_tests.TestFailure as failure:
                rows += failure.results
        if rows:
            data_tests.record_results(wh, rows)
    return data_tests.results_frame(rows)


def lineage(project: Project | None = None) -> pd.DataFrame:
    """Edges (upstream, model) between the project's models (default: the current project's)
    and the raw tables, from the refs in the SQL."""
    rows = []
    for m in (project or Project.load()).models.values():
        rows += [{"upstream": r, "model": m.name} for r in sorted(m.refs)]
        rows += [{"upstream": raw_table(s, t), "model": m.name} for s, t in sorted(m.sources)]
    return pd.DataFrame(rows, columns=["upstream", "model"])
