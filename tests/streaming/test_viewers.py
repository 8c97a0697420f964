"""A viewer's bounded queue and input sequence, with a socket whose sending the test controls.

The socket is a stand-in passed in (the WebSocket itself is covered by test_sessions.py): it lets
the test hold a viewer's sends, which is how a stalled network looks from the server.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from treazr.streaming.metrics import StreamMetrics
from treazr.streaming.protocol import CLOSE_BEHIND, InputMessage, pack_audio, pack_video
from treazr.streaming.viewers import MAX_AUDIO_QUEUED, MAX_CONTROL_QUEUED, MAX_VIDEO_QUEUED, Viewer


class HeldSocket:
    """Records what is sent; while ``gate`` is clear, every send waits (a full TCP window)."""

    def __init__(self) -> None:
        self.sent: list[bytes | str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed: tuple[int, str] | None = None

    async def send_bytes(self, data: bytes) -> None:
        await self.gate.wait()
        self.sent.append(data)

    async def send_text(self, data: str) -> None:
        await self.gate.wait()
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def make_viewer(socket: HeldSocket, ports: list[int] | None = None) -> Viewer:
    metrics = StreamMetrics(CollectorRegistry()).for_session("1")
    return Viewer(user_id=1, user_name="Ada", device_id=1, sign_in_session=1, socket=socket, metrics=metrics,
                  ports=[0, 1] if ports is None else ports)


def frame_numbers(sent: list[bytes | str]) -> list[int]:
    return [int.from_bytes(item[4:8], "big") for item in sent if isinstance(item, bytes) and item[0] == 1]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_stalled_viewer_skips_to_the_next_idr_instead_of_lagging() -> None:
    socket = HeldSocket()
    viewer = make_viewer(socket)
    viewer.start()
    assert viewer.push_video(pack_video(1, 0, False, b"p"), key=False)  # before any IDR: dropped quietly
    assert viewer.push_video(pack_video(2, 0, True, b"i"), key=True)
    await settle()
    assert frame_numbers(socket.sent) == [2]
    socket.gate.clear()  # the network stalls
    accepted = [viewer.push_video(pack_video(n, 0, False, b"p"), key=False) for n in range(3, 3 + MAX_VIDEO_QUEUED + 2)]
    assert accepted.count(False) == 1 and viewer.needs_key
    for n in range(20, 25):  # more P-frames: useless without the IDR they depend on
        viewer.push_video(pack_video(n, 0, False, b"p"), key=False)
    viewer.push_audio(pack_audio(0, 10_000, b"a"))  # no sound while the picture is frozen
    assert viewer.push_video(pack_video(30, 0, True, b"i"), key=True)
    viewer.push_video(pack_video(31, 0, False, b"p"), key=False)
    socket.gate.set()
    await settle()
    sent = frame_numbers(socket.sent)
    # One frame may have been in flight when the stall began; after it, the viewer jumps to the IDR.
    assert sent[:1] == [2] and sent[-2:] == [30, 31] and set(sent) <= {2, 3, 30, 31}
    assert viewer.counters.frames_dropped >= MAX_VIDEO_QUEUED + 5
    viewer.close()
    await settle()


async def test_audio_queue_is_bounded_and_close_flushes_controls_only() -> None:
    socket = HeldSocket()
    viewer = make_viewer(socket)
    viewer.push_video(pack_video(1, 0, True, b"i"), key=True)
    socket.gate.clear()
    viewer.start()
    for n in range(MAX_AUDIO_QUEUED * 3):
        viewer.push_audio(pack_audio(n, 10_000, b"a"))
    queued_audio = sum(1 for item in viewer._queue if isinstance(item, bytes) and item[0] == 2)
    assert queued_audio <= MAX_AUDIO_QUEUED
    viewer.push_control('{"type":"ended"}')
    viewer.close(4001, "the game ended")
    socket.gate.set()
    await settle()
    assert socket.sent[-1] == '{"type":"ended"}' and socket.closed == (4001, "the game ended")
    assert viewer.task is not None and viewer.task.done()


def test_input_is_idempotent_and_port_checked() -> None:
    viewer = make_viewer(HeldSocket(), ports=[1])
    assert viewer.check_input(InputMessage(port=1, seq=5, buttons=1, axes=())).accepted
    assert viewer.check_input(InputMessage(port=1, seq=5, buttons=1, axes=())).reason == "duplicate"
    assert viewer.check_input(InputMessage(port=1, seq=4, buttons=0, axes=())).reason == "stale"
    assert viewer.check_input(InputMessage(port=1, seq=9, buttons=0, axes=())).accepted
    assert viewer.counters.input_gaps == 3
    assert viewer.check_input(InputMessage(port=0, seq=10, buttons=0, axes=())).reason == "port"
    assert (viewer.counters.inputs, viewer.counters.inputs_dropped) == (2, 3)


async def test_a_viewer_that_stops_reading_control_messages_is_closed_not_grown() -> None:
    socket = HeldSocket()
    viewer = make_viewer(socket)
    viewer.start()
    socket.gate.clear()  # the tab froze: nothing it is sent goes anywhere
    pushed = 0
    while not viewer.closed and pushed < 10 * MAX_CONTROL_QUEUED:
        pushed += 1
        if pushed % 50 == 0:
            viewer.push_control_bytes(b"\x03" + bytes(15))  # input acknowledgements count too
        else:
            viewer.push_control(f'{{"type": "chat", "text": "{pushed}"}}')
    assert viewer.counters.closed_behind and pushed == MAX_CONTROL_QUEUED + 1
    socket.gate.set()
    await settle()
    assert socket.closed == (CLOSE_BEHIND, "too far behind")
    assert len(socket.sent) <= 1  # at most the one send already under way when the tab froze


async def test_a_reading_viewer_gets_every_control_message_however_many() -> None:
    socket = HeldSocket()
    viewer = make_viewer(socket)
    viewer.start()
    for n in range(3 * MAX_CONTROL_QUEUED):
        viewer.push_control(f'{{"n": {n}}}')
        if n % 100 == 0:
            await settle()
    await settle()
    assert not viewer.closed and len(socket.sent) == 3 * MAX_CONTROL_QUEUED
