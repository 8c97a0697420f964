"""``treazr run``: filled in by the emulation engine."""

from __future__ import annotations

import click

from treazr.cli._unbuilt import not_built

__all__ = ["COMMANDS"]


@click.command("run")
@click.argument("rom", required=False)
def run_command(rom: str | None) -> None:
    """Run a ROM headless (tests, debugging, thumbnails)."""
    not_built("treazr run")


COMMANDS = [run_command]
