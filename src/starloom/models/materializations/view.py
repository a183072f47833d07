"""`view`: CREATE OR REPLACE VIEW over the model's SELECT; its tests run on the view after
it is made (a view holds no rows of its own to build aside)."""

from __future__ import annotations

from starloom.models import data_tests
from starloom.models.definition import Model
from starloom.models.materializations.shared import (
    BuildContext,
    Outcome,
    Render,
    drop,
    table_engine,
)


def build(ctx: BuildContext, model: Model, render: Render) -> Outcome:
    body = render(False)
    if table_engine(ctx.wh, model.name) not in (None, "View"):
        drop(ctx, model.name)
    ctx.wh.command(ctx.ddl.create_view(model.name, body), ctx.params(model))
    tests = data_tests.run_model_tests(
        ctx.wh, model, model.name, ctx.run_id, params=ctx.params(model)
    )
    return Outcome(tests, "full", 0)
