"""Layers point one way: the domain packages never import the web layer or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "treazr"
DOMAIN = ["db", "library", "auth", "emulation", "saves", "streaming"]


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


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _reached_from(start: str, graph: dict[str, set[str]]) -> dict[str, str]:
    """Every treazr module ``start`` imports, directly or through others: module -> the one that imports it."""
    via: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        for name in graph.get(module, ()):
            # ``from treazr.x import y`` names a module or a package's attribute: keep the longest module
            target = name if name in graph else name.rpartition(".")[0]
            if target in graph and target not in via and target != start:
                via[target] = module
                todo.append(target)
    return via


@pytest.mark.parametrize("layer", DOMAIN)
def test_domain_packages_do_not_reach_the_web_layer_or_the_cli_through_others(layer: str) -> None:
    # transitive: a domain module importing treazr.services, which imported treazr.schema, which imported
    # treazr.web.schema, once pulled the web layer in without any direct import showing it
    graph = {_module(path): {n for n in _imports(path) if n.startswith("treazr")} for path in PACKAGE.rglob("*.py")}
    offenders = []
    for module in sorted(m for m in graph if m == f"treazr.{layer}" or m.startswith(f"treazr.{layer}.")):
        for reached, importer in _reached_from(module, graph).items():
            if reached.startswith(("treazr.web", "treazr.cli")):
                offenders.append(f"{module} reaches {reached} (imported by {importer})")
    assert not offenders, offenders[:10]
