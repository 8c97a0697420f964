"""Play history derived from the append-only play_events log: play time, last played, sessions, the
household overview, and that one member never sees another's history."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

from tests.web._webapp import Family, game_id
from treazr.services import Services
from treazr.streaming.playtime import household, play_stats, user_sessions


def _session(services: Services, owner: int, game: int, started: str) -> int:
    return services.db.execute("INSERT INTO play_sessions (token, user_id, game_id, core, started_at) VALUES"
                               " (?, ?, ?, 'core', ?)", (f"tok-{owner}-{game}-{started}", owner, game, started))


def _event(services: Services, session: int, kind: str, user: int | None, game: int, at: str, **detail: object) -> None:
    services.db.execute("INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at, detail)"
                        " VALUES (?, ?, ?, ?, 1, ?, ?)", (session, kind, user, game, at, json.dumps(detail)))


def _play(services: Services, family: Family, game: int) -> None:
    """Ada plays 10 minutes on two devices that overlap 5 minutes; Bob joins her for 3."""
    ada, bob = family.ada.user_id, family.bob.user_id
    s = _session(services, ada, game, "2026-01-01T10:00:00Z")
    _event(services, s, "started", ada, game, "2026-01-01T10:00:00Z")
    _event(services, s, "joined", ada, game, "2026-01-01T10:00:00Z", viewer=1)
    _event(services, s, "joined", ada, game, "2026-01-01T10:05:00Z", viewer=2)
    _event(services, s, "joined", bob, game, "2026-01-01T10:06:00Z", viewer=3)
    _event(services, s, "left", bob, game, "2026-01-01T10:09:00Z", viewer=3)
    _event(services, s, "state_saved", ada, game, "2026-01-01T10:09:30Z", slot=1)
    _event(services, s, "left", ada, game, "2026-01-01T10:08:00Z", viewer=1)
    _event(services, s, "ended", None, game, "2026-01-01T10:10:00Z", reason="ended by Ada")  # viewer 2 open


async def test_play_time_counts_overlapping_devices_once(family: Family, services: Services) -> None:
    game = game_id(services, "nestest")
    _play(services, family, game)
    ada = await play_stats(services.db, family.ada.user_id)
    assert ada == {game: {"seconds": 600.0, "last_played": "2026-01-01T10:10:00.000Z"}}  # to the end
    bob = await play_stats(services.db, family.bob.user_id, game)
    assert bob[game]["seconds"] == 180.0
    assert await play_stats(services.db, family.kid.user_id) == {}
    sessions = await user_sessions(services.db, family.bob.user_id)
    assert len(sessions) == 1 and sessions[0]["seconds"] == 180.0 and sessions[0]["owner"] == "Ada"
    assert sessions[0]["events"] == ["joined", "left"]  # only Bob's own events
    people = {p["name"]: p for p in await household(services.db)}
    assert people["Ada"]["seconds"] == 600.0 and people["Bob"]["sessions"] == 1 and people["Kim"]["seconds"] == 0


async def test_a_running_session_counts_until_now(family: Family, services: Services) -> None:
    game = game_id(services, "arm")
    s = _session(services, family.ada.user_id, game, "2020-01-01T10:00:00Z")
    _event(services, s, "joined", family.ada.user_id, game, "2020-01-01T10:00:00Z", viewer=9)
    stats = await play_stats(services.db, family.ada.user_id, game)
    assert stats[game]["seconds"] > 86400  # still open: counted to now


async def test_history_routes_are_per_person(client: AsyncTestClient, family: Family,
                                             services: Services) -> None:
    game = game_id(services, "nestest")
    _play(services, family, game)
    mine = (await client.get("/api/history", headers=family.ada.headers)).json()
    assert mine["total_seconds"] == 600.0 and mine["games"][0]["title"] == "nestest"
    bob = (await client.get("/api/history", headers=family.bob.headers)).json()
    assert bob["total_seconds"] == 180.0 and [s["events"] for s in bob["sessions"]] == [["joined", "left"]]
    assert "state_saved" not in str(bob)  # Ada's own events in the shared session stay hers
    kim = (await client.get("/api/history", headers=family.kid.headers)).json()
    assert kim == {"sessions": [], "games": [], "total_seconds": 0}
    page = await client.get("/history", headers=family.ada.headers)
    assert page.status_code == 200 and "nestest" in page.text and "10 min" in page.text
    assert "nestest" not in (await client.get("/history", headers=family.kid.headers)).text
    assert (await client.get("/api/admin/history", headers=family.ada.headers)).status_code == 403
    assert (await client.get("/admin/history", headers=family.bob.headers)).status_code == 403
    overview = (await client.get("/api/admin/history", headers=family.admin.headers)).json()
    assert {p["name"]: p["seconds"] for p in overview["people"]}["Ada"] == 600.0
    assert overview["sessions"][0]["title"] == "nestest"
    admin_page = await client.get("/admin/history", headers=family.admin.headers)
    assert admin_page.status_code == 200 and "Ada" in admin_page.text


async def test_the_log_stays_append_only(family: Family, services: Services) -> None:
    game = game_id(services, "nestest")
    _play(services, family, game)
    with pytest.raises(Exception, match="append-only"):
        services.db.execute("DELETE FROM play_events")
