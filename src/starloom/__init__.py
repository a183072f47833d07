"""starloom: a notebook-driven analytics engineering workbench.

The notebook API, one convention for every verb: the warehouse first, then what the verb
acts on, then keyword arguments only. `run_date` is a date or YYYY-MM-DD (default today);
`run_id` defaults to the current run's (one per `starloom run`, see starloom.runs).

    %load_ext starloom                        # %%sql, and starloom's errors as one paragraph
    import starloom

    wh = starloom.connect()                   # the warehouse of env.yaml / the environment
    loads = starloom.ingest(wh, "shop", run_date=run_date)
    loads = starloom.reingest(wh, "shop", start="2024-01-02", end="2024-01-03")  # those days again
    builds, tests = starloom.build(wh, "staging", run_date=run_date)
    tests = starloom.test(wh, "marts")
    freshness = starloom.check_freshness(wh, run_date=run_date)
    stats = starloom.record_stats(wh, run_date=run_date)
    flags = starloom.anomalies(wh)

Packages, in the order data flows: `ingestion` (sources and contracts into raw tables),
`models` (SQL models, their tests and materializations), `quality` (freshness, history),
`publish` (reports, docs site, charts); `warehouse` is the ClickHouse client and DDL;
`Project` (starloom.project) is the project folder read once: its sources, models, paths.
The verbs above load their package on first use, so `import starloom` stays light.
"""

from starloom.errors import StarloomError
from starloom.project import Project
from starloom.settings import Settings, load_settings
from starloom.warehouse import Warehouse, connect

__version__ = "0.1.0"

_VERBS = {
    "ingest": "starloom.ingestion.load",
    "reingest": "starloom.ingestion.load",
    "build": "starloom.models.runner",
    "test": "starloom.models.runner",
    "check_freshness": "starloom.quality.freshness",
    "raise_on_stale": "starloom.quality.freshness",
    "record_stats": "starloom.quality.history",
    "anomalies": "starloom.quality.history",
    "current_run_id": "starloom.runs",
}

__all__ = [
    "StarloomError", "Project", "Settings", "load_settings", "Warehouse", "connect", *_VERBS,
]  # fmt: skip


def __getattr__(name: str):
    if name in _VERBS:
        import importlib

        value = getattr(importlib.import_module(_VERBS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'starloom' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_VERBS})


def load_ipython_extension(ipython) -> None:
    """`%load_ext starloom`: the %sql / %%sql magics (starloom.magic), and a StarloomError
    shown as its message, without the traceback."""
    from starloom import kernel, magic

    magic.register(ipython)
    kernel.install()
