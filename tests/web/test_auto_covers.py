"""The web app's imports (an upload, an admin's rescan) nudge the background cover maker, and the games API
says while covers are being made (the home grid looks again for them then)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.support.covers import colours, eventually
from tests.support.identity import Identity
from tests.web._webapp import Family, sign_up_family
from treazr.emulation.auto_covers import AutoCovers
from treazr.services import Services
from treazr.web.app import create_app

COVER_BOUND_S = 60


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient]:
    """The app on an empty library, with automatic covers on (the tests' settings turn them off)."""
    services.settings.library.auto_covers = True
    async with AsyncTestClient(app=create_app(services), timeout=60) as test_client:
        yield test_client


@pytest.fixture
async def family(client: AsyncTestClient, services: Services) -> Family:
    return await sign_up_family(client, services)


async def _maker(client: AsyncTestClient) -> AutoCovers:
    maker: AutoCovers = client.app.state.auto_covers
    await eventually("the maker's first round", lambda: maker.rounds["start"] == 1, 30)
    return maker


async def _covers_of_every_game(client: AsyncTestClient, who: Identity) -> tuple[list[bytes], set[bool]]:
    """Look at the games until each has a cover (as the home grid does); the covers and every
    ``covers_being_made`` seen on the way."""
    being_made: set[bool] = set()
    deadline = time.monotonic() + COVER_BOUND_S
    while time.monotonic() < deadline:
        listing = (await client.get("/api/games", headers=who.headers)).json()
        being_made.add(listing["covers_being_made"])
        if listing["games"] and all(game["cover_url"] for game in listing["games"]):
            pictures = [(await client.get(game["cover_url"], headers=who.headers)).content
                        for game in listing["games"]]
            return pictures, being_made
        await asyncio.sleep(0.02)
    raise AssertionError(f"no cover for every game within {COVER_BOUND_S} s")


async def test_an_upload_nudges_the_cover_maker(client: AsyncTestClient, family: Family, roms: Path) -> None:
    maker = await _maker(client)
    rom = (roms / "gb" / "cpu_instrs.gb").read_bytes()
    uploaded = await client.post("/api/uploads?name=cpu_instrs.gb", content=rom,
                                 headers={**family.ada.headers, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 201, uploaded.text
    pictures, being_made = await _covers_of_every_game(client, family.bob)
    assert [colours(picture) > 1 for picture in pictures] == [True]
    assert True in being_made
    await eventually("a round for the upload's nudge", lambda: maker.rounds["nudge"] >= 1, 30)
    assert (await client.get("/api/games", headers=family.bob.headers)).json()["covers_being_made"] is False


async def test_a_rescan_nudges_the_cover_maker(client: AsyncTestClient, family: Family, roms: Path,
                                               tmp_path: Path) -> None:
    maker = await _maker(client)
    shutil.copytree(roms / "gb", tmp_path / "roms" / "gb")
    started = await client.post("/api/admin/library/rescan", json={"paths": [str(tmp_path / "roms")]},
                                headers=family.admin.headers)
    assert started.status_code == 202, started.text
    pictures, _ = await _covers_of_every_game(client, family.ada)
    assert len(pictures) == 2 and all(colours(picture) > 1 for picture in pictures)
    await eventually("a round for the rescan's nudge", lambda: maker.rounds["nudge"] >= 1, 30)
