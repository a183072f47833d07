"""`starloom init DIR`: a new project that builds at once, on a small example source.

The project holds the pipeline (ingest, build, report, quality, published reports), an
example CSV source with its data and contract, a staging model, a dimension and a fact with
tests, thin notebooks that call the public API, and the files a repository needs. Every
file is written here, from this module, so that an installed package can write it
anywhere. Replace the example with your sources and models; nothing else refers to it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from starloom.errors import ConfigError

README = """# {name}

A starloom project: sources in `sources/`, SQL models in `sql/`, notebooks in `notebooks/`
wired by `pipeline.yaml`. Reference: the docs of starloom (`docs/sources.md` for sources and
contracts, `docs/models.md` for models and tests, `docs/cli.md` for the commands).

## Every day

```bash
starloom run                          # the whole pipeline for env.yaml's run_date
starloom run --env--run_date 2024-01-03   # another day
starloom ingest example --reload      # load a source's files again (after changing its contract)
starloom build --select fct_sales+    # a model and every model that reads it, with their tests
starloom build --select +fct_sales    # a model and every model it reads
starloom test                         # the models' tests, on the tables as they are
starloom sql "SELECT * FROM fct_sales LIMIT 5"
starloom lab                          # the notebooks in JupyterLab, parameters injected
```

`starloom run` ingests, builds and tests the models, runs the reports and publishes them in
`output/index.html`, then says what it did: rows loaded per table, models built or up to
date, tests passed and failed. `make build`, `make test` and `make lab` do the same as
`starloom run`, `pytest` and `starloom lab`.

New data files and new SQL files are picked up by the next run: the ingest and build
steps run when a data file, a source or a model changed, and then skip themselves what
has not (files by size and checksum, models by their SQL and inputs). A run with nothing
new runs nothing.

## Add your data

1. Put the files under `data/` (or point `path` at where they are).
2. Declare the source in `sources/<name>.yml`: the path, the contract (`columns`), the CSV
   options. `sources/example.yml` shows the keys; every key is checked.
3. Add models: `sql/staging/stg_<source>__<table>.sql`, then `sql/marts/dim_*.sql` and
   `fct_*.sql`. Each file starts with a YAML header (description, materialization, tests).
4. `starloom run`, then open `output/index.html`.

For a historical data set, set `run_date` to its last day (files dated after the run date
wait for their day); for a daily feed, `run_date: today` or `yesterday`.

## Remove the example

The example is a source, its files and three models. Delete them, and what they built:

```bash
rm -r sources/example.yml data/example
rm sql/staging/stg_example__sales.sql sql/marts/dim_customers.sql sql/marts/fct_sales.sql
rm -rf output .warehouse              # the example's reports and tables (as make clean)
```

Everything else stays and `starloom run` still builds, with nothing to load or build until
your sources and models are there. `notebooks/03_report.ipynb` reports on the example's
tables: once they are gone it says so; replace its cells with your report. `make test`
asks for a source in `sources/` until you declare one.

## Folders

```
sources/     one YAML file per source: where the data is and the contract of each table
sql/         staging/ (views over raw tables), snapshots/ (SCD2 history), marts/ (dims, facts)
notebooks/   the pipeline's steps; each executed copy is a report in output/
data/        the example's files (yours may live anywhere)
output/      (ignored) executed notebooks, HTML reports, landing Parquet, docs site
.warehouse/  (ignored) the embedded ClickHouse database
```
"""

MAKEFILE = """# Run with the Python environment where starloom is installed active.
.PHONY: build test lab clean

build:  ## the whole pipeline for env.yaml's run_date
\tstarloom run

test:  ## the project's own checks: sources and models load, models build, tests pass
\tpython -m pytest -q tests

lab:  ## JupyterLab on the notebooks
\tstarloom lab

clean:  ## remove products and the embedded warehouse
\trm -rf output .warehouse
"""

GITIGNORE = """output/
.warehouse/
.env
.ipynb_checkpoints/
__pycache__/
"""

ENV_EXAMPLE = """# Copy to .env (never committed) and fill in.
# Unset: the embedded warehouse in .warehouse/.
# STARLOOM_CLICKHOUSE_URL=https://user@clickhouse.example.com:8443
# STARLOOM_CLICKHOUSE_PASSWORD=
# STARLOOM_DASK_SCHEDULER=tcp://scheduler:8786
"""

ENV_YAML = """# Settings of the project (no secrets: those go in .env or the environment).
# The day the pipeline runs for: YYYY-MM-DD, or today / yesterday (UTC).
# Override per run: starloom run --env--run_date 2024-01-03
run_date: "2024-01-03"

project_name: {name}

# Embedded ClickHouse in `path`, unless `url` (or STARLOOM_CLICKHOUSE_URL) is set.
warehouse:
  path: .warehouse
  url: ""
  database: {database}
  cluster: ""

# "" = local threads; "tcp://host:8786" = a dask.distributed cluster
dask_scheduler: ""
"""

PIPELINE = """# The pipeline: task wiring only. `starloom run` (Ploomber's build) runs what is new.
# The ingest and build steps run when what they read changed (`stamp`: `starloom run` puts a
# fingerprint of the data files and sources/, or of sql/, in place of the time; a plain
# `ploomber build` runs them every time), so new data files and new SQL files are picked up
# without editing this file, and a run with nothing new runs nothing.
meta:
  extract_upstream: false
  extract_product: false
  jupyter_hot_reload: false

executor: serial

on_render: starloom.pipeline.on_render
on_finish: starloom.pipeline.on_finish
on_failure: starloom.pipeline.on_failure

tasks:
  - source: notebooks/01_ingest.ipynb
    name: ingest
    static_analysis: disable
    product:
      nb: output/notebooks/01_ingest.ipynb
    params:
      run_date: "{{run_date}}"
      stamp: "ingest {{now}}"

  - source: notebooks/02_build_models.ipynb
    name: build_models
    upstream: [ingest]
    static_analysis: disable
    product:
      nb: output/notebooks/02_build_models.ipynb
    params:
      run_date: "{{run_date}}"
      stamp: "models {{now}}"

  - source: notebooks/03_report.ipynb
    name: report
    upstream: [build_models]
    static_analysis: disable
    product:
      nb: output/notebooks/03_report.ipynb
    params:
      run_date: "{{run_date}}"

  - source: notebooks/04_check_quality.ipynb
    name: check_quality
    upstream: [build_models]
    static_analysis: disable
    product:
      nb: output/notebooks/04_check_quality.ipynb
    params:
      run_date: "{{run_date}}"

  - source: starloom.pipeline.publish_reports
    name: publish_reports
    upstream: [ingest, build_models, report, check_quality]
    product: output/index.html

  - source: starloom.pipeline.publish_docs
    name: build_docs
    upstream: [publish_reports]
    product: output/docs/index.html
"""

SOURCE = """# An example source: CSV files with the day in their name. Replace it with yours; every
# key is documented in starloom's docs/sources.md, and an unknown key is an error.
source: example
kind: files
format: csv
tables:
  sales:
    description: One line per sale, a file per day
    path: data/example/sales_*.csv
    partition: filename          # the day is the date in the file name (or: folder, none)
    primary_key: [sale_id]
    csv:
      delimiter: ";"
      null_values: [NA]          # R and pandas exports write NA for a missing value
    freshness: {column: sold_at, warn_after: {days: 2}}
    columns:
      sale_id: {type: int64}
      sold_at: {type: datetime, nullable: false}
      customer: {type: string, nullable: false, max_length: 100}
      amount: {type: "decimal(12,2)", nullable: false, min: 0}
      channel: {type: string, accepted_values: [web, store]}

# Other kinds of sources, for reference (a source per file):
#
# source: shop                     # a database, through SQLAlchemy
# kind: sql
# url: ${SHOP_DB_URL}              # read from the environment or .env
# tables:
#   orders:
#     primary_key: [order_id]
#     mode: incremental            # only rows past the largest cursor loaded
#     cursor: updated_at
#     columns:
#       order_id: {type: int64}
#       updated_at: {type: datetime, nullable: false}
#
# source: events                   # JSON lines (or format: parquet), a folder per day
# kind: files
# format: jsonl
# tables:
#   events:
#     path: data/events/date=*/*.jsonl
#     primary_key: [event_id]
#     columns:
#       event_id: {type: string}
#       event_at: {type: datetime}
#
# source: crm                      # change events (Debezium), applied as upserts and deletes
# kind: files
# format: debezium
# tables:
#   customers:
#     path: data/crm/date=*/*.jsonl
#     primary_key: [customer_id]
#     columns:
#       customer_id: {type: int64}
#       email: {type: string}
"""

DATA = {
    "data/example/sales_2024-01-01.csv": (
        "sale_id;sold_at;customer;amount;channel\n"
        "1;2024-01-01 09:15:00;Ada;19.90;web\n"
        "2;2024-01-01 11:02:00;Grace;5.00;store\n"
        "3;2024-01-01 17:45:30;Ada;42.50;NA\n"
    ),
    "data/example/sales_2024-01-02.csv": (
        "sale_id;sold_at;customer;amount;channel\n"
        "4;2024-01-02 08:00:00;Linus;7.25;web\n"
        "5;2024-01-02 12:30:00;Grace;12.00;web\n"
    ),
    "data/example/sales_2024-01-03.csv": (
        "sale_id;sold_at;customer;amount;channel\n"
        "6;2024-01-03 10:10:10;Barbara;99.99;store\n"
        "7;2024-01-03 19:00:00;Ada;3.10;web\n"
    ),
}

MODELS = {
    "sql/staging/stg_example__sales.sql": """/* ---
description: Sales as loaded, one row per sale, with the day it was sold
materialization: view
columns:
  sale_id: {tests: [unique, not_null]}
--- */
SELECT
    sale_id,
    sold_at,
    toDate(sold_at) AS sold_on,
    customer,
    amount,
    coalesce(channel, 'unknown') AS channel
FROM {{ source('example', 'sales') }}
""",
    "sql/marts/dim_customers.sql": """/* ---
description: One row per customer, with their first sale
grain: customer
materialization: table
order_by: [customer]
columns:
  customer: {tests: [unique, not_null]}
--- */
SELECT customer, min(sold_at) AS first_sold_at, count() AS sales
FROM {{ ref('stg_example__sales') }}
GROUP BY customer
""",
    "sql/marts/fct_sales.sql": """/* ---
description: Sales, the fact table of the example star
grain: sale
materialization: table
order_by: [sold_on, sale_id]
columns:
  sale_id: {tests: [unique, not_null]}
  customer:
    tests:
      - relationships: {to: dim_customers, field: customer}
  amount:
    tests:
      - expression_is_true: {expression: "amount >= 0"}
--- */
SELECT sale_id, sold_on, sold_at, customer, channel, amount
FROM {{ ref('stg_example__sales') }}
""",
    "sql/snapshots/README.md": (
        "SCD type 2 snapshots go here: `snp_<entity>.sql`, with `materialization: snapshot`,\n"
        "a `unique_key` and the columns to track (see starloom's docs). None yet.\n"
    ),
}

PROJECT_TEST = '''"""The project's own checks (`make test`): its sources and models load, and the
models build and pass their tests on the data the sources hold."""

from pathlib import Path

from starloom import models
from starloom.ingestion.load import ingest
from starloom.project import Project
from starloom.settings import Settings
from starloom.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]


def test_sources_and_models_are_declared_correctly():
    project = Project.load(ROOT)
    assert project.sources, "no source in sources/"
    assert project.models, "no model in sql/"


def test_the_models_build_and_pass_their_tests(tmp_path):
    settings = Project.load(ROOT).settings  # on an embedded warehouse of its own
    wh = Warehouse(
        Settings(project_dir=ROOT, warehouse_path=tmp_path / "warehouse", raw=settings.raw)
    )
    loads = ingest(wh, run_date=settings.run_date)
    builds, tests = models.build(wh, run_date=settings.run_date)
    assert len(loads) and len(builds) and (tests.status != "fail").all()
'''


def _notebook(title: str, doc: str, cells: list[str]) -> str:
    """A notebook: a markdown cell saying what it does, the parameters, then code cells
    (a cell starting with `## ` is markdown)."""

    def code(source: str, tags=()) -> dict:
        return {
            "cell_type": "code", "execution_count": None, "metadata": {"tags": list(tags)},
            "outputs": [], "source": source,
        }  # fmt: skip

    out = [
        {"cell_type": "markdown", "metadata": {}, "source": f"# {title}\n{doc}"},
        code(
            'run_date = "2024-01-03"\nstamp = ""  # what the step reads changed (makes it run)\n'
            "upstream = None\nproduct = None",
            tags=["parameters"],
        ),
    ]
    for cell in cells:
        if cell.startswith("## "):
            out.append({"cell_type": "markdown", "metadata": {}, "source": cell})
        else:
            out.append(code(cell))
    for i, cell in enumerate(out):
        cell["id"] = f"cell-{i}"
    return json.dumps(
        {
            "cells": out,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


NOTEBOOKS = {
    "notebooks/01_ingest.ipynb": (
        "Load the sources",
        "Loads every source of `sources/` for the run date: new and changed files, checked "
        "against their contracts. Rows that break a contract go to `starloom_quarantine`.\n\n"
        "**Reads:** the sources. **Writes:** `raw_<source>__<table>`, `starloom_loads`.",
        [
            "%load_ext starloom\nimport starloom\n\nwh = starloom.connect()\nprint(wh.describe())",
            "## Load\nOne row per table: rows read = rows loaded + rows quarantined.",
            "loads = starloom.ingest(wh, run_date=run_date)\n"
            'loads[["source", "entity", "rows_read", "rows_loaded", "rows_quarantined", '
            '"notes"]]',
            "## Quarantined rows of this run (if any)",
            "ids = list(loads.load_id)",
            "%%sql\nSELECT source, entity, file, line, reason, record FROM starloom_quarantine\n"
            "WHERE load_id IN {ids:Array(String)} ORDER BY file, line LIMIT 50",
        ],
    ),
    "notebooks/02_build_models.ipynb": (
        "Build the models",
        "Builds the models of `sql/` in dependency order (staging, snapshots, marts) with "
        "their tests; a model whose inputs did not change is skipped. A failing error-level "
        "test stops here and keeps the previous table.\n\n**Reads:** `raw_*`. **Writes:** the "
        "models, `starloom_test_results`.",
        [
            "%load_ext starloom\nimport starloom\n\nwh = starloom.connect()",
            "## Build",
            "builds, tests = starloom.build(wh, run_date=run_date)\nbuilds",
            "## Tests",
            'tests[["model", "test", "column", "severity", "failures", "status"]]',
        ],
    ),
    "notebooks/03_report.ipynb": (
        "Sales report",
        "The example's report over its marts: replace these cells with your report. Without "
        "the example's tables it says so and shows nothing.\n\n**Reads:** `fct_sales`, "
        "`dim_customers`.",
        [
            "%load_ext starloom\nimport starloom\n\nwh = starloom.connect()\n"
            'missing = [t for t in ("fct_sales", "dim_customers") if not wh.table_exists(t)]\n'
            "if missing:\n"
            "    print(f\"Not in the warehouse: {', '.join(missing)}. Nothing to report.\")",
            "## Sales per day",
            "if not missing:\n"
            '    daily = wh.query_df(\n        "SELECT sold_on, channel, toFloat64(sum(amount)) '
            'AS amount "\n        "FROM fct_sales GROUP BY sold_on, channel ORDER BY sold_on"\n'
            '    )\n    by_channel = daily.pivot_table(\n        index="sold_on", '
            'columns="channel", values="amount", aggfunc="sum"\n    )\n'
            "    ax = by_channel.plot.bar(\n"
            '        stacked=True, figsize=(7, 3), rot=0, title="Sales per day and channel"\n'
            '    )\n    ax.set_xlabel("")',
            "## Best customers",
            "if not missing:\n"
            '    display(wh.query_df(\n        "SELECT customer, sales, first_sold_at FROM '
            'dim_customers ORDER BY sales DESC LIMIT 10"\n    ))',
        ],
    ),
    "notebooks/04_check_quality.ipynb": (
        "Check quality",
        "Test results, source freshness, and row counts over time.\n\n**Reads:** every "
        "table, `starloom_test_results`. **Writes:** `starloom_freshness`, the history.",
        [
            "%load_ext starloom\nimport starloom\nfrom starloom import quality\n"
            "from starloom.models import data_tests\nfrom starloom.publish import charts\n\n"
            "wh = starloom.connect()",
            "## Tests",
            "results = data_tests.latest_results(wh)\nprint(charts.tests_line(results))\nresults",
            "## Freshness",
            "freshness = starloom.check_freshness(wh, run_date=run_date)\nfreshness",
            "## Rows and nulls over time",
            "stats = starloom.record_stats(wh, run_date=run_date)\nstarloom.anomalies(wh)",
            # the chart shows once, drawn by the notebook; returned at a cell's end, twice
            "if charts.plot_row_counts(quality.metric_history(wh)) is None:\n"
            '    print("One run recorded so far: the trend charts start with the second run.")',
            "starloom.raise_on_stale(freshness)",
        ],
    ),
}


def write_project(folder: str | Path, name: str | None = None) -> Path:
    """Write a new project in `folder` (absent or empty); returns its path."""
    root = Path(folder).resolve()
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} is not empty: starloom init writes a new project only.")
    name = name or root.name
    database = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_").lower() or "starloom"
    if database[0].isdigit():
        database = f"p_{database}"
    files = {
        "README.md": README.format(name=name),
        "Makefile": MAKEFILE,
        ".gitignore": GITIGNORE,
        ".env.example": ENV_EXAMPLE,
        "env.yaml": ENV_YAML.format(name=json.dumps(name), database=database),
        "pipeline.yaml": PIPELINE,
        "sources/example.yml": SOURCE,
        "tests/test_project.py": PROJECT_TEST,
        **DATA,
        **MODELS,
        **{path: _notebook(*spec) for path, spec in NOTEBOOKS.items()},
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
