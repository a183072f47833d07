"""`table`: the rows are built into `<name>__new`, tested there, then swapped in with
EXCHANGE TABLES. If the build or a test fails, `<name>__new` is dropped and `<name>` is
untouched. The header's `engine`, `order_by` and `partition_by` make the table."""

from __future__ import annotations

from starloom.models.definition import Model
from starloom.models.materializations.shared import (
    BuildContext,
    Outcome,
    Render,
    build_aside_and_swap,
    spec_of,
)


def build(ctx: BuildContext, model: Model, render: Render) -> Outcome:
    return build_aside_and_swap(ctx, model, model.name, render(False), spec_of(model))
