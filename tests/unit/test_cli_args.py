"""How the `starloom` command reads its arguments."""

from __future__ import annotations

from starloom.cli import _selection, build_parser


def selection(*argv: str):
    return _selection(build_parser().parse_args(list(argv)))


def test_a_selection_is_positional_or_given_with_select():
    assert selection("build") is None and selection("test") is None
    assert selection("build", "--select", "fct_sales+") == ["fct_sales+"]
    assert selection("build", "+a", "-s", "b", "--select", "c+") == ["+a", "b", "c+"]
    assert selection("test", "-s", "marts") == ["marts"]
