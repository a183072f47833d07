"""starloom: a notebook-driven analytics engineering workbench.

The notebooks of a project call this package: `settings` finds the configuration,
`warehouse` talks to ClickHouse (embedded chdb or a server), `ingest` loads sources
with Dask, `models` builds the SQL models, `reports` turns executed notebooks into
shareable HTML.
"""

from starloom.errors import StarloomError
from starloom.notebook import install as _install_notebook_errors
from starloom.settings import Settings, load_settings
from starloom.warehouse import Warehouse, connect

_install_notebook_errors()

__all__ = ["StarloomError", "Settings", "load_settings", "Warehouse", "connect"]
__version__ = "0.1.0"
