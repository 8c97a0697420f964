"""Covers right after an import: ``treazr import`` in a terminal while ``treazr serve`` runs, and the home
grid in real Chromium turns its letter tiles into automatic covers, none of them blank, without a reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import REPO, start_server
from tests.e2e.test_journey import Console, enrol, http
from tests.e2e.test_signin import _invite_url, _launch, _trusting_home
from tests.support.covers import colours

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AUTO_COVERS_ON = {"TREAZR_LIBRARY_AUTO_COVERS": "1"}  # the tests' default is off (tests/conftest.py)
PLATFORMS = ("nes", "gb")  # seven games, each showing a picture a few seconds in
COVER_BOUND_S = 90


def _cli_import(data_dir: Path, roms: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), "import",
                             *(str(roms / platform) for platform in PLATFORMS)], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, **AUTO_COVERS_ON}, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_covers_appear_on_the_home_grid_after_a_cli_import(roms: Path, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server-data", tmp_path / "server.log", env=AUTO_COVERS_ON)
    try:
        invite = _invite_url(server)
        with sync_playwright() as playwright:
            browser = _launch(playwright, _trusting_home(tmp_path, server.ca_path))
            try:
                console = Console()
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = enrol(context, console, invite, "Living-room PC")
                output = _cli_import(server.data_dir, roms)
                assert "Added 7" in output and "the server running on this data directory makes them" in output
                page.goto(f"{server.url}/")
                expect(page.locator("#game-grid .game-card")).to_have_count(7)
                page.evaluate("window.sameVisit = true")
                expect(page.locator("#game-grid .cover img")).to_have_count(7, timeout=COVER_BOUND_S * 1000)
                assert page.evaluate("window.sameVisit === true")  # the tiles changed in place, no reload
                with http(context, server) as client:
                    games = client.get("/api/games").json()["games"]
                    pictures = {game["title"]: client.get(game["cover_url"]).content for game in games}
                assert len(pictures) == 7 and all(colours(png) > 1 for png in pictures.values()), \
                    {title: colours(png) for title, png in pictures.items()}
                assert console.errors == []
            finally:
                browser.close()
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log, log
