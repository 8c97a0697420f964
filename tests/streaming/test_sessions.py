"""Play sessions end to end in Python: real app under uvicorn, real worker and cores, PyAV decoding."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import websockets

from tests.streaming.client import PlayServer, StreamClient, core_frames, play_server, psnr, refusal_code
from tests.support.identity import Identity, sign_up
from treazr.emulation.demo_strip import decode_strip
from treazr.emulation.headless import find_core
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.streaming.protocol import CLOSE_FULL, CLOSE_NOT_FOUND, CLOSE_RELOAD, CLOSE_REVOKED
from treazr.web.app import create_app

A_BUTTON = 1 << 8


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


async def start(server: PlayServer, who: Identity, game_id: int = 0, **fields: object) -> dict[str, object]:
    async with server.client() as client:
        response = await client.post("/api/play/sessions", json={"game_id": game_id, **fields}, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    session: dict[str, object] = response.json()["session"]
    return session


async def person(server: PlayServer, services: Services, name: str, role: str = "member") -> Identity:
    async with server.client() as client:
        return await sign_up(client, services, name, role)


@pytest.mark.slow
async def test_demo_stream_decodes_to_the_cores_own_frames_and_input_shows(
        server: PlayServer, services: Services, tmp_path: Path) -> None:
    ada = await person(server, services, "Ada")
    session = await start(server, ada)
    async with StreamClient.connect(server, str(session["token"]), ada) as viewer:
        await viewer.receive(frames=90)
        welcome = viewer.control_of("welcome")[0]
        assert welcome["ports"] == [0, 1] and welcome["protocol"] == 1
        config = ([welcome["video"]] if welcome["video"] else []) + viewer.control_of("video_config")
        assert config[-1]["chroma"] == "444" and config[-1]["codec"].startswith("avc1.F4")
        assert viewer.frames[0].key  # a decoder starts at an IDR
        frame_numbers = [f.frame_no for f in viewer.frames]
        assert frame_numbers == list(range(frame_numbers[0], frame_numbers[0] + len(frame_numbers)))
        reference = core_frames(find_core("demo"), None, frame_numbers[-1], tmp_path / "ref")
        scores = [psnr(f.rgb, reference[f.frame_no - 1]) for f in viewer.frames[-60:]]
        assert min(scores) >= 35 and float(np.median(scores)) >= 40, scores
        # the core's own frame counter (its marker strip) advances in step with the stream's frame numbers
        assert len({decode_strip(f.rgb)[0] - f.frame_no for f in viewer.frames[-60:]}) == 1
        assert viewer.audio_samples > 48000 * 0.5  # Opus decoded at 48 kHz, about 1.5 s of it

        shown = await viewer.shown(await viewer.press(0, A_BUTTON))  # the acknowledged frame shows it
        assert decode_strip(shown.rgb)[1] == A_BUTTON
        assert decode_strip(viewer.frames[-1].rgb)[1] == A_BUTTON

        # an analog stick: the demo core moves the left paddle 4 px a frame with the left stick fully down
        tilted = await viewer.shown(await viewer.press(0, 0, (0, 32767)))
        await viewer.receive(frames=8)
        later = next(f for f in viewer.frames if f.frame_no == tilted.frame_no + 8)
        assert _paddle_top(later.rgb) - _paddle_top(tilted.rgb) == 32
    async with server.client() as client:
        metrics = (await client.get("/metrics")).text
    session_id = session["id"]
    for family in ("treazr_play_frames_total", "treazr_play_bytes_sent_total", "treazr_play_fps",
                   "treazr_play_input_latency_ms_count", "treazr_play_viewers"):
        assert f'{family}{{session="{session_id}"}}' in metrics, family


def _paddle_top(rgb: np.ndarray) -> int:
    """The top row of the demo core's left paddle (F0C040 at x = 8..11) in a decoded frame."""
    distance = np.abs(rgb[:, 9].astype(int) - (0xF0, 0xC0, 0x40)).max(axis=1)
    return int(np.flatnonzero(distance < 48)[0])


@pytest.fixture
async def narrow_server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services), send_buffer=16384) as running:
        yield running


@pytest.mark.slow
async def test_malformed_flood_and_a_stalled_viewer_harm_nobody(narrow_server: PlayServer, services: Services) -> None:
    server = narrow_server
    ada = await person(server, services, "Ada")
    session = await start(server, ada)
    token = str(session["token"])
    play = server.manager.get(token)
    stalled = await _stalled_viewer(server, ada, token)
    try:
        async with StreamClient.connect(server, token, ada) as healthy, \
                StreamClient.connect(server, token, ada) as flooder:
            await healthy.receive(frames=30)
            junk: list[str | bytes] = [b"", b"\x10", b"\x10\x00\x09\x00" + b"\x00" * 6, b"\x63" * 40, "{", "[]",
                                       '{"type": 3}', '{"type": "warp"}', '{"type": "ping"}',
                                       '{"type": "save_state", "slot": 99}', "x" * 5000, b"\x10" + b"\xff" * 9]
            for round_ in range(100):
                for message in junk:
                    await flooder.socket.send(message)
                if round_ % 10 == 0:
                    await healthy.receive(frames=1)
            await healthy.receive(frames=120)
            frame_numbers = [f.frame_no for f in healthy.frames]
            assert frame_numbers == list(range(frame_numbers[0], frame_numbers[0] + len(frame_numbers)))
            flood = next(v for v in play.viewers.values() if v.counters.malformed)
            assert flood.counters.malformed == 100 * len(junk)
            # the stalled viewer skipped frames instead of holding anyone back
            async with asyncio.timeout(60):
                while not any(v.counters.frames_dropped > 5 for v in play.viewers.values() if v is not flood):
                    await healthy.receive(frames=30)
            await flooder.command("ping", t=1)
            await flooder.receive(until="pong")
            assert len(play.viewers) == 3 and not play.ended.is_set()
    finally:
        stalled.transport.abort()


async def _stalled_viewer(server: PlayServer, who: Identity, token: str) -> websockets.ClientConnection:
    """A WebSocket client that says hello and then never reads (a tiny receive buffer fills fast)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    raw.setblocking(False)
    connection = await websockets.connect(f"{server.ws_url}/api/play/sessions/{token}/ws", sock=raw,
                                          additional_headers=who.headers)
    await connection.send(json.dumps({"type": "hello", "protocol": 1, "chroma444": True}))
    # Stop reading: detach the transport so nothing drains the socket any more.
    connection.transport.pause_reading()
    return connection


async def test_other_protocol_versions_are_told_to_reload(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    session = await start(server, ada)
    async with StreamClient.connect(server, str(session["token"]), ada, protocol=99) as viewer:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await viewer.receive(until="never")
        assert viewer.control_of("error")[0]["reload"] is True
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_RELOAD


async def test_others_may_watch_but_only_the_owner_or_an_admin_ends_a_session(server: PlayServer,
                                                                              services: Services) -> None:
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    admin = await person(server, services, "Root", "admin")
    session = await start(server, ada)
    token = str(session["token"])
    async with server.client() as client:
        seen = await client.get(f"/api/play/sessions/{token}", headers=bob.headers)
        assert seen.status_code == 200 and seen.json()["session"]["may_control"] is False
        assert (await client.post(f"/api/play/sessions/{token}/end", headers=bob.headers)).status_code == 403
        assert (await client.get(f"/api/play/sessions/{token}")).status_code == 401
        assert (await client.get("/api/play/sessions/nosuchtoken", headers=bob.headers)).status_code == 404
        listed = (await client.get("/api/play/sessions", headers=admin.headers)).json()["sessions"]
        assert [(s["token"], s["may_control"]) for s in listed] == [(token, True)]
        bad = await client.post("/api/play/sessions", json={"game_id": "zero"}, headers=ada.headers)
        assert bad.status_code == 400 and "game_id" in bad.json()["error"]
        missing = await client.post("/api/play/sessions", json={"game_id": 4242}, headers=ada.headers)
        assert missing.status_code == 404
    async with StreamClient.connect(server, token, bob) as spectator:
        await spectator.receive(frames=1)
        assert spectator.control_of("welcome")[0]["ports"] == []
    async with server.client() as client:
        ended = await client.post(f"/api/play/sessions/{token}/end", headers=admin.headers)
        assert ended.status_code == 200


@pytest.mark.slow
async def test_children_play_only_granted_games(server: PlayServer, services: Services, roms: Path) -> None:
    report = import_paths(services, [roms / "nes" / "test_buttons.nes"])
    assert report.added == 1
    game_id = int(services.db.query_one("SELECT id FROM games")["id"])  # type: ignore[index]
    kid = await person(server, services, "Kid", "child")
    async with server.client() as client:
        refused = await client.post("/api/play/sessions", json={"game_id": game_id}, headers=kid.headers)
        assert refused.status_code == 404
        assert (await client.get(f"/play/game/{game_id}", headers=kid.headers)).status_code == 404
    from treazr.auth.grants import set_grants

    services.db.write(lambda conn: set_grants(conn, kid.user_id, ["nes"], []))
    session = await start(server, kid, game_id)
    assert session["platform"] == "nes" and session["started_from"] == "new"
    async with StreamClient.connect(server, str(session["token"]), kid) as viewer:
        await viewer.receive(frames=30)
        assert viewer.frames[-1].rgb.shape in ((240, 256, 3), (224, 256, 3))  # nestopia crops overscan
    services.db.write(lambda conn: set_grants(conn, kid.user_id, [], []))  # the admin takes the grant back
    async with server.client() as client:
        assert (await client.get(f"/api/play/sessions/{session['token']}", headers=kid.headers)).status_code == 404
    assert await refusal_code(server, str(session["token"]), kid) == CLOSE_NOT_FOUND


@pytest.mark.slow
async def test_reload_rejoins_end_writes_continue_and_history(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    first = await start(server, ada)
    again = await start(server, ada)
    assert again["token"] == first["token"]
    token = str(first["token"])
    async with StreamClient.connect(server, token, ada) as viewer:
        await viewer.receive(frames=20)
    async with StreamClient.connect(server, token, ada) as viewer:  # the page reloaded
        await viewer.receive(frames=20)
        assert viewer.frames[0].key
        await viewer.command("save_state", slot=3)
        await viewer.receive(until="saved")
        await viewer.command("end")
        with pytest.raises(websockets.ConnectionClosed):
            await viewer.receive(until="never")
        assert viewer.control_of("ended")
    play_id = int(first["id"])  # type: ignore[call-overload]
    async with asyncio.timeout(30):  # the socket closes before the session's last rows are written
        while services.db.query_one("SELECT 1 AS done FROM play_sessions WHERE id = ? AND ended_at IS NOT NULL",
                                    (play_id,)) is None:
            await asyncio.sleep(0.05)
    rows = services.db.query("SELECT kind, detail FROM play_events WHERE session_id = ? ORDER BY id", (play_id,))
    points = [row for row in rows if "save point" in json.loads(row["detail"]).get("reason", "")]
    kinds = [row["kind"] for row in rows if row not in points]
    assert kinds == ["started", "joined", "left", "joined", "state_saved", "state_saved", "left", "ended"]
    # the first page's leaving made a save point (written while the second page joined, so its row's place
    # among theirs is a matter of timing); the second's leaving came with the end, which wrote Continue itself
    assert [json.loads(row["detail"]) for row in points] == [{"slot": 0, "reason": "save point: a player left"}]
    slots = {row["slot"] for row in services.db.query("SELECT slot FROM save_states WHERE user_id = ?",
                                                     (ada.user_id,))}
    assert slots == {0, 3}  # slot 3 by request, 0 = Continue written at the end
    resumed = await start(server, ada)
    assert resumed["token"] != token and resumed["started_from"] == "continue"
    async with server.client() as client:
        busy = await client.post("/api/play/sessions", json={"game_id": 0, "slot": 3}, headers=ada.headers)
        assert busy.status_code == 409  # running already: load the state in the player instead
        assert (await client.post(f"/api/play/sessions/{resumed['token']}/end", headers=ada.headers)).status_code == 200
        empty = await client.post("/api/play/sessions", json={"game_id": 0, "slot": 7}, headers=ada.headers)
        assert empty.status_code == 404 and "slot 7" in empty.json()["error"]
    from_slot = await start(server, ada, slot=3)
    assert from_slot["started_from"] == "slot 3"
    with pytest.raises(Exception, match="append-only"):
        services.db.execute("DELETE FROM play_events")


@pytest.mark.slow
async def test_idle_sessions_end_and_revoked_sign_ins_close_at_once(server: PlayServer, services: Services) -> None:
    ada = await person(server, services, "Ada")
    session = await start(server, ada)
    token = str(session["token"])
    play = server.manager.get(token)
    async with StreamClient.connect(server, token, ada) as viewer:
        await viewer.receive(frames=5)
        sign_in = next(iter(play.viewers.values())).sign_in_session
        services.revocations.publish({sign_in})  # from another thread, as auth's writer may
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await viewer.receive(until="never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_REVOKED
    async with asyncio.timeout(10):
        while play.viewers:
            await asyncio.sleep(0.05)
    assert play.no_viewer_since is not None
    await server.run(server.manager.housekeep_once(play.no_viewer_since + 1))
    assert token in server.manager.sessions  # not idle long enough yet
    idle_s = services.settings.emulation.idle_timeout_min * 60
    # a second past the limit: (t + idle_s) - t can round to just under idle_s for some monotonic t
    await server.run(server.manager.housekeep_once(play.no_viewer_since + idle_s + 1))
    assert token not in server.manager.sessions
    reason = services.db.query_one("SELECT end_reason FROM play_sessions WHERE token = ?", (token,))
    assert reason == {"end_reason": "nobody was watching"}
    assert services.db.query_one("SELECT slot FROM save_states WHERE slot = 0") is not None


@pytest.mark.slow
async def test_one_person_runs_two_games_at_most_and_is_offered_their_oldest_to_end(
        server: PlayServer, services: Services, roms: Path) -> None:
    report = import_paths(services, [roms / "nes" / "test_buttons.nes", roms / "nes" / "nestest.nes"])
    assert report.added == 2, report.as_json()
    first_rom, second_rom = (int(row["id"]) for row in services.db.query("SELECT id FROM games ORDER BY id"))
    assert services.settings.emulation.max_sessions_per_user == 2
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    oldest = await start(server, ada)  # the demo
    await start(server, ada, first_rom)
    async with server.client() as client:
        refused = await client.post("/api/play/sessions", json={"game_id": second_rom}, headers=ada.headers)
        assert refused.status_code == 409, refused.text
        assert "2 games running" in refused.json()["error"] and "Treazr Demo" in refused.json()["error"]
        assert refused.json()["oldest_session"] == {"token": oldest["token"], "title": oldest["title"]}
        assert len(server.manager.sessions) == 2  # nothing was started for the refused one
        rejoined = await client.post("/api/play/sessions", json={"game_id": first_rom}, headers=ada.headers)
        assert rejoined.status_code == 201 and rejoined.json()["created"] is False  # a running game still opens
    assert (await start(server, bob, second_rom))["platform"] == "nes"  # Ada's share is hers alone
    async with server.client() as client:
        ended = await client.post(f"/api/play/sessions/{oldest['token']}/end", headers=ada.headers)
        assert ended.status_code == 200
    assert (await start(server, ada, second_rom))["started_from"] == "new"


@pytest.mark.slow
async def test_rights_follow_a_role_change_or_a_grant_taken_back_on_open_sockets(
        server: PlayServer, services: Services, roms: Path) -> None:
    from treazr.auth.grants import set_grants
    from treazr.auth.users import set_role

    report = import_paths(services, [roms / "nes" / "test_buttons.nes"])
    assert report.added == 1
    game_id = int(services.db.query_one("SELECT id FROM games")["id"])  # type: ignore[index]
    ada = await person(server, services, "Ada")
    root = await person(server, services, "Root", "admin")
    boss = await person(server, services, "Boss", "admin")
    kid = await person(server, services, "Kid", "child")
    services.db.write(lambda conn: set_grants(conn, kid.user_id, ["nes"], []))
    session = await start(server, ada, game_id)
    token = str(session["token"])
    async with StreamClient.connect(server, token, root) as admin_view, \
            StreamClient.connect(server, token, kid) as kid_view:
        await admin_view.receive(frames=5)
        await kid_view.receive(frames=5)
        assert admin_view.control_of("welcome")[0]["control"] is True
        async with server.client() as client:
            demoted = await client.put(f"/api/admin/users/{root.user_id}/role", json={"role": "member"},
                                       headers=boss.headers)
            assert demoted.status_code == 200, demoted.text
            await admin_view.receive(until="rights", timeout=5)  # at once, not at the next housekeeping
            assert admin_view.control_of("rights")[0]["control"] is False
            await admin_view.command("pause")
            await admin_view.receive(until="error")
            assert "only the player who started" in admin_view.control_of("error")[0]["message"].lower()
            assert not server.manager.get(token).paused
            taken = await client.put(f"/api/admin/users/{kid.user_id}/grants", json={"platforms": []},
                                     headers=boss.headers)
            assert taken.status_code == 200, taken.text
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await kid_view.receive(until="never", timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_NOT_FOUND
        assert kid_view.control_of("error")[-1]["message"] == "You may no longer see this game."
        # a change made in a terminal (``treazr users role``) is caught by the manager's own checks
        before = len(admin_view.control_of("rights"))
        services.db.write(lambda conn: set_role(conn, root.user_id, "admin"))
        async with asyncio.timeout(10):
            while len(admin_view.control_of("rights")) == before:
                await admin_view.receive(frames=1)
        assert admin_view.control_of("rights")[-1]["control"] is True
        await admin_view.command("pause")
        async with asyncio.timeout(10):
            while not server.manager.get(token).paused:
                await asyncio.sleep(0.05)


async def test_viewers_per_game_and_per_person_are_capped_with_a_clear_refusal(
        server: PlayServer, services: Services) -> None:
    services.settings.streaming.max_viewers_per_session = 2
    services.settings.streaming.max_viewers_per_user = 3
    ada = await person(server, services, "Ada")
    bob = await person(server, services, "Bob")
    cy = await person(server, services, "Cy")
    token = str((await start(server, ada))["token"])

    async def refused(who: Identity) -> tuple[int | None, str]:
        async with StreamClient.connect(server, token, who) as viewer:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await viewer.receive(until="never", timeout=10)
            assert not viewer.frames
            return (closed.value.rcvd.code if closed.value.rcvd else None), viewer.control_of("error")[0]["message"]

    async with StreamClient.connect(server, token, ada) as first, StreamClient.connect(server, token, bob) as second:
        await first.receive(frames=2)
        await second.receive(frames=2)
        assert await refused(cy) == (CLOSE_FULL, "2 people are watching this game already, the most it allows; "
                                                 "try again later.")
        async with StreamClient.connect(server, token, ada) as own_tab, \
                StreamClient.connect(server, token, ada) as another:  # the owner always gets in
            await own_tab.receive(frames=2)
            await another.receive(frames=2)
            code, message = await refused(ada)
            assert code == CLOSE_FULL and "3 games open already" in message
            await first.receive(frames=2)  # those already watching are untouched
    async with StreamClient.connect(server, token, cy) as later:  # room again once people left
        await later.receive(frames=2)
