"""SQL models: definition (the files under sql/), config (their headers, read into typed
fields), the runner that builds and tests a selection of them, their materializations
(one module each), data_tests (the tests declared on them) and build_state.

`build`, `test` and `lineage` come from the runner, loaded on first use: the definition
(what starloom.project loads) needs nothing of the runners, and the runner needs the
project."""

from starloom.models.definition import Model, build_order, load_models

_RUNNER = ("build", "lineage", "test")

__all__ = ["Model", "build", "build_order", "lineage", "load_models", "test"]


def __getattr__(name: str):
    if name in _RUNNER:
        import importlib

        value = getattr(importlib.import_module("starloom.models.runner"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'starloom.models' has no attribute {name!r}")
