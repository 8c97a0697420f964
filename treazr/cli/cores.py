"""``treazr cores list``: the cores found, the platforms they cover, BIOS status, and unplayable games."""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from treazr.cli import CliContext, pass_cli
from treazr.services import Services

__all__ = ["COMMANDS", "cores_report", "unplayable_games"]


def unplayable_games(services: Services) -> list[dict[str, Any]]:
    """Library games that no installed core can play (or whose required BIOS is missing)."""
    statuses = {p.platform: p for p in services.cores.platforms()}
    try:
        rows = services.db.query("SELECT id, platform, title FROM games ORDER BY platform, title")
    except sqlite3.OperationalError:  # an install whose library tables are not there yet
        return []
    games = []
    for row in rows:
        status = statuses.get(row["platform"])
        if status is None:
            games.append({**row, "reason": f"Treazr has no core manifest for the platform {row['platform']!r}"})
        elif not status.playable:
            games.append({**row, "reason": status.reason})
    return games


def cores_report(services: Services) -> dict[str, Any]:
    return services.cores.as_dict() | {"unplayable_games": unplayable_games(services)}


def _print_report(report: dict[str, Any]) -> None:
    click.echo(click.style("Cores", bold=True))
    for core in report["cores"]:
        if core["error"]:
            click.echo(f"  {core['id']:<28} {click.style('unusable', fg='red')}: {core['error']}")
            continue
        plays = ", ".join(core["platforms"]) or "no platform (not in any manifest)"
        click.echo(f"  {core['id']:<28} {core['name']} {core['version']}  plays: {plays}")
        click.echo(f"  {'':<28} {core['path']}")
    click.echo(click.style("Platforms", bold=True) + f"  (BIOS folder: {report['bios_dir']})")
    for platform in report["platforms"]:
        mark = click.style("ok  ", fg="green") if platform["playable"] else click.style("none", fg="yellow")
        core = platform["core"] or "-"
        click.echo(f"  {mark} {platform['platform']:<6} {platform['name']:<30} {core:<28} {platform['reason']}")
        for bios in platform["bios"]:
            need = "required" if bios["required"] else "optional"
            click.echo(f"         BIOS {bios['file']} ({need}): {bios['state']}")
    games = report["unplayable_games"]
    click.echo(click.style("Games no installed core can play", bold=True) + f": {len(games)}")
    for game in games:
        click.echo(f"  [{game['platform']}] {game['title']} (id {game['id']}): {game['reason']}")


@click.group("cores")
def cores_group() -> None:
    """Show the libretro cores found and the platforms they cover."""


@cores_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def cores_list(cli: CliContext, as_json: bool) -> None:
    """List cores, platforms, BIOS status and games no core can play."""
    cli.json = cli.json or as_json
    with cli.services() as services:
        report = cores_report(services)
    cli.emit(report, lambda: _print_report(report))


COMMANDS = [cores_group]
