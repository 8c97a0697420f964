"""The ``treazr`` command line: thin adapters over plain functions that the tests call directly.

A :class:`~treazr.errors.TreazrError` becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click

from treazr import __version__
from treazr.errors import TreazrError
from treazr.services import Services, open_services
from treazr.settings import Settings, load_settings

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
        services = open_services(self.settings())
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


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TreazrError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)


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


def _register() -> None:
    from treazr.cli import cores, db, doctor, library, run, serve, users, worker

    for module in (serve, library, users, cores, run, db, doctor, worker):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
