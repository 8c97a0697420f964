"""Playing together over the real protocol: ports, spectators, grace period, hand-off, chat, IDOR.

Real app under uvicorn, real worker running the demo core (its marker strip shows the port-1 and
port-2 masks), Python viewers decoding the stream with PyAV.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from nacl.signing import SigningKey

from tests.streaming.client import PlayServer, StreamClient, play_server, refusal_code
from tests.support.identity import Identity, enroll, new_invite, origin_of, sign_up
from treazr.emulation.demo_strip import decode_strip
from treazr.errors import InvalidInput, PermissionDenied
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.streaming.protocol import CLOSE_IDLE, CLOSE_MOVED, CLOSE_NOT_FOUND
from treazr.streaming.sessions import PlaySession
from treazr.streaming.together import (
    CHAT_BURST,
    CHAT_MAX_CHARS,
    CHAT_REFILL_S,
    PLAYER_IDLE_S,
    PORT_GRACE_S,
    SPECTATOR_IDLE_S,
    ChatLimiter,
    PortTable,
    clean_chat,
)
from treazr.web.app import create_app

A, B = 1 << 8, 1 << 0


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


async def person(server: PlayServer, services: Services, name: str, role: str = "member") -> Identity:
    async with server.client() as client:
        return await sign_up(client, services, name, role)


async def start(server: PlayServer, who: Identity, game_id: int = 0) -> str:
    async with server.client() as client:
        response = await client.post("/api/play/sessions", json={"game_id": game_id}, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["session"]["token"])


def events(services: Services, token: str) -> list[dict[str, Any]]:
    rows = services.db.query("SELECT e.kind, e.user_id, e.detail FROM play_events e JOIN play_sessions s"
                             " ON s.id = e.session_id WHERE s.token = ? ORDER BY e.id", (token,))
    return [{"kind": r["kind"], "user_id": r["user_id"], **json.loads(r["detail"])} for r in rows]


async def until_strip(viewer: StreamClient, check: Any, frames: int = 240) -> tuple[int, int, int]:
    """Decode frames until the marker strip satisfies ``check``; fails after ``frames`` frames."""
    for _ in range(frames):
        await viewer.receive(frames=1)
        strip = decode_strip(viewer.frames[-1].rgb)
        if check(strip):
            return strip
    raise AssertionError(f"the strip never matched; last {decode_strip(viewer.frames[-1].rgb)}")


async def ignored_press(viewer: StreamClient, play: PlaySession, port: int, buttons: int) -> tuple[int, int, int]:
    """Press where the server must refuse it; once the server has counted the refusal, the marker strip
    of the first frame emulated after it (an applied press would show there)."""
    refused = play.metrics.inputs_ignored["port"]
    before = refused._value.get()
    await viewer.press(port, buttons)
    async with asyncio.timeout(30):
        while refused._value.get() == before:
            await viewer.receive(frames=1)
    after = max(play.frame_no, play.worker.frame_no) + 2
    while viewer.frames[-1].frame_no < after:
        await viewer.receive(frames=1)
    return decode_strip(viewer.frames[-1].rgb)


# -- the rules, without a server -------------------------------------------------------------------
def test_port_table_assigns_swaps_frees_and_keeps_ports_through_the_grace_period() -> None:
    table = PortTable(count=2, owner_id=1)
    assert table.of(1) == [0, 1] and table.of(2) == []
    assert [c.after for c in table.assign(1, 2)] == [2] and table.of(2) == [1]
    assert table.assign(1, 2) == []  # idempotent
    assert {(c.port, c.after) for c in table.swap(0, 1)} == {(0, 2), (1, 1)}
    with pytest.raises(InvalidInput, match="port 3 does not exist"):
        table.assign(2, 2)
    with pytest.raises(PermissionDenied):
        table.release(1, 2, may_control=False)  # not Bob's port
    table.left(2, now=100.0)
    assert table.expire(100.0 + PORT_GRACE_S - 1, set()) == [] and table.of(2) == [0]
    table.arrived(2)  # back within the grace period: nothing to expire
    table.left(2, now=200.0)
    freed = table.expire(200.0 + PORT_GRACE_S, set())
    assert [(c.port, c.before, c.after) for c in freed] == [(0, 2, None)] and table.holders == [None, 1]
    table.left(1, now=300.0)
    assert table.expire(300.0 + PORT_GRACE_S, {1}) == [] and table.of(1) == [1]  # the owner's stay
    assert table.release(1, 1, may_control=True)[0].after is None


def test_chat_is_cleaned_length_limited_and_rate_limited() -> None:
    assert clean_chat("  hi\x00 there\n\tyou ") == "hi there you"
    for bad in ("", "   \n", 42, "x" * (CHAT_MAX_CHARS + 1)):
        with pytest.raises(InvalidInput):
            clean_chat(bad)
    limiter = ChatLimiter()
    assert [limiter.allow(1, now=10.0) for _ in range(CHAT_BURST)] == [0.0] * CHAT_BURST
    assert limiter.allow(1, now=10.0) == pytest.approx(CHAT_REFILL_S)
    assert limiter.allow(2, now=10.0) == 0.0  # another person has their own allowance
    assert limiter.allow(1, now=10.0 + CHAT_REFILL_S) == 0.0


# -- over the wire ---------------------------------------------------------------------------------
@pytest.mark.slow
async def test_spectators_join_get_a_port_and_keep_it_through_a_reconnect(server: PlayServer,
                                                                          services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    token = await start(server, ada)
    play = server.manager.get(token)
    async with server.client() as client:
        listed = (await client.get("/api/play/sessions", headers=bob.headers)).json()["sessions"]
        assert [(s["token"], s["mine"], s["may_control"]) for s in listed] == [(token, False, False)]
        share = (await client.get(f"/api/play/sessions/{token}/share", headers=bob.headers)).json()
        assert share["url"].endswith(f"/play/{token}") and share["qr"].startswith("data:image/svg+xml;base64,")
    async with StreamClient.connect(server, token, ada) as host, StreamClient.connect(server, token, bob) as guest:
        await host.receive(frames=10)
        await guest.receive(frames=10)
        assert host.control_of("welcome")[0]["ports"] == [0, 1] and host.control_of("welcome")[0]["control"]
        welcome = guest.control_of("welcome")[0]
        assert welcome["ports"] == [] and welcome["control"] is False
        assert (await ignored_press(guest, play, 0, A))[1:] == (0, 0)  # a spectator's input is ignored
        assert (await ignored_press(guest, play, 1, A))[1:] == (0, 0)
        assert play.metrics.inputs_ignored["port"]._value.get() == 2

        await host.command("assign_port", port=1, user_id=bob.user_id)
        await guest.receive(until="ports")
        assert guest.control_of("ports")[-1]["ports"] == [1]
        await host.receive(until="ports")
        assert host.control_of("ports")[-1]["ports"] == [0]
        await guest.press(1, B)
        await host.press(0, A)
        assert (await until_strip(guest, lambda s: s[1:] == (A, B)))[1:] == (A, B)
        # Ada gave port 2 away: her input there is ignored now, and Bob's B stays held
        assert (await ignored_press(host, play, 1, A))[1:] == (A, B)
        holders = [h["user_id"] for h in json.loads(json.dumps(play.holders()))]
        assert holders == [ada.user_id, bob.user_id]

    async with StreamClient.connect(server, token, bob) as guest:  # Bob's page reloads: port 2 is his again
        await guest.receive(frames=5)
        assert guest.control_of("welcome")[0]["ports"] == [1]
    async with asyncio.timeout(10):
        while play.viewers:
            await asyncio.sleep(0.05)
    await server.run(server.manager.housekeep_once(time.monotonic() + PORT_GRACE_S + 1))
    assert play.ports.holders == [ada.user_id, None]  # Bob was away past the grace period
    kinds = [(e["kind"], e.get("reason")) for e in events(services, token) if e["kind"] == "port_changed"]
    assert kinds == [("port_changed", "assigned"), ("port_changed", "away")]
    joined = [e["user_id"] for e in events(services, token) if e["kind"] == "joined"]
    assert joined == [ada.user_id, bob.user_id, bob.user_id]


@pytest.mark.slow
async def test_a_member_cannot_control_or_end_or_reassign_another_members_session(
        server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    token = await start(server, ada)
    play = server.manager.get(token)
    async with server.client() as client:
        refused = await client.post(f"/api/play/sessions/{token}/end", headers=bob.headers)
        assert refused.status_code == 403
    async with StreamClient.connect(server, token, ada) as host, StreamClient.connect(server, token, bob) as guest:
        await guest.receive(frames=5)
        attempts: list[tuple[str, dict[str, Any]]] = [
            ("pause", {}), ("end", {}), ("reset", {}), ("save_state", {"slot": 1}),
            ("assign_port", {"port": 0, "user_id": bob.user_id}), ("swap_ports", {"ports": [0, 1]}),
            ("free_port", {"port": 0})]
        for command, fields in attempts:
            before = len(guest.control_of("error"))
            await guest.command(command, **fields)
            async with asyncio.timeout(10):
                while len(guest.control_of("error")) == before:
                    await guest.receive(until=None, frames=1)
            error = guest.control_of("error")[-1]
            assert error["code"] in ("forbidden", "PermissionDenied"), (command, error)
        assert play.ports.holders == [ada.user_id, ada.user_id] and not play.paused
        await host.command("assign_port", port=0, user_id=4242)  # someone who never joined
        await host.receive(until="error")
        assert "not joined" in host.control_of("error")[-1]["message"]
    assert not play.ended.is_set() and server.manager.get(token) is play
    assert not [e for e in events(services, token) if e["kind"] in ("port_changed", "state_saved")]


@pytest.mark.slow
async def test_children_join_only_granted_games(server: PlayServer, services: Services, roms: Path) -> None:
    assert import_paths(services, [roms / "nes" / "test_buttons.nes"]).added == 1
    game = int(services.db.query_one("SELECT id FROM games")["id"])  # type: ignore[index]
    ada = await person(server, services, "Ada")
    kid = await person(server, services, "Kid", "child")
    token = await start(server, ada, game)
    async with server.client() as client:
        assert (await client.get("/api/play/sessions", headers=kid.headers)).json()["sessions"] == []
        for path in (f"/api/play/sessions/{token}", f"/api/play/sessions/{token}/share", f"/play/{token}"):
            assert (await client.get(path, headers=kid.headers)).status_code == 404, path
    assert await refusal_code(server, token, kid) == CLOSE_NOT_FOUND
    demo = await start(server, ada)  # the demo is for everyone: a child may watch it
    async with StreamClient.connect(server, demo, kid) as viewer:
        await viewer.receive(frames=3)
        assert viewer.control_of("welcome")[0]["ports"] == []


@pytest.mark.slow
async def test_opening_the_game_on_another_device_hands_it_over(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    async with server.client() as client:  # Ada's second device: its own key, enrolled with a new invite
        tablet = Identity(ada.user_id, "Ada", "member", SigningKey.generate(), origin_of(client))
        assert (await enroll(client, tablet, new_invite(services, ada.user_id), "tablet")).status_code == 200
    assert tablet.device_id != ada.device_id
    token = await start(server, ada)
    async with StreamClient.connect(server, token, ada) as tv:
        await tv.receive(frames=5)
        async with StreamClient.connect(server, token, tablet) as pad:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await tv.receive(until="never")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_MOVED
            assert "other device" in tv.control_of("moved")[0]["message"]
            await pad.receive(frames=5)
            assert pad.control_of("welcome")[0]["ports"] == [0, 1]
            await pad.press(0, A)
            await until_strip(pad, lambda s: s[1] == A)
    handed = [e for e in events(services, token) if e["kind"] == "handed_off"]
    assert [(e["from_device"], e["to_device"]) for e in handed] == [(ada.device_id, tablet.device_id)]


@pytest.mark.slow
async def test_chat_is_limited_delivered_to_everyone_and_kept(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    token = await start(server, ada)
    async with StreamClient.connect(server, token, ada) as host, StreamClient.connect(server, token, bob) as guest:
        await guest.receive(frames=2)
        await guest.command("chat", text="x" * (CHAT_MAX_CHARS + 1))
        await guest.receive(until="error")
        assert "at most" in guest.control_of("error")[-1]["message"]
        for n in range(CHAT_BURST + 1):
            await guest.command("chat", text=f"hello {n}")
        async with asyncio.timeout(20):
            while not [e for e in guest.control_of("error") if e["code"] == "RateLimited"]:
                await guest.receive(frames=1)
            while len(host.control_of("chat")) < CHAT_BURST:
                await host.receive(frames=1)
        assert [c["text"] for c in host.control_of("chat")] == [f"hello {n}" for n in range(CHAT_BURST)]
        assert host.control_of("chat")[0]["name"] == "Bob"
    async with StreamClient.connect(server, token, ada) as late:
        await late.receive(until="welcome")
        assert [c["text"] for c in late.control_of("welcome")[0]["chat"]][-1] == f"hello {CHAT_BURST - 1}"
    kept = [e["text"] for e in events(services, token) if e["kind"] == "chat"]
    assert kept == [f"hello {n}" for n in range(CHAT_BURST)]


@pytest.mark.slow
async def test_idle_players_lose_ports_and_idle_spectators_are_closed(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    kim = await person(server, services, "Kim")
    token = await start(server, ada)
    play = server.manager.get(token)
    async with StreamClient.connect(server, token, ada) as host, StreamClient.connect(server, token, bob) as guest, \
            StreamClient.connect(server, token, kim) as watcher:
        await watcher.receive(frames=2)
        await host.command("assign_port", port=1, user_id=bob.user_id)
        await guest.receive(until="ports")
        now = time.monotonic()
        for viewer in play.viewers.values():  # as if Bob and Kim had done nothing for a long time
            if viewer.user_id == kim.user_id:
                viewer.last_active = now - SPECTATOR_IDLE_S - 1
        play.last_input[bob.user_id] = now - PLAYER_IDLE_S - 1
        await server.run(server.manager.housekeep_once(now))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await watcher.receive(until="never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_IDLE
        assert play.ports.holders == [ada.user_id, None]  # Bob's port freed; Ada's own never are
        async with asyncio.timeout(10):
            while guest.control_of("ports")[-1]["ports"] != []:
                await guest.receive(frames=1)
        await host.receive(frames=1)
    reasons = [e.get("reason") for e in events(services, token) if e["kind"] == "port_changed"]
    assert reasons == ["assigned", "idle"]


@pytest.mark.slow
async def test_a_viewer_without_444_switches_the_session_to_420_and_encode_times_reach_metrics(
        server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    token = await start(server, ada)
    play = server.manager.get(token)
    async with StreamClient.connect(server, token, ada) as host:
        await host.receive(frames=10)
        async with StreamClient.connect(server, token, bob, chroma444=False) as guest:
            await guest.receive(frames=30)
            assert not guest.control_of("error")  # no "cannot decode" error: the stream changed instead
            assert guest.control_of("video_config")[-1]["chroma"] == "420"
            assert guest.frames[0].rgb.shape[:2] == (480, 512)  # 2x nearest neighbour before 4:2:0
            async with asyncio.timeout(30):  # the host may still be reading frames sent before the switch
                while not [c for c in host.control_of("video_config") if c["chroma"] == "420"]:
                    await host.receive(frames=1)
            assert play.chroma == "420"
            assert host.frames[-1].rgb.shape[:2] == (480, 512)
        async with asyncio.timeout(10):  # while someone watches: a game nobody watches is paused
            while play.metrics.encode_ms._sum.get() == 0:  # encoder_stats come about once a second
                await host.receive(frames=1)
    async with server.client() as client:
        metrics = (await client.get("/metrics")).text
    assert f'treazr_play_encode_ms_count{{session="{play.info.id}"}}' in metrics
