"""Layers point one way: the domain packages never import the web layer or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "treazr"
DOMAIN = ["db", "library", "auth", "emulation", "streaming"]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", DOMAIN)
def test_domain_packages_do_not_import_the_web_layer_or_the_cli(layer: str) -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                 for path in sorted((PACKAGE / layer).rglob("*.py")) for name in sorted(_imports(path))
                 if name.startswith(("treazr.web", "treazr.cli"))]
    assert not offenders, offenders


def test_the_database_layer_knows_nothing_of_games_or_people() -> None:
    domain = tuple(f"treazr.{layer}" for layer in DOMAIN if layer != "db")
    offenders = [f"{path.name} imports {name}" for path in sorted((PACKAGE / "db").rglob("*.py"))
                 for name in sorted(_imports(path)) if name.startswith(domain)]
    assert not offenders, offenders
