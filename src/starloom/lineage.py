"""Lineage: column lineage of the SQL models (sqlglot) and OpenLineage run events per task.

Column lineage: each model's SQL is rendered with its refs as plain table names and traced
by `sqlglot.lineage` (ClickHouse dialect) from every output column back to the columns of
the models and raw tables it reads. A column copied as is is an IDENTITY, anything computed
a TRANSFORMATION (AGGREGATION when an aggregate function is involved).

Run events: for every task a build ran, a START and then a COMPLETE or FAIL event with the
task's input and output datasets, built with the openlineage-python client's own models.
Inputs and outputs come from the **Reads:** and **Writes:** line of each notebook's first
cell (backquoted names; `raw_*`-style patterns are expanded over the known tables); output
tables that are SQL models carry their column lineage as a `columnLineage` facet. Events
are appended to output/lineage/events.jsonl, and also sent to an OpenLineage HTTP endpoint
when OPENLINEAGE_URL is set (OPENLINEAGE_ENDPOINT, default api/v1/lineage, and
OPENLINEAGE_API_KEY are honoured).

Every event of one pipeline run carries its run id (starloom.runs, the id its loads, builds
and test results are stamped with) as the run tag `starloom_run_id`, and names as its parent
the run of the job `pipeline` whose runId is a UUID derived from that run id: a lineage
server joins the tasks of one run, and the run to what it wrote in the warehouse.

Ploomber has no per-task start hook, so the events are emitted by the DAG's on_finish and
on_failure hooks (pipeline.yaml), at the end of the build, with each task's start and end
times taken from its executed notebook. The hooks read files only: they never open the
warehouse.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import jinja2
import nbformat

from starloom.errors import ConfigError, StarloomError
from starloom.ingestion.raw_names import raw_table
from starloom.project import Project
from starloom.runs import current_run_id
from starloom.settings import redact_text, redact_url

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/starloom/starloom"
JOB_NAMESPACE = "starloom"
PIPELINE_JOB = "pipeline"  # the parent job of every task's run
RUN_ID_TAG = "starloom_run_id"
_RUN_UUIDS = uuid.uuid5(uuid.NAMESPACE_URL, PRODUCER + "/runs")
EVENTS_FILE = Path("output") / "lineage" / "events.jsonl"
_AGGREGATES = {
    "count", "sum", "avg", "min", "max", "uniq", "uniqexact", "uniqexactif", "countif",
    "sumif", "avgif", "any", "anylast", "argmax", "argmin", "grouparray", "median", "quantile",
}  # fmt: skip
_READS = re.compile(r"\*\*Reads:\*\*(.*?)(?=\*\*Writes:\*\*|$)", re.S)
_WRITES = re.compile(r"\*\*Writes:\*\*(.*?)(?=\*\*Reads:\*\*|$)", re.S)
_NAMES = re.compile(r"`([^`]+)`")


# -- datasets ---------------------------------------------------------------------------------


def warehouse_namespace(settings) -> str:
    """The OpenLineage namespace of the warehouse's tables (no credentials).

    The host and port are read from the redacted URL: urllib reads a password holding an
    unencoded `#`, `/` or `?` as the host or port, which would put it in every event."""
    if settings.embedded:
        return "chdb://embedded"
    from urllib.parse import urlsplit

    parts = urlsplit(redact_url(settings.warehouse_url))
    try:
        port = parts.port
    except ValueError:  # the build itself says so; the events still get a namespace
        port = None
    port = port or (8443 if parts.scheme == "https" else 8123)
    return f"clickhouse://{parts.hostname}:{port}"


def source_tables(project: Project) -> dict[str, list[str]]:
    """raw_<source>__<table> -> its declared columns, from the project's sources."""
    lineage_columns = ["_load_id", "_partition", "_source_file", "_source_line", "_loaded_at"]
    return {name: [*e.contract.names, *lineage_columns] for name, e in project.raw_tables.items()}


# -- column lineage ---------------------------------------------------------------------------


def _plain_sql(model) -> str:
    """The model's SQL with refs as bare table names, as a full (not incremental) build."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(model.sql).render(
        ref=lambda name: name,
        source=raw_table,
        is_incremental=lambda: False,
        this=model.name,
    )


def _kind(root) -> str:
    """IDENTITY when every step copies a column, AGGREGATION when one aggregates, else
    TRANSFORMATION."""
    from sqlglot import exp

    kind = "IDENTITY"
    for node in root.walk():
        expression = node.expression
        if isinstance(expression, exp.Table):
            continue
        inner = expression.this if isinstance(expression, exp.Alias) else expression
        if isinstance(inner, exp.Column):
            continue
        for func in inner.find_all(exp.Func):
            name = func.name if isinstance(func, exp.Anonymous) else func.sql_name()
            if isinstance(func, exp.AggFunc) or name.lower() in _AGGREGATES:
                return "AGGREGATION"
        kind = "TRANSFORMATION"
    return kind


def column_lineage(model, schema: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """{output column: {"inputs": [(table, column), ...], "kind": IDENTITY|...}} of a model.

    `schema` (table -> columns) helps resolve unqualified columns and `*`. Columns sqlglot
    cannot trace are left out rather than guessed.
    """
    return _lineage_of(model, _parsed(model), schema)


def _parsed(model):
    """The model's SQL as sqlglot reads it; None (and a warning) when it cannot."""
    import sqlglot

    try:
        return sqlglot.parse_one(_plain_sql(model), dialect="clickhouse")
    except (jinja2.TemplateError, sqlglot.errors.ParseError) as exc:
        log.warning("column lineage of %s: cannot read its SQL: %s", model.name, exc)
        return None


def _lineage_of(model, tree, schema: dict[str, list[str]] | None) -> dict[str, dict]:
    if tree is None:
        return {}
    mapping = {t: {c: "String" for c in cols} for t, cols in (schema or {}).items() if cols}
    out: dict[str, dict] = {}
    quiet = logging.getLogger("sqlglot")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        _trace_all(model, tree, mapping, out)
    finally:
        quiet.setLevel(level)
    return out


def _trace_all(model, tree, mapping: dict, out: dict) -> None:
    from sqlglot import exp
    from sqlglot.lineage import lineage as trace

    selects = tree.selects if isinstance(tree, exp.Query) else []
    for select in selects:
        column = select.alias_or_name
        if not column or column == "*":
            continue
        try:
            root = trace(column, tree, schema=mapping or None, dialect="clickhouse")
        except Exception as exc:  # sqlglot raises several kinds on what it cannot trace
            log.debug("column lineage of %s.%s: %s", model.name, column, exc)
            continue
        inputs = set()
        for node in root.walk():
            if isinstance(node.expression, exp.Table):
                inputs.add((node.expression.name, node.name.split(".")[-1]))
        if inputs:
            out[column] = {"inputs": sorted(inputs), "kind": _kind(root)}


def model_column_lineage(project: Project) -> dict[str, dict[str, dict]]:
    """Column lineage of every SQL model of the project: {model: {column: ...}}."""
    models = project.models
    schema = source_tables(project)
    trees = {name: _parsed(model) for name, model in models.items()}  # each parsed once
    for name, model in models.items():
        documented = list(model.config.columns)
        selected = _output_columns(model, trees[name])
        schema.setdefault(name, [*selected, *(c for c in documented if c not in selected)])
    return {name: _lineage_of(model, trees[name], schema) for name, model in models.items()}


def _output_columns(model, tree) -> list[str]:
    """The columns a model's SELECT names (and a snapshot's own), or [] when it selects
    `*` or cannot be read: a header documents only some columns, and a downstream column
    read from an undocumented one would not be traced."""
    from sqlglot import exp

    selects = tree.selects if isinstance(tree, exp.Query) else []
    names = [s.alias_or_name for s in selects]
    if not names or any(isinstance(s, exp.Star) or n in ("", "*") for s, n in zip(selects, names)):
        return []
    if model.config.materialization == "snapshot":
        names += ["valid_from", "valid_to", "is_current", model.config.surrogate_key]
    return names


# -- task inputs and outputs ------------------------------------------------------------------


def notebook_io(notebook: Path) -> tuple[list[str], list[str]]:
    """(reads, writes): the backquoted names of a notebook's **Reads:**/**Writes:** line."""
    nb = nbformat.read(notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    reads = [n for m in _READS.findall(text) for n in _NAMES.findall(m)]
    writes = [n for m in _WRITES.findall(text) for n in _NAMES.findall(m)]
    return reads, writes


def _expand(names: list[str], known: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if "/" not in name and any(ch in name for ch in "*?["):
            out += [k for k in known if fnmatch.fnmatchcase(k, name)]
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def pipeline_io(project: Project) -> dict[str, dict[str, list[str]]]:
    """{task: {"inputs": [...], "outputs": [...]}} for every task of pipeline.yaml.

    Table names stand for warehouse tables, names with a "/" for files of the project;
    file products (other than the executed notebooks) are outputs too.
    """
    try:
        models = sorted(project.models)
    except StarloomError:  # a broken model fails its build; the tasks' events still go out
        models = []
    known = [*project.raw_tables, *models]
    out = {}
    for task in project.pipeline.get("tasks") or []:
        source = str(task.get("source", ""))
        name = task.get("name") or Path(source).stem
        reads: list[str] = []
        writes: list[str] = []
        notebook = project.root / source
        if source.endswith(".ipynb") and notebook.is_file():
            reads, writes = notebook_io(notebook)
        product = task.get("product")
        products = product.values() if isinstance(product, dict) else [product]
        writes += [str(p) for p in products if p and not str(p).endswith(".ipynb")]
        out[name] = {"inputs": _expand(reads, known), "outputs": _expand(writes, known)}
    return out


# -- events -----------------------------------------------------------------------------------


def pipeline_run_uuid(run_id: str) -> str:
    """The OpenLineage runId of the pipeline run `run_id` (starloom.runs): the parent run of
    every task of that run, the same in every process that emits its events."""
    return str(uuid.uuid5(_RUN_UUIDS, run_id))


def _dataset(name: str, settings, lineage: dict, output: bool):
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    if "/" in name:
        namespace, ds_name = "file", name
    else:
        namespace, ds_name = warehouse_namespace(settings), f"{settings.database}.{name}"
    facets: dict[str, Any] = {}
    if output and name in lineage and lineage[name]:
        wh_ns = warehouse_namespace(settings)
        facets["columnLineage"] = cl.ColumnLineageDatasetFacet(
            fields={
                column: cl.Fields(
                    inputFields=[
                        cl.InputField(
                            namespace=wh_ns,
                            name=f"{settings.database}.{table}",
                            field=field,
                            transformations=[
                                cl.Transformation(
                                    type="DIRECT",
                                    subtype=info["kind"],
                                    masking=False,
                                )
                            ],
                        )
                        for table, field in info["inputs"]
                    ],
                )
                for column, info in sorted(lineage[name].items())
            }
        )
    cls = OutputDataset if output else InputDataset
    return cls(namespace=namespace, name=ds_name, facets=facets)


def run_events(
    task: str,
    *,
    inputs: list[str],
    outputs: list[str],
    settings,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    failed: bool = False,
    error: str = "",
    run_id: str | None = None,
    column_lineage_by_model: dict | None = None,
) -> list:
    """The START and COMPLETE (or FAIL) RunEvents of one task run, as client models. Both
    carry the pipeline run `run_id` (default: the current run's) as the run tag
    starloom_run_id, and name that pipeline run as their parent (pipeline_run_uuid)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run, tags_run
    from openlineage.client.uuid import generate_new_uuid

    lineage = column_lineage_by_model or {}
    run_id = run_id or current_run_id()
    task_run = str(generate_new_uuid(started_at))
    job_facets = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="PLOOMBER", jobType="TASK"
        )
    }
    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=pipeline_run_uuid(run_id)),
            job=parent_run.Job(namespace=JOB_NAMESPACE, name=PIPELINE_JOB),
        ),
        "tags": tags_run.TagsRunFacet(
            tags=[tags_run.TagsRunFacetFields(key=RUN_ID_TAG, value=run_id, source="STARLOOM")]
        ),
    }
    ins = [_dataset(n, settings, lineage, False) for n in inputs]
    outs = [_dataset(n, settings, lineage, True) for n in outputs]
    job = Job(namespace=JOB_NAMESPACE, name=task, facets=job_facets)
    start = RunEvent(
        eventType=RunState.START,
        eventTime=started_at.astimezone(dt.UTC).isoformat(),
        run=Run(runId=task_run, facets=run_facets),
        job=job,
        inputs=ins,
        outputs=outs,
        producer=PRODUCER,
    )
    end_facets = dict(run_facets)
    if failed:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error[-4000:] or f"task {task} failed", programmingLanguage="python"
        )
    end = RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=ended_at.astimezone(dt.UTC).isoformat(),
        run=Run(runId=task_run, facets=end_facets),
        job=job,
        inputs=ins,
        outputs=outs,
        producer=PRODUCER,
    )
    return [start, end]


def _transports(events_file: Path) -> list:
    from openlineage.client.transport.file import FileConfig, FileTransport

    events_file.parent.mkdir(parents=True, exist_ok=True)
    transports = [FileTransport(FileConfig(log_file_path=str(events_file), append=True))]
    url = os.environ.get("OPENLINEAGE_URL", "").strip()
    if url:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"OPENLINEAGE_URL {redact_url(url)!r} is not an http(s) URL: set it to the "
                "lineage server's address (for example http://localhost:5000) or unset it."
            )
        params: dict[str, Any] = {
            "url": url,
            "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
            "timeout": 5.0,
            "retry": {"total": 1, "backoff_factor": 0.2},
        }
        if os.environ.get("OPENLINEAGE_API_KEY"):
            params["auth"] = {"type": "api_key", "apiKey": os.environ["OPENLINEAGE_API_KEY"]}
        try:
            transports.append(HttpTransport(HttpConfig.from_dict(params)))
        except ValueError as exc:  # the client quotes the whole URL, password included
            raise ConfigError(
                f"OPENLINEAGE_URL {redact_url(url)!r} cannot be read "
                f"({redact_text(str(exc), url)}): percent-encode any `#`, `/`, `?` or `@` in its "
                "password (%23, %2F, %3F, %40), or leave the credentials out of the URL and give "
                "the key in OPENLINEAGE_API_KEY."
            ) from None
    return transports


def emit(events: list, events_file: Path) -> None:
    """Append the events to the file, and send them to OPENLINEAGE_URL when set. A lineage
    server that cannot be reached is logged, not raised: lineage never fails a build."""
    for transport in _transports(events_file):
        for event in events:
            try:
                transport.emit(event)
            except Exception as exc:
                if type(transport).__name__ == "FileTransport":
                    raise
                url = os.environ["OPENLINEAGE_URL"].strip()
                log.warning(
                    "OpenLineage event not sent to %s: %s",
                    redact_url(url),
                    redact_text(str(exc), url),
                )
                return


def read_events(events_file: Path) -> list[dict]:
    """The events of a JSON lines file, as dicts."""
    path = Path(events_file)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- Ploomber hooks ---------------------------------------------------------------------------


def _times(task, elapsed: float | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) of a task run: from the executed notebook's papermill metadata, else the
    product's metadata timestamp (or now) as the end and `elapsed` seconds before it."""
    now = dt.datetime.now(dt.UTC)
    product = task.product
    paths = []
    try:
        paths = [Path(str(p)) for p in (product if not isinstance(product, str) else [product])]
    except TypeError:
        paths = [Path(str(product))]
    for path in paths:
        if path.suffix == ".ipynb" and path.is_file():
            pm = nbformat.read(path, as_version=4).metadata.get("papermill") or {}
            try:
                start = dt.datetime.fromisoformat(pm["start_time"])
                end = dt.datetime.fromisoformat(pm.get("end_time") or now.isoformat())
            except (KeyError, TypeError, ValueError):
                continue
            tz = lambda t: t if t.tzinfo else t.replace(tzinfo=dt.UTC)  # noqa: E731
            return tz(start), tz(end)
    stamp = getattr(getattr(product, "metadata", None), "timestamp", None)
    end = dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp else now
    return end - dt.timedelta(seconds=elapsed or 0), end


def _notebook_error(task) -> str:
    """The error a failed notebook task stopped on ("Name: message"), or ""."""
    try:
        path = Path(str(task.product["nb"]))
        nb = nbformat.read(path, as_version=4)
    except Exception:  # not a notebook task, or no executed notebook
        return ""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
    return ""


def emit_dag_events(dag, error: str = "", elapsed: dict[str, float] | None = None) -> list:
    """START and COMPLETE/FAIL events for every task of `dag` that ran in this build;
    `elapsed` (task -> seconds, from Ploomber's build report) dates the non-notebook tasks.
    A build that ran no task (all up to date) emits nothing and parses no model."""
    statuses = {name: getattr(dag[name].exec_status, "name", "") for name in dag}
    ran = [name for name, status in statuses.items() if status in ("Executed", "Errored")]
    if not ran:
        return []
    project = Project.load()
    settings = project.settings
    io = pipeline_io(project)
    try:
        lineage = model_column_lineage(project)
    except Exception as exc:
        log.warning("column lineage skipped: %s", exc)
        lineage = {}
    run_id = current_run_id()  # minted when the DAG rendered (starloom.pipeline.on_render)
    events = []
    for name in ran:
        task, status = dag[name], statuses[name]
        started, ended = _times(task, (elapsed or {}).get(name))
        events += run_events(
            name,
            inputs=io.get(name, {}).get("inputs", []),
            outputs=io.get(name, {}).get("outputs", []),
            settings=settings,
            started_at=started,
            ended_at=ended,
            failed=status == "Errored",
            error=(_notebook_error(task) or error) if status == "Errored" else "",
            run_id=run_id,
            column_lineage_by_model=lineage,
        )
    events.sort(key=lambda e: e.eventTime)
    emit(events, project.root / EVENTS_FILE)
    return events


# -- reading events back into the client's models ---------------------------------------------


def parse_event(data: dict):
    """A RunEvent dict (as emitted) rebuilt with the client's own models; raises on anything
    the models reject (bad UUID, date-time, unknown event type or facet field)."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run, tags_run

    def strip(facet: dict) -> dict:
        return {k: v for k, v in facet.items() if not k.startswith("_")}

    def run_facets(facets: dict) -> dict:
        out = {}
        for key, value in facets.items():
            if key == "parent":
                out[key] = parent_run.ParentRunFacet(
                    run=parent_run.Run(**value["run"]), job=parent_run.Job(**value["job"])
                )
            elif key == "errorMessage":
                out[key] = error_message_run.ErrorMessageRunFacet(**strip(value))
            elif key == "tags":
                out[key] = tags_run.TagsRunFacet(
                    tags=[tags_run.TagsRunFacetFields(**tag) for tag in value["tags"]]
                )
            else:
                raise ValueError(f"unexpected run facet {key}")
        return out

    def dataset(cls, d: dict):
        facets = {}
        for key, value in (d.get("facets") or {}).items():
            if key != "columnLineage":
                raise ValueError(f"unexpected dataset facet {key}")
            facets[key] = cl.ColumnLineageDatasetFacet(
                fields={
                    col: cl.Fields(
                        inputFields=[
                            cl.InputField(
                                **{k: v for k, v in f.items() if k != "transformations"},
                                transformations=[
                                    cl.Transformation(**t) for t in f.get("transformations", [])
                                ],
                            )
                            for f in spec["inputFields"]
                        ],
                        **{k: v for k, v in spec.items() if k != "inputFields"},
                    )
                    for col, spec in value["fields"].items()
                },
                dataset=[cl.InputField(**f) for f in value.get("dataset", [])],
            )
        return cls(namespace=d["namespace"], name=d["name"], facets=facets)

    job = data["job"]
    job_facets = {
        k: job_type_job.JobTypeJobFacet(**strip(v))
        for k, v in (job.get("facets") or {}).items()
        if k == "jobType"
    }
    if set(job.get("facets") or {}) - {"jobType"}:
        raise ValueError("unexpected job facet")
    return RunEvent(
        eventType=RunState[data["eventType"]],
        eventTime=data["eventTime"],
        producer=data["producer"],
        run=Run(runId=data["run"]["runId"], facets=run_facets(data["run"].get("facets") or {})),
        job=Job(namespace=job["namespace"], name=job["name"], facets=job_facets),
        inputs=[dataset(InputDataset, d) for d in data.get("inputs") or []],
        outputs=[dataset(OutputDataset, d) for d in data.get("outputs") or []],
    )
