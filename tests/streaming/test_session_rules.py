"""The rules of the people in a play session, asked of the session itself (a real demo-core worker, no
server, no database): each rule changes the session at once and returns the history rows it made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.streaming.test_viewers import HeldSocket, settle
from treazr.auth.sessions import AuthUser
from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import NotFound, PermissionDenied, RateLimited
from treazr.paths import native_dir
from treazr.streaming.metrics import StreamMetrics
from treazr.streaming.protocol import CLOSE_ENDED, CLOSE_MOVED
from treazr.streaming.sessions import HEARTBEAT_TIMEOUT_S, PlayEvent, PlaySession, SessionInfo
from treazr.streaming.together import CHAT_BURST, PORT_GRACE_S
from treazr.streaming.viewers import Viewer

ADA = AuthUser(user_id=1, name="Ada", role="member", device_id=11, session_id=101)
BOB = AuthUser(user_id=2, name="Bob", role="member", device_id=21, session_id=201)
ADMIN = AuthUser(user_id=3, name="Cy", role="admin", device_id=31, session_id=301)


@pytest.fixture
async def play(tmp_path: Path) -> AsyncIterator[PlaySession]:
    core = native_dir() / "treazr_demo_libretro.so"
    assert core.is_file(), "the demo core is not built: run bash emulator_cores/build.sh"
    worker = await WorkerHandle.start(WorkerSpec(core_path=str(core), content_path=None, system_dir=str(tmp_path)))
    info = SessionInfo(id=1, token="t", owner_id=ADA.user_id, owner_name=ADA.name, game_id=0, title="Treazr Demo",
                       platform="demo", core="treazr_demo", ports=2, started_from="new")
    session = PlaySession(info, worker, StreamMetrics(CollectorRegistry()).for_session("1"))
    session.start()
    try:
        yield session
    finally:
        await session.stop("test over")


def viewer_of(session: PlaySession, user: AuthUser, device_id: int | None = None) -> tuple[Viewer, HeldSocket]:
    socket = HeldSocket()
    viewer = Viewer(user_id=user.user_id, user_name=user.name, device_id=device_id or user.device_id,
                    sign_in_session=user.session_id, socket=socket, metrics=session.metrics, role=user.role)
    return viewer, socket


def kinds(events: list[PlayEvent]) -> list[str]:
    return [event.kind for event in events]


async def test_joining_from_a_second_device_hands_the_game_over_and_says_so(play: PlaySession) -> None:
    phone, phone_socket = viewer_of(play, ADA, device_id=12)
    assert kinds(play.join(phone)) == ["joined"] and phone.ports == [0, 1]  # the owner starts with every port
    tv, _ = viewer_of(play, ADA, device_id=13)
    events = play.join(tv)
    assert kinds(events) == ["joined", "left", "handed_off"]
    assert events[2].detail == {"from_device": 12, "to_device": 13, "ports": [0, 1]}
    assert list(play.viewers) == [tv.id] and phone.closed
    await settle()
    assert phone_socket.closed == (CLOSE_MOVED, "the game moved to another device")
    assert '"moved"' in " ".join(item for item in phone_socket.sent if isinstance(item, str))
    assert play.leave(phone) == []  # its handler's own leave() afterwards logs nothing twice


async def test_ports_chat_and_who_may_run_the_game(play: PlaySession) -> None:
    ada, _ = viewer_of(play, ADA)
    bob, _ = viewer_of(play, BOB)
    play.join(ada)
    play.join(bob)
    assert play.may_control(ADA) and play.may_control(ADMIN) and not play.may_control(BOB)
    assert play.may_control(ada) and not play.may_control(bob)  # a viewer is asked the same way

    with pytest.raises(NotFound):
        play.assign_port(ADA, 1, 99)  # nobody of that id joined
    [changed] = play.assign_port(ADA, 1, BOB.user_id)
    assert (changed.kind, changed.user_id, changed.detail) == (
        "port_changed", ADA.user_id, {"port": 1, "before": ADA.user_id, "after": BOB.user_id, "reason": "assigned"})
    assert bob.ports == [1] and ada.ports == [0]
    with pytest.raises(PermissionDenied):
        play.free_port(BOB, 0)  # not Bob's port
    assert kinds(play.free_port(BOB, 1)) == ["port_changed"] and bob.ports == []

    said = [play.chat_message(BOB, f"hello {n}") for n in range(CHAT_BURST)]
    assert [event.detail["text"] for event in said] == [f"hello {n}" for n in range(CHAT_BURST)]
    with pytest.raises(RateLimited):
        play.chat_message(BOB, "one too many")
    assert [entry["text"] for entry in play.chat.history] == [f"hello {n}" for n in range(CHAT_BURST)]


async def test_quiet_viewers_leave_and_an_absent_players_port_is_freed_after_the_grace(play: PlaySession) -> None:
    ada, ada_socket = viewer_of(play, ADA)
    bob, _ = viewer_of(play, BOB)
    play.join(ada)
    play.join(bob)
    play.assign_port(ADA, 1, BOB.user_id)
    assert play.shared() and not play.forgotten(bob.last_heard)

    later = bob.last_heard + HEARTBEAT_TIMEOUT_S + 1
    ada.last_heard = later  # Ada keeps pinging; Bob went quiet
    events = play.sweep_viewers(later)
    assert kinds(events) == ["left"] and events[0].user_id == BOB.user_id and list(play.viewers) == [ada.id]
    assert play.ports.holders == [ADA.user_id, BOB.user_id]  # kept for a while: a reload, a new device

    ada.last_heard = later + PORT_GRACE_S + 1
    [freed] = play.sweep_viewers(later + PORT_GRACE_S + 1)
    assert freed.kind == "port_changed" and freed.user_id is None
    assert freed.detail == {"port": 1, "before": BOB.user_id, "after": None, "reason": "away"}
    assert play.ports.holders == [ADA.user_id, None]

    gone = play.close_viewers("ended by Ada")
    assert kinds(gone) == ["left"] and gone[0].detail["viewer"] == ada.id and not play.viewers
    await settle()
    assert ada_socket.closed == (CLOSE_ENDED, "ended by Ada")
