"""Layers point one way: every module imports (directly or through others) only its own layer and those below.

:data:`LAYERS` is the one list of the allowed order; each entry is a top-level module or package of
``treazr``. Imports inside functions and under ``TYPE_CHECKING`` count too: they point the same way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "treazr"

LAYERS = (
    # the base: no game, person or session in them; services is the context every subsystem shares
    "treazr", "errors", "atomic", "paths", "settings", "disk", "lifeline", "db", "services",
    # the subsystems, each may use those before it
    "auth", "library", "emulation", "saves", "streaming",
    # the web layer calls the domain; composition puts a process together for the entry points
    "web", "composition", "cli", "__main__",
)
DOMAIN = ["db", "library", "auth", "emulation", "saves", "streaming"]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from treazr.x import y`` may name the module treazr.x.y
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Each treazr module -> the treazr modules importing it runs (with their packages' ``__init__``)."""
    names = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, imported in names.items():
        targets = set()
        for name in imported:
            parts = name.split(".")
            targets.update(".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in names)
        graph[module] = targets - {module}
    return graph


GRAPH = _graph()


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _reached_from(start: str, graph: dict[str, set[str]]) -> dict[str, str]:
    """Every treazr module ``start`` imports, directly or through others: module -> the one that imports it."""
    via: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        for target in graph.get(module, ()):
            if target not in via and target != start:
                via[target] = module
                todo.append(target)
    return via


def _chain(start: str, reached: str, via: dict[str, str]) -> str:
    chain = [reached]
    while chain[-1] != start:
        chain.append(via[chain[-1]])
    return " -> ".join(reversed(chain))


def test_every_module_has_a_place_in_the_order() -> None:
    unplaced = sorted({_layer(module) for module in GRAPH} - set(LAYERS))
    assert not unplaced, f"add {unplaced} to LAYERS, at the place their imports allow"


@pytest.mark.parametrize("layer", LAYERS)
def test_no_module_reaches_a_layer_above_its_own(layer: str) -> None:
    # transitive: a domain module importing treazr.services, which imported treazr.schema, which imported
    # treazr.web.schema, once pulled the web layer in without any direct import showing it
    rank = LAYERS.index(layer)
    offenders = []
    for module in sorted(m for m in GRAPH if _layer(m) == layer):
        via = _reached_from(module, GRAPH)
        offenders += [_chain(module, reached, via) for reached in sorted(via)
                      if LAYERS.index(_layer(reached)) > rank]
    assert not offenders, offenders[:10]


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


def test_services_imports_no_subsystem() -> None:
    # every subsystem takes Services as its context; the pieces that are theirs come from treazr.composition
    reached = set(_reached_from("treazr.services", GRAPH))
    assert {_layer(module) for module in reached} <= set(LAYERS[:LAYERS.index("services")]), sorted(reached)
