"""``treazr import`` and ``treazr library list|stats|verify``: thin adapters over ``treazr.library``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from treazr.cli import CliContext, pass_cli
from treazr.errors import TreazrError
from treazr.library.platforms import PLATFORMS, resolve_slug
from treazr.library.repository import list_games, stats
from treazr.library.scanner import ImportReport, Progress, import_paths
from treazr.library.verify import verify_library
from treazr.services import Services

__all__ = ["COMMANDS"]


def _playable(services: Services) -> set[str] | None:
    """Platforms with an installed core, or None when the emulation registry cannot tell."""
    try:
        registry: Any = services.cores
        return {status.platform for status in registry.platforms() if status.playable}
    except (ImportError, AttributeError, TypeError, TreazrError):
        return None


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(TextColumn("[bold]Importing"), BarColumn(), TextColumn("{task.fields[files]} files"),
                      DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("import", total=None, files="0/?")

        def update(done_files: int, total_files: int, done_bytes: int, total_bytes: int) -> None:
            bar.update(task, completed=done_bytes, total=max(total_bytes, 1), files=f"{done_files}/{total_files}")

        yield update


def _print_report(report: ImportReport) -> None:
    click.echo(f"Added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
               f"missing {report.missing}, failed {len(report.failed)} "
               f"({report.bytes_read / 1e6:.1f} MB read in {report.seconds:.1f} s).")
    for failure in report.failed[:50]:
        click.echo(f"  failed: {failure.path}: {failure.reason}")
    if len(report.failed) > 50:
        click.echo(f"  ... and {len(report.failed) - 50} more (use --json for all)")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--copy", is_flag=True, help="Copy the ROMs into the content store (default: read them in place).")
@click.option("--platform", metavar="SLUG", help=f"Treat every file as this platform ({', '.join(PLATFORMS)}).")
@click.option("--dat", "dats", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="No-Intro / Redump DAT (Logiqx XML or clrmamepro) to name games by hash; kept for later.")
@click.option("--dry-run", is_flag=True, help="Read and report, but change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.option("--no-covers", is_flag=True, help="Do not make automatic cover pictures after the import.")
@pass_cli
def import_command(cli: CliContext, paths: tuple[str, ...], copy: bool, platform: str | None, dats: tuple[str, ...],
                   dry_run: bool, as_json: bool, no_covers: bool) -> None:
    """Import (or rescan) ROM files and folders into the library, then make the missing cover pictures."""
    cli.json = cli.json or as_json
    with cli.services() as services:
        with _progress_bar(not cli.json and sys.stderr.isatty()) as progress:
            report = import_paths(services, paths, copy=copy, platform=platform, dats=dats, dry_run=dry_run,
                                  progress=progress)
        cli.emit(report.as_json(), lambda: _print_report(report))
        if services.settings.library.auto_covers and not (no_covers or dry_run):
            _make_covers(services, quiet=cli.json)


def _make_covers(services: Services, *, quiet: bool) -> None:
    """The covers ``import`` leaves missing: made here, unless a running server makes them."""
    from treazr.emulation.auto_covers import CoverLock, make_missing_covers

    say = (lambda _line: None) if quiet else click.echo
    if CoverLock(services.data.root).held_elsewhere():
        say("Covers: the server running on this data directory makes them in the background.")
        return
    live = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if live and total:
            click.echo(f"\rMaking covers: {done} of {total} (Ctrl-C stops; the next import makes the rest)", nl=False,
                       err=True)

    async def make() -> None:
        try:
            tally = await make_missing_covers(services, progress=progress)
        finally:
            await services.db.close_async_reader()
        if live:
            click.echo("\r\033[K", nl=False, err=True)
        if tally.made or tally.without:
            say(f"Covers: {tally.made} made, {tally.without} game(s) showed nothing to take one from.")

    try:
        asyncio.run(make())
    except KeyboardInterrupt:
        click.echo("\nStopped making covers; the next import (or the server) makes the rest.", err=True)
        sys.exit(130)


@click.group("library")
def library_group() -> None:
    """List, count and verify the games in the library."""


def _platform_option(value: str | None) -> str | None:
    if value is None:
        return None
    slug = value if value in PLATFORMS else resolve_slug(value)
    if slug is None:
        raise click.BadParameter(f"unknown platform {value!r}; use one of: {', '.join(PLATFORMS)}")
    return slug


@library_group.command("list")
@click.option("--platform", metavar="SLUG", help="Only this platform.")
@click.option("--search", help="Only titles matching these words.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def library_list(cli: CliContext, platform: str | None, search: str | None, as_json: bool) -> None:
    """List the games in the library."""
    cli.json = cli.json or as_json
    slug = _platform_option(platform)
    with cli.services() as services:
        games = list_games(services.db, platform=slug, search=search, playable=_playable(services),
                           limit=1_000_000)

    def human() -> None:
        for game in games:
            extra = ", ".join(part for part in (game["region"], game["revision"]) if part)
            state = {True: "", False: "  [not playable yet]", None: ""}[game["playable"]]
            click.echo(f"{game['id']:>6}  {game['platform']:<6} {game['title']}{f' ({extra})' if extra else ''}"
                       f"{state}")
        click.echo(f"{len(games)} games")

    cli.emit(games, human)


@library_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def library_stats(cli: CliContext, as_json: bool) -> None:
    """Count games and files per platform."""
    cli.json = cli.json or as_json
    with cli.services() as services:
        figures = stats(services.db, playable=_playable(services))

    def human() -> None:
        click.echo(f"{figures['games']} games, {figures['files']} files ({figures['bytes'] / 1e6:.1f} MB), "
                   f"{figures['missing_files']} missing, {figures['dats']} DATs")
        for row in figures["platforms"]:
            click.echo(f"  {row['platform']:<6} {row['games']:>6} games {row['files']:>6} files  {row['name']}")

    cli.emit(figures, human)


@library_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def library_verify(cli: CliContext, as_json: bool) -> None:
    """Re-hash every file; report corrupt and missing ones (exit 1 if any)."""
    cli.json = cli.json or as_json
    with cli.services() as services:
        report = verify_library(services)

    def human() -> None:
        click.echo(f"{report.ok} files intact, {len(report.corrupt)} corrupt, {len(report.missing)} missing")
        for item in report.corrupt:
            click.echo(f"  corrupt: {item['path']}: {item['reason']}")
        for path in report.missing:
            click.echo(f"  missing: {path}")

    cli.emit(report.as_json(), human)
    if report.corrupt or report.missing:
        sys.exit(1)


COMMANDS = [import_command, library_group]
