"""The README tells the truth: its commands, options, settings, benchmarks and links exist.

A README drifts when the code moves on; these checks read it the way a newcomer would act on it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from treazr.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTIONS = ("server", "library", "auth", "emulation", "streaming")


def _text() -> str:
    return README.read_text("utf-8")


def _section(title: str) -> str:
    """The README's text under ``## title``, up to the next second-level heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", _text(), flags=re.M | re.S)
    assert match, f"the README has no '## {title}' section"
    return match.group(1)


def _command(path: list[str]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group), f"treazr {' '.join(path)}: {command.name} has no subcommands"
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"the README names `treazr {' '.join(path)}`, which does not exist"
        command = found
    return command


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}


def _command_rows() -> list[tuple[list[list[str]], str]]:
    """Each row of the command-line table: the command paths its first cell names, and the whole row."""
    rows = []
    for line in _section("Command line").splitlines():
        if not line.startswith("| `treazr "):
            continue
        first_cell = line.split(" | ")[0]
        spans = re.findall(r"`([^`]+)`", first_cell)
        words = spans[0].split()[1:]
        stop = next((i for i, word in enumerate(words) if word[0] in "[-" or not word.islower()), len(words))
        lead = words[:stop]
        paths = [lead] + [[*lead[:-1], span.split()[0]] for span in spans[1:]]
        rows.append((paths, line))
    assert len(rows) >= 8, "the command-line table was not found"
    return rows


def test_the_two_commands_come_first_and_run_what_they_say() -> None:
    first_heading = re.search(r"^## (.+)$", _text(), flags=re.M)
    assert first_heading and first_heading.group(1) == "Two commands"
    block = re.search(r"```sh\n(.*?)```", _section("Two commands"), flags=re.S)
    assert block, "the two commands' code block is missing"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["./dev.sh serve", "./dev.sh test"]
    dev = (ROOT / "dev.sh").read_text("utf-8")
    assert re.search(r"^\s+serve\)$", dev, flags=re.M) and re.search(r"^\s+test\)$", dev, flags=re.M)
    assert "./dev.sh test" in (ROOT / ".ci" / "run").read_text("utf-8")


def test_every_command_and_option_in_the_command_table_exists() -> None:
    global_options = _options(main)
    for paths, row in _command_rows():
        known = set(global_options)
        for path in paths:
            known |= _options(_command(path))
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", row))
        assert named <= known, f"{row.split(' | ')[0]}: no such option {sorted(named - known)}"


def test_the_global_options_named_exist() -> None:
    line = next(line for line in _section("Command line").splitlines() if line.startswith("Global options"))
    named = set(re.findall(r"--[a-z][a-z-]*", line))
    assert named <= _options(main) | {"--version", "--help"}


def test_every_setting_named_is_in_the_example_config() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text("utf-8"))
    named = set(re.findall(rf"`({'|'.join(SECTIONS)})\.([a-z_]+)`", _text()))
    assert named, "the README names no settings"
    missing = [f"{section}.{key}" for section, key in sorted(named) if key not in example[section]]
    assert not missing, missing


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_every_benchmark_has_a_row_with_its_command(script: str) -> None:
    rows = [line for line in _section("Performance").splitlines() if line.startswith("| ")]
    command = f"`.venv/bin/python benchmarks/{script}"
    assert any(command in row for row in rows), f"no Performance row runs benchmarks/{script}"


@pytest.mark.parametrize("document", ["README.md", "docs/benchmarks.md", "docs/design.md"])
def test_relative_links_lead_to_files_that_exist(document: str) -> None:
    path = ROOT / document
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text("utf-8"))
    broken = [t for t in targets if "://" not in t and not (path.parent / t).exists()]
    assert not broken, broken
