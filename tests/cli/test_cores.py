"""``treazr cores list`` through click's CliRunner, on a real data directory and database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from treazr.cli import main
from treazr.composition import open_treazr
from treazr.settings import Settings


def _add_games(settings: Settings) -> None:
    services = open_treazr(settings)
    try:
        for platform, title in (("nes", "nes15"), ("md", "Some Genesis Game"), ("psx", "Some PlayStation Game")):
            services.db.execute(
                "INSERT INTO games (platform, title, added_at, updated_at) VALUES (?, ?, 'now', 'now')",
                (platform, title),
            )
    finally:
        services.close()


def test_cores_list_json(settings: Settings) -> None:
    _add_games(settings)
    result = CliRunner().invoke(main, ["--data-dir", settings.data_dir, "cores", "list", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    cores = {c["id"]: c for c in report["cores"]}
    assert cores["nestopia"]["platforms"] == ["nes"]
    assert cores["treazr_demo"]["platforms"] == ["demo"]
    platforms = {p["platform"]: p for p in report["platforms"]}
    assert platforms["snes"]["core"] == "bsnes_mercury_performance" and platforms["snes"]["playable"]
    # the stable-retro wheel's cores: Mega Drive and N64 are playable, PlayStation has no core yet
    assert platforms["md"]["core"] == "genesis_plus_gx" and platforms["md"]["playable"]
    assert platforms["n64"]["core"] == "parallel_n64" and platforms["n64"]["playable"]
    assert platforms["gba"]["bios"] == [
        {
            "file": "gba_bios.bin",
            "required": False,
            "state": "missing",
            "description": platforms["gba"]["bios"][0]["description"],
        }
    ]
    unplayable = {g["title"]: g for g in report["unplayable_games"]}
    assert set(unplayable) == {"Some PlayStation Game"}, unplayable
    assert report["bios_dir"] == str(Path(settings.data_dir).resolve() / "bios")


def test_cores_list_for_people(settings: Settings) -> None:
    _add_games(settings)
    result = CliRunner().invoke(main, ["--data-dir", settings.data_dir, "cores", "list"])
    assert result.exit_code == 0, result.output
    assert "Gambatte v0.5.0  plays: gb, gbc" in result.output
    assert "Games no installed core can play: 1" in result.output
    assert "[psx] Some PlayStation Game" in result.output
