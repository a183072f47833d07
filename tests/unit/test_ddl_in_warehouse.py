"""Every DDL statement is written in starloom.warehouse: no string outside it holds a DDL
keyword, so that each one goes through warehouse.ddl (ON CLUSTER with a cluster)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
WAREHOUSE = SRC / "starloom" / "warehouse"
KEYWORDS = re.compile(r"\b(CREATE|ALTER|DROP|EXCHANGE|REPLACE PARTITION|ATTACH)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                out.add(id(body[0].value))
    return out


def ddl_strings(text: str, name: str = "<text>") -> list[tuple[int, str]]:
    """(line, keyword) for each string constant or f-string part of `text` (docstrings
    aside) that holds a DDL keyword."""
    tree = ast.parse(text, name)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):  # an f-string's literal parts are Constants inside it
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            match = KEYWORDS.search(node.value)
            if match:
                found.append((node.lineno, match.group(0)))
    return sorted(found)


def test_the_scan_finds_strings_and_f_string_parts_but_not_docstrings_or_comments():
    text = '''"""CREATE TABLE in a docstring."""
# DROP TABLE in a comment
def f(t):
    """ALTER TABLE in a docstring."""
    a = "SELECT 1"
    b = f"ALTER TABLE {t} DELETE WHERE 1"
    return "create table is lower case", f"{t} EXCHANGE TABLES", "REPLACE PARTITION ID"
'''
    assert ddl_strings(text) == [(6, "ALTER"), (7, "EXCHANGE"), (7, "REPLACE PARTITION")]


def test_no_ddl_outside_the_warehouse_package():
    offenders = []
    for path in sorted((SRC / "starloom").rglob("*.py")):
        if WAREHOUSE in path.parents:
            continue
        for line, keyword in ddl_strings(path.read_text(), str(path)):
            offenders.append(f"{path.relative_to(SRC.parent)}:{line}: {keyword}")
    assert not offenders, (
        "DDL written outside src/starloom/warehouse/ (render it with warehouse.ddl.Ddl or "
        "declare the table in warehouse.state):\n" + "\n".join(offenders)
    )
