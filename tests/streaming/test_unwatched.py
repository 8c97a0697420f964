"""Games nobody watches: they sleep at once and wake exactly where they were; starting another game ends
one's own unwatched game with its Continue state; the player and the home page say what happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.streaming.client import PlayServer, StreamClient, play_server
from tests.streaming.test_sessions import person, start
from treazr.emulation.demo_strip import decode_strip
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.streaming.sessions import PlaySession
from treazr.web.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


async def until(condition: object, what: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def asleep(play: PlaySession) -> int:
    """Wait until the worker says it paused because nobody watches; its frame number then."""
    await until(lambda: play.asleep and play.paused, "asleep")
    return play.worker.frame_no  # every frame comes before the worker's "paused" event


def nes_games(services: Services, roms: Path) -> tuple[int, int]:
    report = import_paths(services, [roms / "nes" / "test_buttons.nes", roms / "nes" / "nestest.nes"])
    assert report.added == 2, report.as_json()
    first, second = (int(row["id"]) for row in services.db.query("SELECT id FROM games ORDER BY id"))
    return first, second


async def home(server: PlayServer, headers: dict[str, str]) -> str:
    async with server.client() as client:
        page = await client.get("/", headers=headers)
    assert page.status_code == 200, page.text
    return " ".join(page.text.split())


async def test_a_game_nobody_watches_sleeps_and_wakes_exactly_where_it_was(
        server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    token = str((await start(server, ada))["token"])
    play = server.manager.get(token)
    async with StreamClient.connect(server, token, ada) as viewer:
        await viewer.receive(frames=20)
        assert not play.asleep
    stopped_at = await asleep(play)
    await asyncio.sleep(1.0)
    assert play.worker.frame_no == stopped_at  # not one frame emulated while nobody watches
    assert "is paused: nobody is watching it" in await home(server, ada.headers)

    async with StreamClient.connect(server, token, ada) as viewer:  # coming back
        await viewer.receive(frames=10)
        first = viewer.frames[0]
        assert first.key and first.frame_no == stopped_at + 1  # the very next frame, as a key frame
        # the core's own frame counter agrees: it did not run while asleep
        assert len({decode_strip(f.rgb)[0] - f.frame_no for f in viewer.frames}) == 1
        assert not play.asleep and not play.held
        await viewer.command("pause")  # the owner's own pause outlasts leaving and coming back
        await viewer.receive(until="state")
        await until(lambda: play.paused, "paused by the owner")
    await until(lambda: play.asleep, "asleep")
    async with StreamClient.connect(server, token, ada) as viewer:
        await viewer.receive(until="state")
        assert viewer.control_of("state")[-1]["paused"] is True
        held_at = play.worker.frame_no
        await asyncio.sleep(0.5)
        assert play.worker.frame_no == held_at and play.held and not play.asleep
        await viewer.command("resume")
        await viewer.receive(frames=5)
        assert viewer.frames[-1].frame_no > held_at


async def test_starting_another_game_ends_ones_own_unwatched_game_with_its_continue_state(
        server: PlayServer, services: Services, roms: Path) -> None:
    first_rom, second_rom = nes_games(services, roms)
    ada = await person(server, services, "Ada")
    demo = str((await start(server, ada))["token"])
    async with StreamClient.connect(server, demo, ada) as viewer:
        await viewer.receive(frames=30)
    stopped_at = await asleep(server.manager.get(demo))

    nes = await start(server, ada, first_rom)
    assert demo not in server.manager.sessions
    assert str(nes["notice"]).startswith("Treazr Demo was not being watched, so it was saved and ended")
    ended = services.db.query_one("SELECT end_reason FROM play_sessions WHERE token = ?", (demo,))
    assert ended == {"end_reason": "Ada started another game"}
    state = services.db.query_one("SELECT frame_no FROM save_states WHERE user_id = ? AND game_id = 0 AND slot = 0",
                                  (ada.user_id,))
    assert state is not None and state["frame_no"] == stopped_at  # saved where it slept
    page = await home(server, ada.headers)
    assert "While you were away" in page
    assert "Treazr Demo was saved and ended because you started another game; Continue picks it up." in page

    # a game shared with someone else is kept: Bob holds player 2 and may be back in a moment
    bob = await person(server, services, "Bob")
    assert "While you were away" not in await home(server, bob.headers)  # Ada's news is hers alone
    async with server.client() as client:
        fragment = await client.get("/home/running", headers=ada.headers)
        assert fragment.status_code == 200 and "Treazr Demo was saved and ended" in fragment.text
        assert "Treazr Demo was saved" not in (await client.get("/home/running", headers=bob.headers)).text
        stranger = await client.get("/home/running", follow_redirects=False)
        assert stranger.status_code in (302, 303, 401) and "Treazr Demo" not in stranger.text
    token = str(nes["token"])
    async with StreamClient.connect(server, token, ada) as host, StreamClient.connect(server, token, bob) as guest:
        await guest.receive(frames=2)  # joined
        await host.command("assign_port", port=1, user_id=bob.user_id)
        await guest.receive(until="ports")
    await asleep(server.manager.get(token))
    second = str((await start(server, ada, second_rom))["token"])
    assert token in server.manager.sessions and server.manager.get(token).asleep
    async with StreamClient.connect(server, second, ada) as viewer:
        await viewer.receive(frames=2)

    again = await start(server, ada)  # the demo again: Continue, and nothing more to tell
    assert again["started_from"] == "continue"
    assert second not in server.manager.sessions and token in server.manager.sessions
    assert "Treazr Demo was saved and ended" not in await home(server, ada.headers)


async def test_a_full_server_offers_to_end_ones_own_oldest_game(server: PlayServer, services: Services,
                                                                roms: Path) -> None:
    first_rom, second_rom = nes_games(services, roms)
    services.settings.emulation.max_sessions = 2
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    demo = await start(server, ada)
    await start(server, bob, first_rom)
    async with server.client() as client:
        refused = await client.post("/api/play/sessions", json={"game_id": second_rom}, headers=ada.headers)
        assert refused.status_code == 409, refused.text
        assert "the most this server allows" in refused.json()["error"]
        assert refused.json()["oldest_session"] == {"token": demo["token"], "title": "Treazr Demo"}
        carl = await person(server, services, "Carl")
        nothing_to_end = await client.post("/api/play/sessions", json={"game_id": second_rom}, headers=carl.headers)
        assert nothing_to_end.status_code == 409 and "oldest_session" not in nothing_to_end.json()


async def test_an_unwatched_game_ends_after_the_idle_timeout_and_the_home_page_says_so(
        server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    token = str((await start(server, ada))["token"])
    play = server.manager.get(token)
    async with StreamClient.connect(server, token, ada) as viewer:
        await viewer.receive(frames=5)
    await asleep(play)
    idle_s = services.settings.emulation.idle_timeout_min * 60
    assert play.no_viewer_since is not None
    await server.run(server.manager.housekeep_once(play.no_viewer_since + idle_s + 1))
    assert token not in server.manager.sessions
    assert ("Treazr Demo was saved and ended because nobody watched it for 10 minutes; Continue picks it up."
            in await home(server, ada.headers))
