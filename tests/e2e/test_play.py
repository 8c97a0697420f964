"""Real Chromium plays over HTTPS from a real ``treazr serve``: the demo core and a ROM.

The page decodes H.264 (WebCodecs, in a Worker) and Opus; a key press and a fake gamepad (an init
script that answers ``navigator.getGamepads``) change the picture, read back from the canvas (the demo
core's marker strip shows the port masks). A second socket floods malformed messages and a third
viewer stops reading: the page keeps playing.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from websockets.sync.client import ClientConnection, connect

from tests.conftest import LiveServer, start_server
from tests.e2e.test_signin import _launch, _trusting_home
from tests.support.identity import Identity, sign_up_sync
from treazr.composition import open_treazr
from treazr.emulation.demo_strip import decode_strip
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

A, B = 1 << 8, 1 << 0

FAKE_GAMEPADS = """
(() => {
  const pads = [];
  window.__setPad = (index, pressed, axes = [0, 0, 0, 0]) => {
    const buttons = Array.from({ length: 17 }, (_, i) => ({ pressed: pressed.includes(i), touched: false,
                                                            value: pressed.includes(i) ? 1 : 0 }));
    pads[index] = { id: `Fake pad ${index}`, index, connected: true, mapping: "standard", axes,
                    buttons, timestamp: performance.now() };
  };
  navigator.getGamepads = () => {
    const out = [null, null, null, null];
    pads.forEach((pad, i) => { out[i] = pad; });
    return out;
  };
})();
"""

READ_CANVAS = """(rows) => {
  const canvas = document.getElementById("screen-canvas");
  const height = rows ? Math.round(canvas.height * rows / 240) : canvas.height;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, height).data;
  return { width: canvas.width, height: canvas.height, rows: height, pixels: Array.from(data) };
}"""


def canvas(page: Page, rows: int = 0) -> np.ndarray:
    """The canvas as (height, width, 4); with ``rows``, only that many game rows (the rest left black)."""
    shot = page.evaluate(READ_CANVAS, rows)
    image = np.zeros((shot["height"], shot["width"], 4), np.uint8)
    image[:shot["rows"]] = np.array(shot["pixels"], np.uint8).reshape(shot["rows"], shot["width"], 4)
    return image


PADDLE_TOP = """() => {
  // the demo core's left paddle (F0C040, x = 8..11): its top row in game pixels, from the canvas
  const canvas = document.getElementById("screen-canvas");
  const scale = canvas.height / 240;
  const column = canvas.getContext("2d").getImageData(Math.floor(9.5 * scale), 0, 1, canvas.height).data;
  for (let y = 0; y < canvas.height; y++) {
    const [r, g, b] = column.slice(4 * y, 4 * y + 3);
    if (Math.abs(r - 0xF0) < 48 && Math.abs(g - 0xC0) < 48 && Math.abs(b - 0x40) < 48) return Math.round(y / scale);
  }
  return -1;
}"""


def strip(page: Page) -> tuple[int, int, int]:
    return decode_strip(canvas(page, rows=16))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stats(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = page.evaluate("window.treazrPlayer ? window.treazrPlayer.stats() : {}")
    return value


@pytest.fixture
def server_services(live_server: LiveServer) -> Iterator[Services]:
    opened = open_treazr(load_settings(overrides={"data_dir": str(live_server.data_dir)}, environ={}))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def player(live_server: LiveServer, server_services: Services,
           tmp_path: Path) -> Iterator[tuple[BrowserContext, Identity]]:
    trust = ssl.create_default_context(cafile=str(live_server.ca_path))
    with httpx.Client(base_url=live_server.url, verify=trust) as client:
        ada = sign_up_sync(client, server_services, "Ada")
    with sync_playwright() as playwright:
        browser = _launch(playwright, _trusting_home(tmp_path, live_server.ca_path),
                          ("--autoplay-policy=no-user-gesture-required",))
        try:
            context = browser.new_context()
            context.add_cookies([{"name": "treazr_session", "value": ada.session, "url": live_server.url}])
            context.add_init_script(FAKE_GAMEPADS)
            yield context, ada
        finally:
            browser.close()


def open_player(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    # generous: with four players' pages decoding at once on a shared 2-CPU host, a page's first frames
    # were seen to take over 30 s to arrive (CI, 2026-11-30)
    wait_for("decoded frames", lambda: stats(page).get("frames_drawn", 0) >= 30, 90)
    return page, errors


def test_demo_core_plays_and_answers_keyboard_and_gamepads(
        live_server: LiveServer, player: tuple[BrowserContext, Identity]) -> None:
    context, _ = player
    page, errors = open_player(context, f"{live_server.url}/play/game/0")
    first = stats(page)
    assert first["chroma"] == "444" and first["codec"].startswith("avc1.F4") and first["connected"]
    wait_for("decoded audio", lambda: stats(page)["audio_decoded"] >= 20)
    assert strip(page)[1:] == (0, 0)

    page.keyboard.down("x")  # RetroArch default: X is the A button
    wait_for("A on port 1", lambda: strip(page)[1] == A)
    page.keyboard.up("x")
    wait_for("A released", lambda: strip(page)[1] == 0)

    page.evaluate("window.__setPad(0, [0])")  # standard mapping: bottom face button is libretro B
    wait_for("B from pad 1 on port 1", lambda: strip(page)[1] == B)
    page.evaluate("window.__setPad(0, []); window.__setPad(1, [1, 12])")  # pad 2: A + d-pad up on port 2
    wait_for("pad 2 on port 2", lambda: strip(page)[1:] == (0, A | 1 << 4))
    page.evaluate("window.__setPad(1, [])")
    wait_for("all released", lambda: strip(page)[1:] == (0, 0))

    # a stick tilted too little to count as d-pad DOWN still moves the paddle, through the analog axes
    resting = page.evaluate(PADDLE_TOP)
    page.evaluate("window.__setPad(0, [], [0, 0.45, 0, 0])")
    wait_for("the paddle moved by the stick", lambda: page.evaluate(PADDLE_TOP) >= resting + 12)
    assert strip(page)[1] == 0  # no button: the axes did it
    page.evaluate("window.__setPad(0, [])")

    later = stats(page)
    assert later["input_to_frame_ms"] is not None and later["rtt_ms"] is not None
    assert later["fps"] > 0 and later["bitrate_kbps"] > 0 and later["decode_ms"] is not None

    page.click("[data-action=stats]")
    wait_for("the stats overlay", lambda: "fps" in page.inner_text("#stats"))
    page.click("[data-action=pause]")
    wait_for("paused", lambda: page.inner_text("[data-action=pause]") == "Resume")
    frozen = stats(page)["last_frame_no"]
    time.sleep(0.5)
    assert stats(page)["last_frame_no"] == frozen
    page.click("[data-action=pause]")
    wait_for("running again", lambda: stats(page)["last_frame_no"] > frozen + 10)
    page.select_option("#slot", "2")
    page.click("[data-action=save]")
    wait_for("saved", lambda: "Saved to Slot 2" in page.inner_text("#message"))
    page.click("[data-action=load]")
    wait_for("loaded", lambda: "Loaded Slot 2" in page.inner_text("#message"))

    touch = page.locator("#touch [data-button='8']")  # the on-screen A button (shown on touch screens)
    touch.dispatch_event("pointerdown", {"pointerId": 7, "bubbles": True})
    wait_for("A from the touch button", lambda: strip(page)[1] == A)
    touch.dispatch_event("pointerup", {"pointerId": 7, "bubbles": True})
    wait_for("touch released", lambda: strip(page)[1] == 0)
    assert not errors, errors


def test_a_rom_plays_and_a_key_and_a_gamepad_change_the_picture(
        live_server: LiveServer, server_services: Services, player: tuple[BrowserContext, Identity],
        roms: Path) -> None:
    report = import_paths(server_services, [roms / "nes" / "test_buttons.nes"])
    assert report.added == 1, report.as_json()
    game = server_services.db.query_one("SELECT id FROM games")
    assert game is not None
    context, _ = player
    page, errors = open_player(context, f"{live_server.url}/play/game/{game['id']}")
    wait_for("decoded audio", lambda: stats(page)["audio_decoded"] >= 20)
    time.sleep(1.0)  # let the test ROM draw its first prompt
    before = canvas(page)
    changed = False
    for key in ("x", "z", "ShiftRight", "Enter", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"):
        page.keyboard.down(key)
        time.sleep(0.25)
        page.keyboard.up(key)
        time.sleep(0.25)
        if np.any(canvas(page) != before):
            changed = True
            break
    assert changed, "no key changed the picture of test_buttons.nes"
    after_key = canvas(page)
    for button in (1, 0, 8, 9, 12, 13, 14, 15):
        page.evaluate(f"window.__setPad(0, [{button}])")
        time.sleep(0.25)
        page.evaluate("window.__setPad(0, [])")
        time.sleep(0.25)
        if np.any(canvas(page) != after_key):
            break
    else:
        raise AssertionError("no gamepad button changed the picture of test_buttons.nes")
    # save, then end at once: the passing "Saved" note must not wipe the ending that followed it
    page.click("[data-action=save]")
    expect(page.locator("#message")).to_contain_text("Saved to", timeout=30_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=end]")
    expect(page.locator("#message")).to_contain_text("ended", timeout=30_000)
    time.sleep(2.5)  # past the "Saved" note's own clearing
    expect(page.locator("#message")).to_contain_text("ended")
    assert not errors, errors


def test_browsers_without_high_444_get_a_2x_upscaled_420_stream(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server-data", tmp_path / "server.log", env={"TREAZR_STREAMING_CHROMA": "420"})
    try:
        services = open_treazr(load_settings(overrides={"data_dir": str(server.data_dir)}, environ={}))
        try:
            with httpx.Client(base_url=server.url,
                              verify=ssl.create_default_context(cafile=str(server.ca_path))) as client:
                ada = sign_up_sync(client, services, "Ada")
        finally:
            services.close()
        with sync_playwright() as playwright:
            browser = _launch(playwright, _trusting_home(tmp_path, server.ca_path))
            try:
                context = browser.new_context()
                context.add_cookies([{"name": "treazr_session", "value": ada.session, "url": server.url}])
                page, errors = open_player(context, f"{server.url}/play/game/0")
                state = stats(page)
                assert state["chroma"] == "420" and not state["codec"].startswith("avc1.F4")
                page.keyboard.down("z")  # B
                wait_for("B on port 1", lambda: strip(page)[1] == B)
                page.keyboard.up("z")
                # One-pixel detail survives the 4:2:0 path: the strip's blocks stay crisp black and white.
                picture = canvas(page, rows=8)
                rgb = picture[: picture.shape[0] * 8 // 240, :, :3].astype(int)  # the frame counter's row
                assert np.mean((rgb < 40) | (rgb > 215)) > 0.97
                assert not errors, errors
            finally:
                browser.close()
    finally:
        server.stop()


@contextmanager
def _stalled_viewer(server: LiveServer, token: str, who: Identity) -> Iterator[ClientConnection]:
    """A viewer that says hello and never reads: its socket fills and the server must skip it."""
    context = ssl.create_default_context(cafile=str(server.ca_path))
    context.check_hostname = False
    host, port = server.url.removeprefix("https://").split(":")
    raw = socket.create_connection((host, int(port)))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with connect(f"wss://{host}:{port}/api/play/sessions/{token}/ws", sock=raw, ssl=context,
                 additional_headers=who.headers, max_queue=2) as connection:
        connection.send(json.dumps({"type": "hello", "protocol": 1, "chroma444": True}))
        yield connection


def test_malformed_flood_and_a_stalled_viewer_leave_the_player_unharmed(
        live_server: LiveServer, player: tuple[BrowserContext, Identity]) -> None:
    context, ada = player
    page, errors = open_player(context, f"{live_server.url}/play/game/0")
    token = stats(page)["token"]
    with _stalled_viewer(live_server, token, ada):
        flood = page.evaluate("""async (token) => {
          const socket = new WebSocket(`wss://${location.host}/api/play/sessions/${token}/ws`);
          socket.binaryType = "arraybuffer";
          await new Promise((resolve) => { socket.onopen = resolve; });
          socket.send(JSON.stringify({ type: "hello", protocol: 1, chroma444: true }));
          const junk = ["{", "[]", '{"type":"warp"}', '{"type":"ping"}', "x".repeat(6000), new Uint8Array([16]),
                        new Uint8Array([99, 1, 2, 3]), new Uint8Array(0), new Uint8Array(200).fill(16)];
          for (let round = 0; round < 300; round += 1) for (const message of junk) socket.send(message);
          socket.send(JSON.stringify({ type: "ping", t: 7 }));
          const pong = await new Promise((resolve) => {
            socket.onmessage = (event) => {
              if (typeof event.data === "string" && JSON.parse(event.data).type === "pong") resolve(true);
            };
          });
          socket.close();
          return { sent: 300 * junk.length, pong };
        }""", token)
        assert flood["pong"] is True  # the flooding socket itself is still served
        drawn = stats(page)["frames_drawn"]
        wait_for("frames after the flood", lambda: stats(page)["frames_drawn"] >= drawn + 120)
        page.keyboard.down("x")
        wait_for("input after the flood", lambda: strip(page)[1] == A)
        page.keyboard.up("x")
        state = stats(page)
        assert state["connected"] and state["reconnects"] == 0 and state["errors"] == 0
    # A dropped connection (here: closed under the page's feet) reconnects into the same session.
    page.evaluate("window.treazrPlayer.player.socket.close()")
    wait_for("a reconnect", lambda: stats(page)["reconnects"] == 1 and stats(page)["connected"])
    drawn = stats(page)["frames_drawn"]
    wait_for("frames after reconnecting", lambda: stats(page)["frames_drawn"] >= drawn + 60)
    assert stats(page)["token"] == token
    assert not errors, errors


def test_a_third_game_offers_to_end_the_oldest_and_then_plays(
        live_server: LiveServer, server_services: Services, player: tuple[BrowserContext, Identity],
        roms: Path) -> None:
    report = import_paths(server_services, [roms / "nes" / "test_buttons.nes", roms / "nes" / "nestest.nes"])
    assert report.added == 2, report.as_json()
    first_rom, second_rom = (int(row["id"]) for row in server_services.db.query("SELECT id FROM games ORDER BY id"))
    context, ada = player
    # two games already running (say, on the TV and on a tablet); the demo is the older
    trust = ssl.create_default_context(cafile=str(live_server.ca_path))
    with httpx.Client(base_url=live_server.url, verify=trust) as client:
        for game_id in (0, first_rom):
            started = client.post("/api/play/sessions", json={"game_id": game_id}, headers=ada.headers)
            assert started.status_code == 201, started.text
            time.sleep(0.05)  # distinct start times
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/play/game/{second_rom}")
    expect(page.locator("#message")).to_contain_text("the most one person may", timeout=30_000)
    offer = page.locator("#end-oldest")
    expect(offer).to_have_text("End Treazr Demo and play this")
    offer.click()
    wait_for("the third game's frames", lambda: stats(page).get("frames_drawn", 0) >= 30, 90)
    with httpx.Client(base_url=live_server.url, verify=trust) as client:
        running = client.get("/api/play/sessions", headers=ada.headers).json()["sessions"]
    assert sorted(s["game_id"] for s in running) == sorted([first_rom, second_rom])
    assert not errors, errors


def test_eight_games_in_a_row_back_to_the_library_each_time_and_the_ninth_starts(
        live_server: LiveServer, server_services: Services, player: tuple[BrowserContext, Identity],
        roms: Path) -> None:
    """An evening on the sofa: open a game, go back to the library, open another... Each game left behind
    sleeps at once and is saved and ended when the next one starts, so the ninth is never refused."""
    files = [roms / "nes" / name for name in ("test_buttons.nes", "nestest.nes", "official_only.nes",
                                              "apu_test.nes", "nes15-NTSC.nes")]
    files += [roms / "gb" / "cpu_instrs.gb", roms / "gb" / "dmg_sound.gb", roms / "pce" / "padtest.pce"]
    report = import_paths(server_services, files)
    assert report.added == 8, report.as_json()
    games = [(int(r["id"]), str(r["title"]))
             for r in server_services.db.query("SELECT id, title FROM games ORDER BY id")]
    evening = [(0, "Treazr Demo"), *games]  # nine games
    context, ada = player
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    trust = ssl.create_default_context(cafile=str(live_server.ca_path))
    previous: str | None = None
    for game_id, title in evening:
        page.goto(f"{live_server.url}/")
        if previous is not None:  # the library says the game just left is paused, not gone
            expect(page.locator("#running")).to_contain_text(f"Your game of {previous} is paused", timeout=15_000)
        page.goto(f"{live_server.url}/play/game/{game_id}")
        wait_for(f"{title}'s frames", lambda: stats(page).get("frames_drawn", 0) >= 30, 90)
        if previous is not None:  # and the new player says what became of it
            expect(page.locator("#message")).to_contain_text(f"{previous} was not being watched, so it was saved and "
                                                             "ended", timeout=15_000)
        previous = title
    with httpx.Client(base_url=live_server.url, verify=trust) as client:
        running = client.get("/api/play/sessions", headers=ada.headers).json()["sessions"]
    assert [s["game_id"] for s in running] == [evening[-1][0]]  # one game runs: the one being played
    continued = {int(r["game_id"]) for r in server_services.db.query(
        "SELECT game_id FROM save_states WHERE user_id = ? AND slot = 0", (ada.user_id,))}
    assert continued >= {game_id for game_id, _ in evening[:-1]}  # every one left behind can Continue
    page.goto(f"{live_server.url}/")
    expect(page.locator("#away")).to_contain_text(f"{evening[-2][1]} was saved and ended because you started "
                                                  "another game")
    assert not errors, errors
