"""The ``treazr`` command line: thin adapters over plain functions that the tests call directly.

A :class:`~treazr.errors.TreazrError` becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from treazr import __version__
from treazr.errors import TreazrError, as_disk_full
from treazr.settings import Settings, load_settings

if TYPE_CHECKING:
    from treazr.services import Services

__all__ = ["CliContext", "main", "pass_cli"]


@dataclass
class CliContext:
    config: str | None = None
    data_dir: str | None = None
    json: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Settings:
        overrides: dict[str, Any] = dict(self.overrides)
        if self.data_dir:
            overrides["data_dir"] = self.data_dir
        return load_settings(self.config, overrides)

    @contextmanager
    def services(self) -> Iterator[Services]:
        from treazr.composition import open_treazr  # imported on use: `--version` needs no database code

        services = open_treazr(self.settings())
        try:
            yield services
        finally:
            services.close()

    def emit(self, payload: Any, human: Callable[[], None]) -> None:
        """Print ``payload`` as JSON under ``--json``, else call ``human`` to print it for people."""
        if self.json:
            click.echo(json.dumps(payload, indent=2, default=str))
        else:
            human()


pass_cli = click.make_pass_decorator(CliContext)


# The module defining each command, so one run imports only what its command needs (every start of the
# one-file executable pays for imports). A command missing here still works: an unknown name loads them all.
_COMMAND_MODULES = {"serve": "serve", "import": "library", "library": "library", "users": "users",
                    "cores": "cores", "run": "run", "db": "db", "doctor": "doctor", "worker": "worker"}
_MODULES = ("serve", "library", "users", "cores", "run", "db", "doctor", "worker")


class _Group(click.Group):
    def _load(self, module_name: str) -> None:
        module = importlib.import_module(f"treazr.cli.{module_name}")
        for command in module.COMMANDS:
            if command.name not in self.commands:
                self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMAND_MODULES:
            self._load(_COMMAND_MODULES[cmd_name])
        if cmd_name not in self.commands:
            for module_name in _MODULES:
                self._load(module_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module_name in _MODULES:
            self._load(module_name)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TreazrError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)
        except (OSError, sqlite3.Error) as error:
            if (full := as_disk_full(error)) is None:
                raise
            click.echo(f"Error: {full}", err=True)
            sys.exit(full.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="treazr")
@click.option("--config", type=click.Path(dir_okay=False), envvar="TREAZR_CONFIG",
              help="TOML settings file (default: config.toml in the data directory).")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="TREAZR_DATA_DIR",
              help="Data directory (default: ./treazr-data in a checkout, ~/.local/share/treazr when installed).")
@click.option("--portable", is_flag=True, help="Keep the data next to the executable.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def main(ctx: click.Context, config: str | None, data_dir: str | None, portable: bool, as_json: bool) -> None:
    """Treazr: a retro-game console for the home."""
    os.umask(0o077)  # everything Treazr writes is for its owner only
    if portable and not data_dir:
        from pathlib import Path

        data_dir = str(Path(sys.executable).resolve().parent / "treazr-data")
    ctx.obj = CliContext(config=config, data_dir=data_dir, json=as_json)
