"""Real Chromium, several family members, one game: share, join, controller ports, spectators, hand-off.

Ada starts the demo core and shares it; Bob opens the shared link, Ada gives him port 2, and each
one's key press shows in their own port's place of the demo core's marker strip (read back from the
canvas). Bob reloads and keeps port 2; Kim watches and her keys change nothing; Bob's chat shows on
Ada's screen; Ada opens the game on her second device and it moves there.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import LiveServer
from tests.e2e.test_play import open_player, stats, strip, wait_for
from tests.e2e.test_signin import _launch, _trusting_home
from tests.support.identity import Identity, enroll_sync, new_invite, origin_of, sign_up_sync
from treazr.composition import open_treazr
from treazr.services import Services
from treazr.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

A, B = 1 << 8, 1 << 0


@pytest.fixture
def people(live_server: LiveServer) -> dict[str, Identity]:
    services: Services = open_treazr(load_settings(overrides={"data_dir": str(live_server.data_dir)}, environ={}))
    try:
        with httpx.Client(base_url=live_server.url,
                          verify=ssl.create_default_context(cafile=str(live_server.ca_path))) as client:
            found = {name: sign_up_sync(client, services, name) for name in ("Ada", "Bob", "Kim")}
            ada = found["Ada"]
            tablet = Identity(ada.user_id, "Ada", ada.role, SigningKey.generate(), origin_of(client))
            assert enroll_sync(client, tablet, new_invite(services, ada.user_id), "tablet").status_code == 200
            found["Ada's tablet"] = tablet
    finally:
        services.close()
    return found


@pytest.fixture
def browser(live_server: LiveServer, tmp_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = _launch(playwright, _trusting_home(tmp_path, live_server.ca_path),
                           ("--autoplay-policy=no-user-gesture-required",))
        try:
            yield launched
        finally:
            launched.close()


def as_person(browser: Browser, server: LiveServer, who: Identity, url: str) -> tuple[Page, list[str]]:
    context = browser.new_context()
    context.add_cookies([{"name": "treazr_session", "value": who.session, "url": server.url}])
    return open_player(context, url)


def press(page: Page, key: str, port: int, mask: int) -> None:
    """Hold ``key`` until the strip shows ``mask`` on ``port`` (1 or 2), then let go and see it clear."""
    page.keyboard.down(key)
    wait_for(f"{key} on port {port}", lambda: strip(page)[port] == mask)
    page.keyboard.up(key)
    wait_for(f"{key} released", lambda: strip(page)[port] == 0)


def test_two_members_share_a_game_a_third_watches_and_it_moves_to_another_device(
        live_server: LiveServer, people: dict[str, Identity], browser: Browser) -> None:
    ada, errors = as_person(browser, live_server, people["Ada"], f"{live_server.url}/play/game/0")
    assert stats(ada)["ports"] == [0, 1] and stats(ada)["control"]
    ada.click("[data-action=share]")
    wait_for("the share dialog", lambda: ada.input_value("#share-url").endswith(f"/play/{stats(ada)['token']}"))
    assert ada.get_attribute("#share-qr", "src").startswith("data:image/svg+xml;base64,")  # type: ignore[union-attr]
    link = ada.input_value("#share-url")
    ada.keyboard.press("Escape")

    bob, bob_errors = as_person(browser, live_server, people["Bob"], link)
    assert stats(bob)["ports"] == [] and not stats(bob)["control"]
    assert "Watching" in bob.inner_text("#my-ports") and bob.locator("[data-action=end]").is_hidden()
    wait_for("Bob in Ada's port list", lambda: ada.locator("#port-1-holder option", has_text="Bob").count() == 1)
    ada.select_option("#port-1-holder", label="Bob")
    wait_for("Bob holds port 2", lambda: stats(bob)["ports"] == [1])
    assert "port 2" in bob.inner_text("#my-ports")
    wait_for("Ada keeps port 1", lambda: stats(ada)["ports"] == [0])

    press(bob, "z", 2, B)  # Bob's keyboard drives port 2...
    press(ada, "x", 1, A)  # ...and Ada's port 1
    bob.keyboard.down("x")
    ada.keyboard.down("z")
    wait_for("both at once, each in their place", lambda: strip(ada)[1:] == (B, A) and strip(bob)[1:] == (B, A))
    bob.keyboard.up("x")
    ada.keyboard.up("z")
    wait_for("all released", lambda: strip(ada)[1:] == (0, 0))

    bob.reload()
    wait_for("Bob's frames after the reload", lambda: stats(bob).get("frames_drawn", 0) >= 30)
    wait_for("Bob keeps port 2", lambda: stats(bob)["ports"] == [1])
    press(bob, "x", 2, A)

    kim, kim_errors = as_person(browser, live_server, people["Kim"], link)
    assert stats(kim)["ports"] == []
    kim.keyboard.down("x")
    seen = stats(kim)["frames_drawn"]
    wait_for("Kim watching on", lambda: stats(kim)["frames_drawn"] >= seen + 60)
    assert strip(kim)[1:] == (0, 0) and strip(ada)[1:] == (0, 0)  # a spectator's keys are ignored
    kim.keyboard.up("x")

    bob.fill("#chat-input", "my turn next!")
    bob.press("#chat-input", "Enter")
    wait_for("Bob's chat over Ada's game", lambda: "my turn next!" in ada.inner_text("#chat-log"))
    assert "Bob" in kim.inner_text("#chat-log")

    tablet, tablet_errors = as_person(browser, live_server, people["Ada's tablet"], link)
    wait_for("the old device told", lambda: "moved to your other device" in ada.inner_text("#message"))
    # the tablet hears of its port on its own socket, which need not be served before Ada's old page
    wait_for("the tablet holds port 1", lambda: stats(tablet)["ports"] == [0] and stats(tablet)["control"])
    press(tablet, "x", 1, A)
    assert stats(bob)["ports"] == [1] and stats(bob)["connected"]
    assert not (errors or bob_errors or kim_errors or tablet_errors)
