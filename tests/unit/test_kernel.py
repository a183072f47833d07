"""The kernel side of `%load_ext starloom`: starloom's errors shown as their message."""

from __future__ import annotations

import sys
import types

from starloom import kernel
from starloom.errors import ConfigError, StarloomError


class _Shell:
    def __init__(self):
        self.handlers, self.shown = {}, []

    def set_custom_exc(self, types_, handler):
        self.handlers[types_] = handler

    def _showtraceback(self, etype, value, lines):
        self.shown.append(lines)


def test_install_shows_a_starloom_error_as_its_message(monkeypatch):
    shell = _Shell()
    fake = types.SimpleNamespace(get_ipython=lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    kernel.install()
    handler = shell.handlers[(StarloomError,)]
    error = ConfigError("No source named 'shpo'. Did you mean 'shop'?")
    handler(shell, ConfigError, error, None)
    assert shell.shown == [["ConfigError: No source named 'shpo'. Did you mean 'shop'?"]]
    assert not kernel.in_jupyter_kernel()  # a terminal shell is not a Jupyter kernel


def test_install_outside_ipython_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    kernel.install()
    assert not kernel.in_jupyter_kernel()
