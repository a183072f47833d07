"""The docs site: static, self-contained HTML under output/docs/ describing the models.

index.html shows the pipeline picture, every model with its latest test results, links to
the executed notebook reports (output/reports/*.html), source freshness and the quality
history (row counts and anomaly flags). models/<name>.html shows a model's description,
grain, columns, tests with their latest results, upstream and downstream models, column
lineage and a sample of rows. Pictures are embedded; the pages load nothing from the
network and use no script. Built by the pipeline's `build_docs` task and by `starloom docs`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from starloom import lineage, quality
from starloom.errors import StarloomError
from starloom.ingestion.raw_names import raw_table
from starloom.models import Model, data_tests
from starloom.models.config import ColumnConfig
from starloom.project import Project
from starloom.publish import charts
from starloom.warehouse import Warehouse

TEMPLATES = Path(__file__).parent / "templates"
SAMPLE_ROWS = 10


@dataclass
class ModelPage:
    model: Model
    upstream: list[str]
    downstream: list[str]
    columns: list[dict] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)
    lineage: dict = field(default_factory=dict)
    rows: int | None = None
    sample_html: str = ""
    trend_png: str = ""

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def status(self) -> str:
        statuses = {t["status"] for t in self.tests}
        for s in ("fail", "error", "warn", "pass"):
            if s in statuses:
                return s
        return "untested"


def _png(fig) -> str:
    """A chart of starloom.publish.charts as an embedded PNG ("" for no chart)."""
    if fig is None:
        return ""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _reports(output_dir: Path, docs_dir: Path) -> list[dict]:
    """The notebook reports in output/reports/, with their titles, relative to docs_dir."""
    from starloom.publish.reports import notebook_title

    out = []
    for html in sorted((output_dir / "reports").glob("*.html")):
        title = html.stem
        nb_path = output_dir / "notebooks" / f"{html.stem}.ipynb"
        if nb_path.is_file():
            import nbformat

            try:
                title = notebook_title(nbformat.read(nb_path, as_version=4)) or title
            except Exception:  # an unreadable notebook keeps its file name as title
                pass
        href = Path(os.path.relpath(html, docs_dir)).as_posix()
        out.append({"title": title, "href": href, "file": html.name})
    return out


def _warehouse_facts(wh: Warehouse, names: list[str]) -> dict:
    """Everything the pages need from the warehouse, in one short session."""
    facts: dict = {"columns": {}, "rows": {}, "samples": {}, "results": pd.DataFrame()}
    with wh.session():
        existing = set(wh.tables())
        for name in names:
            if name not in existing:
                continue
            facts["columns"][name] = wh.query_rows(
                "SELECT name, type FROM system.columns WHERE database = {d:String} "
                "AND table = {t:String} ORDER BY position",
                {"d": wh.database, "t": name},
            )
            facts["rows"][name] = wh.count(name)
            facts["samples"][name] = wh.query_df(
                f"SELECT * FROM {wh.qualified(name)} LIMIT {SAMPLE_ROWS}"
            )
        facts["results"] = data_tests.latest_results(wh)
        facts["history"] = quality.metric_history(wh)
        facts["anomalies"] = quality.flag_anomalies(facts["history"])
        facts["freshness"] = (
            wh.query_df(
                f"SELECT source, `table`, `column`, latest_at, age_hours, warn_after_hours, "
                f"error_after_hours, status, checked_at FROM "
                f"{wh.qualified(quality.FRESHNESS_TABLE)} ORDER BY checked_at DESC "
                "LIMIT 1 BY source, `table`"
            )
            if quality.FRESHNESS_TABLE in existing
            else pd.DataFrame()
        )
    return facts


def _declared_tests(model: Model) -> list[dict]:
    return [
        {"test": test.label, "column": column, "severity": test.severity}
        for column, test in model.config.declared_tests()
    ]


def build_docs(project: Project | None = None, docs_dir: Path | None = None) -> Path:
    """Write the docs site of `project` (default: the current one) in `docs_dir` (default:
    output/docs); returns the path of its index.html."""
    from starloom.publish.reports import plot_dag, table_html

    project = project or Project.load()
    output_dir = project.output_dir
    docs_dir = Path(docs_dir or output_dir / "docs")
    (docs_dir / "models").mkdir(parents=True, exist_ok=True)

    models = project.models
    col_lineage = lineage.model_column_lineage(project)
    downstream: dict[str, list[str]] = {n: [] for n in models}
    for name, model in models.items():
        for ref in model.refs:
            downstream.setdefault(ref, []).append(name)

    wh = Warehouse(project.settings)
    try:
        facts = _warehouse_facts(wh, list(models))
        warehouse_note = ""
    except StarloomError as exc:
        facts = {"columns": {}, "rows": {}, "samples": {}, "results": pd.DataFrame()}
        warehouse_note = f"The warehouse could not be read: {exc}"
    results = facts["results"]
    history = facts.get("history", pd.DataFrame(columns=["table", "metric"]))

    pages = []
    for name, model in models.items():
        upstream = sorted(model.refs) + sorted(raw_table(s, t) for s, t in model.sources)
        page = ModelPage(model, upstream, sorted(downstream.get(name, [])))
        types = dict(facts["columns"].get(name, []))
        documented = model.config.columns
        for column in list(documented) + [c for c in types if c not in documented]:
            spec = documented.get(column) or ColumnConfig()
            page.columns.append(
                {
                    "name": column,
                    "type": types.get(column, ""),
                    "description": spec.description,
                    "tests": ", ".join(t.kind for t in spec.tests),
                }
            )
        latest = results[results.model == name] if len(results) else results
        for declared in _declared_tests(model):
            hit = (
                latest[(latest.test == declared["test"]) & (latest.column == declared["column"])]
                if len(latest)
                else latest
            )
            row = hit.iloc[0] if len(hit) else None
            page.tests.append(
                {
                    **declared,
                    "status": row["status"] if row is not None else "not run",
                    "failures": int(row["failures"]) if row is not None else "",
                    "checked_at": (
                        pd.Timestamp(row["checked_at"]).strftime("%Y-%m-%d %H:%M UTC")
                        if row is not None
                        else ""
                    ),
                    "sample": (
                        [data_tests.row_text(r) for r in data_tests.parse_sample(row["sample"])[:3]]
                        if row is not None and "sample" in row and row["sample"]
                        else []
                    ),
                }
            )
        page.lineage = col_lineage.get(name, {})
        page.rows = facts["rows"].get(name)
        if name in facts["samples"]:
            page.sample_html = table_html(facts["samples"][name])
        if len(history):
            page.trend_png = _png(charts.plot_table_trend(history, name))
        pages.append(page)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, keep_trailing_newline=True
    )
    title = project.name
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    model_names = set(models)
    for page in pages:
        html = env.get_template("docs_model.html.j2").render(
            title=title, generated=generated, page=page, models=model_names
        )
        (docs_dir / "models" / f"{page.name}.html").write_text(html, encoding="utf-8")

    dag_png = ""
    try:
        with warnings.catch_warnings():  # Ploomber warns of env.yaml keys the DAG does not use
            warnings.simplefilter("ignore", UserWarning)
            png = plot_dag(project.pipeline_file, docs_dir / "pipeline.png")
        dag_png = base64.b64encode(png.read_bytes()).decode()
    except Exception as exc:  # the picture is a nicety: the site is still useful without it
        warehouse_note += f" The pipeline picture could not be drawn: {exc}"
    anomalies = facts.get("anomalies", pd.DataFrame())
    flagged = anomalies[anomalies.is_anomaly] if len(anomalies) else anomalies
    layers = {}
    for page in pages:
        layers.setdefault(page.model.layer, []).append(page)
    index = env.get_template("docs_index.html.j2").render(
        title=title,
        generated=generated,
        layers=layers,
        reports=_reports(output_dir, docs_dir),
        dag_png=dag_png,
        history_png=_png(charts.plot_row_counts(history)) if len(history) else "",
        freshness_html=table_html(facts["freshness"]) if len(facts.get("freshness", [])) else "",
        anomalies_html=(
            table_html(flagged[["table", "metric", "value", "median", "threshold", "history"]])
            if len(flagged)
            else ""
        ),
        anomalies_checked=len(anomalies),
        note=warehouse_note.strip(),
    )
    out = docs_dir / "index.html"
    out.write_text(index, encoding="utf-8")
    return out
