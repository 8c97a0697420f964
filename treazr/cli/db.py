"""``treazr db``: database maintenance."""

from __future__ import annotations

from pathlib import Path

import click

from treazr.cli import CliContext, pass_cli

__all__ = ["COMMANDS"]


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def db_backup(cli: CliContext, target: Path) -> None:
    """Write a consistent copy of the database to TARGET (safe while the server runs)."""
    with cli.services() as services:
        services.db.backup(target)
    cli.emit({"backup": str(target)}, lambda: click.echo(f"Backed up the database to {target}"))


@db_group.command("migrate")
@pass_cli
def db_migrate(cli: CliContext) -> None:
    """Apply pending migrations (the server and every command also do this at start)."""
    with cli.services() as services:
        rows = services.db.query("SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY rowid")
    cli.emit(rows, lambda: click.echo(f"Database is up to date ({len(rows)} migrations applied)."))


COMMANDS = [db_group]
