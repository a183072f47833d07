"""SQL models: definition (the files under sql/), config (their headers, read into typed
fields), the runner that builds and tests a selection of them, their materializations
(one module each), data_tests (the tests declared on them) and build_state."""

from starloom.models.definition import Model, build_order, load_models
from starloom.models.runner import build, lineage, test

__all__ = ["Model", "build", "build_order", "lineage", "load_models", "test"]
