"""What starloom changes in how Ploomber runs in its process, against Ploomber's own code."""

from __future__ import annotations

import sys

import pytest

from starloom import ploomber_build


@pytest.fixture
def differ(monkeypatch):
    from ploomber import codediffer

    monkeypatch.setattr(codediffer.CodeDiffer, "is_different", codediffer.CodeDiffer.is_different)
    ploomber_build._compare_same_code_as_is()
    return codediffer


def test_the_same_code_is_not_normalized_and_params_still_count(differ, monkeypatch):
    code = "def f(product):\n    return 1\n"
    called, normalize = [], differ.CodeDiffer.NORMALIZERS["py"]
    monkeypatch.setitem(
        differ.CodeDiffer.NORMALIZERS, "py", lambda text: called.append(text) or normalize(text)
    )
    same = differ.CodeDiffer().is_different(code, code, {"a": 1}, {"a": 1}, extension="py")
    assert same == (False, "") and called == []
    params = differ.CodeDiffer().is_different(code, code, {"a": 1}, {"a": 2}, extension="py")
    assert params[0] is True and called == []
    # other code goes through Ploomber's own comparison (normalized: a comment is no change)
    commented = code.replace("return 1", "return 1  # one")
    assert differ.CodeDiffer().is_different(code, commented, {}, {}, extension="py")[0] is False
    assert differ.CodeDiffer().is_different(code, code.replace("1", "2"), {}, {}, "py")[0]
    assert len(called) == 4


def test_ploomber_is_imported_without_pyplot_and_pyplot_still_imports():
    import subprocess

    script = (
        "import sys\n"
        "from starloom import ploomber_build\n"
        "with ploomber_build._without_engine_plots():\n"
        "    import ploomber.dag.dag\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
        "import matplotlib.pyplot as plt\n"
        "import ploomber_engine.profiling as p\n"
        "print(p.plt.subplots is plt.subplots)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
