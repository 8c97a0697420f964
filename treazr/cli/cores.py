"""``treazr cores``: filled in by the emulation engine."""

from __future__ import annotations

import click

from treazr.cli._unbuilt import not_built

__all__ = ["COMMANDS"]


@click.group("cores")
def cores_group() -> None:
    """Show the libretro cores found and the platforms they cover."""


@cores_group.command("list")
def cores_list() -> None:
    """List cores, platforms, BIOS status and games no core can play."""
    not_built("treazr cores list")


COMMANDS = [cores_group]
