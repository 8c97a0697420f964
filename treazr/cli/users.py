"""``treazr users``: filled in by accounts and sign-in."""

from __future__ import annotations

import click

from treazr.cli._unbuilt import not_built

__all__ = ["COMMANDS"]


@click.group("users")
def users_group() -> None:
    """Add, invite, list and revoke family members and their devices."""


@users_group.command("list")
def users_list() -> None:
    """List users and their devices."""
    not_built("treazr users list")


COMMANDS = [users_group]
