"""``treazr import`` and ``treazr library``: filled in by the ROM library."""

from __future__ import annotations

import click

from treazr.cli._unbuilt import not_built

__all__ = ["COMMANDS"]


@click.command("import")
@click.argument("paths", nargs=-1, required=True)
def import_command(paths: tuple[str, ...]) -> None:
    """Import ROM folders into the library."""
    not_built("treazr import")


@click.group("library")
def library_group() -> None:
    """List, verify and count the games in the library."""


@library_group.command("list")
def library_list() -> None:
    """List the games in the library."""
    not_built("treazr library list")


COMMANDS = [import_command, library_group]
