"""SQL models: definition (the files under sql/ and their headers), the runner that builds
and tests a selection of them, their materializations, tests and build state."""

from starloom.models.definition import Model, build_order, load_models
from starloom.models.runner import build, lineage, test

__all__ = ["Model", "build", "build_order", "lineage", "load_models", "test"]
