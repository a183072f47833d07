"""Every verb and option of the `starloom` command is in docs/cli.md, with an example."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from starloom.cli import build_parser

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _verbs() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no verbs")


def test_every_verb_has_a_section_and_an_example():
    sections = dict(re.findall(r"## `starloom (\w+)`\n(.*?)(?=\n## |\Z)", PAGE, flags=re.S))
    for verb in _verbs():
        assert verb in sections, f"docs/cli.md has no section for `starloom {verb}`"
        assert f"starloom {verb}" in sections[verb].split("```bash", 1)[-1], verb


def test_every_option_is_named_in_its_verbs_section():
    sections = dict(re.findall(r"## `starloom (\w+)`\n(.*?)(?=\n## |\Z)", PAGE, flags=re.S))
    for verb, parser in _verbs().items():
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in sections[verb], f"`starloom {verb} {option}` is undocumented"
