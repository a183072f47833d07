"""Materializations: how a model's SELECT becomes a view or a table, one module each.

- `view` (starloom.models.materializations.view): CREATE OR REPLACE VIEW;
- `table` (.table): built aside, tested, swapped in with EXCHANGE TABLES;
- `incremental` (.incremental): like a table at first, then only the new rows, appended,
  replacing their partitions or upserted;
- `snapshot` (.snapshot): SCD type 2 versions of a mutable source.

What they share is in .shared. `BUILDERS` maps a header's `materialization` to its build
function, `build(ctx, model, render) -> Outcome`, which the runner looks up: `render(True)`
is the model's SELECT with `is_incremental()` true. A new materialization is a module
with a `build` function, an entry here and its name in
starloom.models.config.MATERIALIZATIONS.
"""

from __future__ import annotations

from collections.abc import Callable

from starloom.models.definition import Model
from starloom.models.materializations import incremental, snapshot, table, view
from starloom.models.materializations.shared import BuildContext, Outcome, Render

Builder = Callable[[BuildContext, Model, Render], Outcome]

BUILDERS: dict[str, Builder] = {
    "view": view.build,
    "table": table.build,
    "incremental": incremental.build,
    "snapshot": snapshot.build,
}

# Whose table a build skips, with its tests, when nothing it reads changed since its last
# build (starloom.models.build_state).
SKIPPABLE = ("table", "incremental")
