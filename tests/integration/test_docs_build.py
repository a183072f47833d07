"""The docs site built from a real warehouse: model pages, tests, lineage, quality history."""

from __future__ import annotations

import re

from tests.support.project import make_demo

from starloom import cli, models, quality
from starloom.ingestion.load import ingest
from starloom.project import Project
from starloom.publish.site import build_docs

RUN_DATE = "2024-01-03"


def _add_warn_test(project) -> None:
    path = project / "sql" / "staging" / "stg_shop__orders.sql"
    text = path.read_text()
    head, tail = text.split("--- */", 1)
    path.write_text(
        head + "tests:\n  - expression_is_true: {expression: \"status != 'cancelled'\", "
        "severity: warn}\n--- */" + tail
    )


def test_docs_site_describes_every_model(project, wh):
    make_demo(project, run_date=RUN_DATE)
    _add_warn_test(project)
    ingest(wh, "shop", run_date=RUN_DATE)
    ingest(wh, "events", run_date=RUN_DATE)
    models.build(wh, run_date=RUN_DATE)
    for run in ("r1", "r2"):
        quality.record_stats(wh, run_id=run, run_date=RUN_DATE)
    quality.check_freshness(wh, run_date=RUN_DATE)
    reports = project / "output" / "reports"
    reports.mkdir(parents=True)
    (reports / "05_report_shop.html").write_text("<html><title>Shop</title></html>")

    index = build_docs(Project.load(project))
    docs = index.parent
    html = index.read_text()
    names = sorted(Project.load(project).models)
    for name in names:
        assert f'href="models/{name}.html"' in html
        assert (docs / "models" / f"{name}.html").is_file()
    assert 'href="../reports/05_report_shop.html"' in html
    assert "data:image/png;base64" in html  # the DAG picture and the history chart
    assert html.count("data:image/png;base64") == 2
    assert re.search(r"<td>events</td>\s*<td>event_at</td>", html)  # freshness

    fct = (docs / "models" / "fct_orders.html").read_text()
    assert "one row per order line" in fct  # grain
    assert 'href="stg_shop__orders.html"' in fct  # upstream, and column lineage
    assert re.search(r"stg_shop__orders</a>\.<code>customer_id</code>", fct)
    assert fct.count('class="sl-status pass">pass<') >= 5
    assert "<th>line_revenue</th>" in fct  # the sample
    stg = (docs / "models" / "stg_shop__orders.html").read_text()
    assert 'href="fct_orders.html"' in stg  # downstream
    assert 'class="sl-status warn">warn<' in stg
    assert "Failing rows, e.g." in stg and "cancelled" in stg
    # a failing row as the error says it: a date as its day, a time without the ISO "T"
    assert re.search(r"<code>\{order_id: \d+, .*order_date: 2024-01-0\d, status: cancelled", stg)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", stg)
    for page in [index, *sorted((docs / "models").glob("*.html"))]:
        text = page.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), page
        assert "<script" not in text
        assert str(project) not in text


def test_docs_command_works_before_any_build(project, capsys):
    assert cli.main(["docs"]) == 0
    index = project / "output" / "docs" / "index.html"
    assert str(index) in capsys.readouterr().out
    page = (project / "output" / "docs" / "models" / "dim_customers.html").read_text()
    assert "not built" in page
    assert "No report yet" in index.read_text()
