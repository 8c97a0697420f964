"""A new household's first evening, in real Chromium over HTTPS against a real ``treazr serve``.

Enrol the admin from the first-start invite, import ``../shared/roms`` with the CLI, browse, filter,
search, open a game, play it, save a state and find it on the game page, upload a ROM through the
page, invite a child, grant them one platform and check what they can and cannot see. Every page is
screenshotted into ``test-artifacts/journey-*.png``; any console error fails the test.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.conftest import REPO, LiveServer
from tests.e2e.test_play import FAKE_GAMEPADS
from tests.e2e.test_signin import _invite_url, _launch, _trusting_home
from tests.library import romgen
from treazr.auth.sessions import SECURE_COOKIE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"


class Console:
    """Console errors and uncaught exceptions of every page of a context."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page


def shot(page: Page, name: str, *, idle: bool = True) -> None:
    if idle:
        page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# The evening's library: the twelve ROMs of the five platforms whose cores every machine here has (the shared
# folder also holds ROMs of platforms whose cores come later; the journey counts games and covers exactly).
FAMILY_PLATFORMS = ("nes", "gb", "gba", "snes", "pce")


def cli_import(server: LiveServer, roms: Path) -> dict[str, Any]:
    folders = [str(roms / platform) for platform in FAMILY_PLATFORMS]
    result = subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(server.data_dir), "import", *folders,
                             "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def enrol(context: BrowserContext, console: Console, invite: str, label: str) -> Page:
    page = console.watch(context.new_page())
    page.goto(invite)
    page.fill("#device-label", label)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def http(context: BrowserContext, server: LiveServer) -> httpx.Client:
    """Plain HTTP as this browser (its session cookie), for status codes the page would log as errors."""
    cookie = next(c["value"] for c in context.cookies() if c["name"] == SECURE_COOKIE)
    return httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(server.ca_path)),
                        headers={"Cookie": f"{SECURE_COOKIE}={cookie}", "Origin": server.url})


def cards(page: Page) -> list[str]:
    titles: list[str] = page.locator("#game-grid .game-title").all_inner_texts()
    return titles


def make_covers(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/admin/library")
    expect(page.locator("#lib-heading + p")).to_contain_text("12 games")
    page.click("#make-covers")
    expect(page.locator("#rescan-text")).to_contain_text("Done: 12 cover pictures made", timeout=180_000)
    shot(page, "10-admin-library")


def browse(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    expect(page.locator("#game-grid .game-card")).to_have_count(12)
    expect(page.locator("#game-grid .cover img")).to_have_count(12)
    shot(page, "01-home")
    page.select_option("#platform", "nes")
    expect(page.locator("#game-grid .game-card")).to_have_count(5)
    assert "platform=nes" in page.url
    page.fill("#q", "nest")
    expect(page.locator("#game-grid .game-card")).to_have_count(1)
    assert cards(page) == ["nestest"]
    shot(page, "02-search")
    page.fill("#q", "")
    page.select_option("#platform", "")
    expect(page.locator("#game-grid .game-card")).to_have_count(12)
    page.select_option("#sort", "added")
    page.wait_for_url(re.compile(r"sort=added"))  # the grid was redrawn
    expect(page.locator("#result-count")).to_have_text("12 games")
    # TV mode: arrow keys move between tiles
    page.click("#tenfoot-toggle")
    assert page.evaluate("document.body.classList.contains('tenfoot')")
    page.locator("#game-grid .game-card a").first.focus()
    first = page.evaluate("document.activeElement.href")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.href") != first
    assert page.evaluate("document.activeElement.closest('#game-grid') !== null")
    # a redraw of the grid (here a resubmitted search) keeps the remote's place on the same game
    moved_to = page.evaluate("document.activeElement.getAttribute('href')")
    page.evaluate("for (const li of document.querySelectorAll('#game-grid li')) li.dataset.stale = '1'")
    page.evaluate("document.getElementById('filters').requestSubmit()")
    expect(page.locator("#game-grid li[data-stale]")).to_have_count(0)
    expect(page.locator("#game-grid .game-card")).to_have_count(12)
    assert page.evaluate("document.activeElement.getAttribute('href')") == moved_to
    # a gamepad's d-pad does the same (a fake pad: there is no real one here)
    before = page.evaluate("document.activeElement.href")
    page.evaluate("window.__setPad(0, [13]); window.dispatchEvent(new Event('gamepadconnected'))")
    # the page polls pads once per animation frame, which a loaded shared host has delayed past 10 s
    wait_for("the d-pad to move the focus", lambda: page.evaluate("document.activeElement.href") != before, 60)
    page.evaluate("window.__setPad(0, [])")
    shot(page, "03-tv-mode")
    page.click("#tenfoot-toggle")


def play_and_save(page: Page, server: LiveServer, game_id: int) -> None:
    page.goto(f"{server.url}/games/{game_id}")
    expect(page.locator("h1")).to_have_text("nestest")
    expect(page.locator("#core")).not_to_contain_text("can't")
    shot(page, "04-game")
    page.click("#play-button")
    page.wait_for_url(re.compile(r"/play/"))
    wait_for("decoded frames", lambda: (page.evaluate("window.treazrPlayer?.stats().frames_drawn") or 0) > 30)
    page.select_option("#slot", "1")
    page.click("[data-action=save]")
    expect(page.locator("#message")).to_contain_text("Saved to Slot 1", timeout=30_000)
    shot(page, "05-playing")
    watching(page.context, server)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=end]")
    expect(page.locator("#message")).to_contain_text("ended", timeout=30_000)
    page.goto(f"{server.url}/games/{game_id}")
    state = page.locator(".state[data-slot='1']")
    expect(state).to_contain_text("Slot 1")
    expect(state.locator("img")).to_be_visible()
    assert state.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator(".state[data-slot='0']")).to_contain_text("Continue")  # written when the game ended
    expect(page.locator("#continue-button")).to_be_visible()
    shot(page, "06-game-with-state")
    page.emulate_media(color_scheme="dark")
    shot(page, "06-game-with-state-dark")
    page.emulate_media(color_scheme="light")
    page.goto(f"{server.url}/")
    expect(page.locator("#continue-row")).to_contain_text("nestest")
    page.goto(f"{server.url}/history")
    expect(page.locator("#history-games")).to_contain_text("nestest")
    shot(page, "07-history")


def watching(context: BrowserContext, server: LiveServer) -> None:
    """While the game runs: the home screen shows it, and the admin's server page lists it with its viewer."""
    other = context.new_page()
    try:
        other.goto(f"{server.url}/")
        expect(other.locator("#running")).to_contain_text("admin is playing nestest")
        shot(other, "05b-home-while-playing")
        other.goto(f"{server.url}/admin/server")
        expect(other.locator("#server-sessions")).to_contain_text("nestest")
        expect(other.locator("#server-sessions")).to_contain_text("admin on device")
        shot(other, "10-admin-server-while-playing")
    finally:
        other.close()


def upload(page: Page, server: LiveServer, tmp_path: Path) -> None:
    rom = romgen.write(tmp_path / "Family Upload (USA).nes", romgen.nes())
    page.goto(f"{server.url}/upload")
    page.set_input_files("#files", str(rom))
    result = page.locator("#uploads li").first
    expect(result).to_contain_text("Recognised as Family Upload", timeout=60_000)
    expect(result).to_contain_text("Added to the library")
    shot(page, "08-upload", idle=False)  # the new game's cover picture is still being made
    page.goto(f"{server.url}/?q=family")
    assert cards(page) == ["Family Upload"]


def invite_child(page: Page, server: LiveServer) -> str:
    page.goto(f"{server.url}/admin")
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    page.fill("#new-name", "Kim")
    page.select_option("#new-role", "child")
    page.click("#add-user button[type=submit]")
    expect(page.locator("#invite-link")).to_contain_text("/invite#")
    expect(page.locator("#invite-qr")).to_be_visible()
    link = page.locator("#invite-link").inner_text()
    row = page.locator("#users-table tbody tr", has_text="Kim")
    row.get_by_role("button", name="What they may see").click()
    page.check("#grants-form input[name=platform][value=gb]")
    page.click("#grants-form button[type=submit]")
    expect(page.locator("#admin-status")).to_have_text("Saved what Kim may see.")
    shot(page, "09-admin-people")
    for section in ("cores", "server"):
        page.goto(f"{server.url}/admin/{section}")
        expect(page.locator(".tabs [aria-current=page]")).to_be_visible()
        shot(page, f"10-admin-{section}")
    return link.replace(re.match(r"https://[^/]+", link).group(0), server.url)  # type: ignore[union-attr]


def child_sees_only_granted(context: BrowserContext, console: Console, server: LiveServer, link: str,
                            hidden_game: int) -> None:
    page = enrol(context, console, link, "Kim's tablet")
    expect(page.locator("#game-grid .game-card")).to_have_count(2)
    assert sorted(cards(page)) == ["cpu instrs", "dmg sound"]
    expect(page.locator("nav[aria-label=Main] a[href='/upload']")).to_have_count(0)
    expect(page.locator("nav[aria-label=Main] a[href='/admin']")).to_have_count(0)
    shot(page, "11-child-home")
    with http(context, server) as kim:
        assert kim.get(f"/games/{hidden_game}").status_code == 404
        assert kim.get(f"/api/games/{hidden_game}").status_code == 404
        assert kim.get("/admin").status_code == 403
        assert kim.post("/api/uploads?name=x.nes", content=b"NES\x1a").status_code == 403
    page.goto(f"{server.url}/upload")
    expect(page.locator("#refused")).to_contain_text("cannot upload")


def test_a_familys_first_evening(live_server: LiveServer, roms: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    invite = _invite_url(live_server)
    home = _trusting_home(tmp_path, live_server.ca_path)
    with sync_playwright() as playwright:
        browser = _launch(playwright, home, ("--autoplay-policy=no-user-gesture-required",))
        try:
            console = Console()
            admin = browser.new_context(viewport={"width": 1280, "height": 900})
            admin.add_init_script(FAKE_GAMEPADS)
            page = enrol(admin, console, invite, "Living-room PC")
            expect(page.locator("#empty")).to_be_visible()  # no games yet
            report = cli_import(live_server, roms)
            assert report["added"] == 12, report
            make_covers(page, live_server)
            browse(page, live_server)
            with http(admin, live_server) as client:
                nestest = int(client.get("/api/games?q=nestest").json()["games"][0]["id"])
            play_and_save(page, live_server, nestest)
            upload(page, live_server, tmp_path)
            link = invite_child(page, live_server)
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            child_sees_only_granted(phone, console, live_server, link, nestest)
            assert console.errors == []
        finally:
            browser.close()
    log = live_server.log()
    assert "Traceback" not in log, log
