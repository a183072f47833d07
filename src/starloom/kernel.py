"""The Jupyter kernel side of `%load_ext starloom`: a StarloomError shows as its one-paragraph
message, not a traceback; and whether this process is such a kernel."""

from __future__ import annotations

import os
import sys

from starloom.errors import StarloomError


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter (IPython ZMQ) kernel: a long-lived, interactive process."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"


HEADLESS_ENV = "STARLOOM_HEADLESS"  # "1" in the notebooks a pipeline run executes


def interactive() -> bool:
    """True on a terminal or in a Jupyter kernel a person works in, where a progress bar is
    worth showing. A pipeline run's notebooks (set headless by starloom.pipeline.on_render:
    their outputs are the reports), a log and a pipe get none. The bar is tqdm's text one,
    which JupyterLab shows as it goes without ipywidgets."""
    if os.environ.get(HEADLESS_ENV) == "1":
        return False
    return sys.stderr.isatty() or in_jupyter_kernel()


def _short_error(shell, etype, value, tb, tb_offset=None):
    shell._showtraceback(etype, value, [f"{etype.__name__}: {value}"])


def install() -> None:
    """In an IPython kernel, show starloom's errors as their message alone."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is not None and hasattr(shell, "set_custom_exc"):
        shell.set_custom_exc((StarloomError,), _short_error)
