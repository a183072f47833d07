"""Shareable reports: executed notebooks as self-contained HTML, the DAG picture, an index page.

Everything produced here opens offline: no script, style sheet or font loads from the network,
images are embedded as data: URIs and absolute paths of the machine are replaced by "." (the
project folder) and "~" (the home folder). Code cells are folded away behind a "Show code"
toggle; markdown and outputs, including error tracebacks, are always shown.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path

import jinja2
import nbformat

from starloom.errors import StarloomError

TEMPLATES = Path(__file__).parent / "templates"
REMOVE_CELL_TAGS = {"remove", "remove-cell"}
HIDE_INPUT_TAGS = {"hide-input", "remove-input"}
REMOVE_OUTPUT_TAGS = {"remove-output"}
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)(?:\s+#+)?\s*$", re.MULTILINE)


# -- notebooks -------------------------------------------------------------------------------


def notebook_title(nb: nbformat.NotebookNode) -> str | None:
    """The text of the first markdown heading, or None."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _HEADING.search(cell.source)
            if match:
                return re.sub(r"[*_`]", "", match.group(1)).strip()
    return None


def _papermill(nb: nbformat.NotebookNode) -> dict:
    return dict(nb.metadata.get("papermill") or {})


def _format_time(value: str | None) -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM UTC" ("" when missing or unreadable)."""
    if not value:
        return ""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _failed(nb: nbformat.NotebookNode) -> bool:
    """Papermill's exception flag; without papermill metadata, any error output."""
    pm = _papermill(nb)
    if pm:
        return bool(pm.get("exception"))
    return any(
        out.get("output_type") == "error"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


# -- machine paths ---------------------------------------------------------------------------


def _path_patterns(project_dir: Path) -> list[tuple[re.Pattern, str]]:
    """(pattern, replacement) for the project folder (as given and resolved) and the home."""
    project = Path(project_dir).absolute()
    candidates = {str(project): ".", str(project.resolve()): "."}
    home = Path.home()
    candidates.setdefault(str(home), "~")
    candidates.setdefault(str(home.resolve()), "~")
    # longest first, so the project wins over a home folder that contains it
    ordered = sorted((p for p in candidates if p not in ("", "/", ".")), key=len, reverse=True)
    return [(re.compile(re.escape(p) + r"(?![\w-]|\.\w)"), candidates[p]) for p in ordered]


def _scrub(value, patterns):
    if isinstance(value, str):
        for pattern, repl in patterns:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, list):
        return [_scrub(v, patterns) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _scrub(v, patterns)) for k, v in value.items())
    return value


def scrub_notebook(nb: nbformat.NotebookNode, project_dir: Path) -> nbformat.NotebookNode:
    """Replace machine paths in cell sources and outputs (in place; binary images untouched)."""
    patterns = _path_patterns(project_dir)
    for cell in nb.cells:
        cell.source = _scrub(cell.source, patterns)
        for out in cell.get("outputs", []):
            if "text" in out:
                out.text = _scrub(out.text, patterns)
            if out.get("output_type") == "error":
                out.evalue = _scrub(out.get("evalue", ""), patterns)
                out.traceback = _scrub(out.get("traceback", []), patterns)
            for mime, data in out.get("data", {}).items():
                if not (mime.startswith("image/") and "svg" not in mime):
                    out.data[mime] = _scrub(data, patterns)
    return nb


# -- one notebook ----------------------------------------------------------------------------


def export_html(notebook: Path, html: Path, *, project_dir: Path, show_code: bool = False) -> Path:
    """Convert an executed notebook to one self-contained HTML file; the .ipynb is not changed."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    notebook, html = Path(notebook), Path(html)
    nb = scrub_notebook(nbformat.read(notebook, as_version=4), project_dir)
    heading = notebook_title(nb)
    pm = _papermill(nb)
    nb.metadata["title"] = heading or notebook.name

    exporter = HTMLExporter(
        template_name="lab",
        extra_template_paths=[str(TEMPLATES)],
        template_file="report.html.j2",
        embed_images=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            remove_cell_tags=REMOVE_CELL_TAGS,
            remove_input_tags=HIDE_INPUT_TAGS,
            remove_all_outputs_tags=REMOVE_OUTPUT_TAGS,
        ),
        enabled=True,
    )
    resources = {
        "metadata": {"name": notebook.stem, "path": str(notebook.parent)},
        "starloom": {
            "title": nb.metadata["title"],
            "title_in_body": heading is not None,
            "file": notebook.name,
            "executed_at": _format_time(pm.get("end_time")),
            "duration": format_duration(pm["duration"]) if pm.get("duration") else "",
            "failed": _failed(nb),
            "show_code": show_code,
        },
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


# -- the DAG picture -------------------------------------------------------------------------

_STATUS_STYLE = {
    "built": {"fillcolor": "#b7e4c7", "style": "filled,rounded"},
    "missing": {"fillcolor": "#eeeeee", "style": "filled,rounded,dashed"},
    "warehouse": {"fillcolor": "#cfe2f3", "style": "filled,rounded"},
}


def _product_status(product) -> str:
    """built / missing for file products (all files present or not), warehouse otherwise."""
    files = [Path(p) for p in product_parts(product) if isinstance(p, os.PathLike)]
    if not files:
        return "warehouse"
    return "built" if all(f.exists() for f in files) else "missing"


def _shape(task) -> str:
    kind = type(task).__name__
    if kind in ("NotebookRunner", "ScriptRunner"):
        return "note"
    return "cylinder" if kind.startswith("SQL") else "box"


@contextlib.contextmanager
def _without_fontconfig_warnings():
    """Leave out the "Fontconfig warning: ..." lines the C library writes to the process's
    stderr while graphviz lays out text (a system's font configuration newer than the
    library, say); anything else written to stderr meanwhile is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to borrow
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode(errors="replace")
            kept = [
                line for line in text.splitlines(True) if not line.startswith("Fontconfig warning")
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def plot_dag(pipeline_yaml: Path, png: Path) -> Path:
    """Draw the pipeline left to right as a PNG with graphviz: offline, no task is rendered."""
    import pygraphviz
    from ploomber.spec import DAGSpec

    pipeline_yaml, png = Path(pipeline_yaml).resolve(), Path(png).resolve()
    graph = pygraphviz.AGraph(directed=True, strict=True)
    graph.graph_attr.update(rankdir="LR", nodesep="0.3", ranksep="0.6", bgcolor="white", dpi="110")
    graph.node_attr.update(shape="box", fontname="Helvetica", fontsize="12", color="#57606a")
    graph.edge_attr.update(color="#57606a", arrowsize="0.7")
    with contextlib.chdir(pipeline_yaml.parent):
        dag = DAGSpec(str(pipeline_yaml)).to_dag()
        for name in dag:
            task = dag[name]
            style = _STATUS_STYLE[_product_status(task.product)]
            graph.add_node(name, label=name, shape=_shape(task), **style)
        for name in dag:
            for upstream in dag[name].upstream:
                graph.add_edge(upstream, name)
    png.parent.mkdir(parents=True, exist_ok=True)
    with _without_fontconfig_warnings():
        graph.draw(str(png), format="png", prog="dot")
    return png


# -- the index page --------------------------------------------------------------------------


@dataclass
class ReportEntry:
    title: str
    html: str  # relative to the index page
    notebook: str  # relative to the index page
    executed_at: str = ""
    duration_s: float | None = None
    ok: bool = True


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).absolute(), Path(start).absolute())).as_posix()


def entry_for(notebook: Path, html: Path, output_dir: Path) -> ReportEntry:
    """The index line of one executed notebook and its HTML export."""
    nb = nbformat.read(notebook, as_version=4)
    pm = _papermill(nb)
    duration = pm.get("duration")
    return ReportEntry(
        title=notebook_title(nb) or Path(notebook).name,
        html=_relative(html, output_dir),
        notebook=_relative(notebook, output_dir),
        executed_at=_format_time(pm.get("end_time")),
        duration_s=float(duration) if duration is not None else None,
        ok=not _failed(nb),
    )


def table_html(df) -> str:
    """A pandas DataFrame as an HTML table, every value escaped."""
    return df.to_html(index=False, escape=True, border=0, classes="sl-table", na_rep="")


def build_index(
    output_dir: Path,
    reports: list[ReportEntry],
    *,
    dag_png: Path | None,
    title: str,
    summary_html: str = "",
    name: str = "index.html",
) -> Path:
    """Write output_dir/index.html: the DAG picture, the reports and the caller's summary block.

    `summary_html` is inserted as is: build it from escaped pieces (see `table_html`).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, keep_trailing_newline=True
    )
    env.filters["duration"] = format_duration
    png = Path(dag_png) if dag_png else None
    page = env.get_template("index_page.html.j2").render(
        title=title,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        reports=reports,
        dag_png=base64.b64encode(png.read_bytes()).decode() if png and png.is_file() else "",
        summary_html=summary_html,
    )
    index = Path(output_dir) / name
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(page, encoding="utf-8")
    return index


# -- products of the pipeline's tasks --------------------------------------------------------


def product_parts(product) -> list:
    """The single products inside a product. A ploomber MetaProduct is a Mapping whose
    iteration yields its products, not its keys (so .values() fails): iterate it directly."""
    if isinstance(product, (str, os.PathLike)):
        return [product]
    if isinstance(product, dict):
        return list(product.values())
    try:
        return list(iter(product))
    except TypeError:
        return [product]


def notebook_of(product) -> Path | None:
    """The executed .ipynb of an upstream product: a path, or a mapping with key "nb"."""
    try:
        product = product["nb"]
    except (KeyError, TypeError, IndexError):
        product = next((p for p in product_parts(product) if str(p).endswith(".ipynb")), None)
    path = Path(str(product)) if product is not None else None
    return path if path is not None and path.suffix == ".ipynb" else None


def warehouse_summary_html(settings) -> str:
    """Tables of the warehouse with their rows, and the latest loads, as HTML for the index."""
    from starloom.warehouse import Warehouse

    wh = Warehouse(settings)
    try:
        with wh.session():
            tables = wh.table_list().rename(columns={"name": "table"})
            loads = (
                wh.query_df(
                    "SELECT source, entity, rows_read, rows_loaded, rows_quarantined, seconds, "
                    "started_at FROM starloom_loads ORDER BY started_at DESC "
                    "LIMIT 1 BY source, entity"
                )
                if wh.table_exists("starloom_loads")
                else None
            )
    except StarloomError as exc:
        return f"<h2>Warehouse</h2><p>Could not read the warehouse: {html_escape(str(exc))}</p>"
    where = wh.describe().replace(str(settings.project_dir), ".")
    out = f"<h2>Warehouse</h2><p>{html_escape(where)}</p>" + table_html(tables)
    if loads is not None and len(loads):
        out += "<h2>Latest loads</h2>" + table_html(loads)
    return out
