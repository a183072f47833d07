"""No module of starloom imports itself through others.

The graph counts every import of a starloom module, wherever it is written: at the top of
the module, inside a function (a lazy import still runs, later) and under TYPE_CHECKING (a
type the module cannot name without the other one is a dependency all the same). Importing
`starloom.a.b` from outside the package `starloom.a` runs `starloom/a/__init__.py` first, so
it counts as an import of `starloom.a` too.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "starloom").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _packages(name: str) -> list[str]:
    """`name`'s enclosing packages below `starloom` (starloom.a.b.c: starloom.a, starloom.a.b)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The starloom modules that `module` imports, anywhere in its text."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package (a package is its own)
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                sub = f"{base}.{alias.name}"
                names.add(sub if sub in modules else base)
    edges = set()
    for name in names:
        while name and name not in modules:  # `import starloom.a.b` names an existing module
            name = name.rpartition(".")[0]
        if not name.startswith("starloom"):
            continue
        edges.add(name)
        edges |= {p for p in _packages(name) if not _inside(module, p)}
    return edges - {module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imported(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_lazy_and_type_checking_imports():
    graph = import_graph()
    assert "starloom.models.definition" in graph["starloom.models"]
    assert "starloom.settings" in graph["starloom.project"]


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_starloom_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
