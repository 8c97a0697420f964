"""One viewer of a play session: its WebSocket, its outgoing queue, its input sequence.

A viewer never slows anything but itself. The session pushes packets into the viewer's bounded
queue without waiting; the viewer's own sender task drains it into the socket. When a viewer falls
more than :data:`MAX_VIDEO_QUEUED` frames behind, its queued video is thrown away and it waits for
the next IDR (which the session asks the worker for): the viewer skips to the newest picture instead
of watching an ever older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from treazr.streaming.metrics import SessionMetrics
from treazr.streaming.protocol import CLOSE_BEHIND, InputMessage

__all__ = ["MAX_AUDIO_QUEUED", "MAX_CONTROL_QUEUED", "MAX_VIDEO_QUEUED", "InputVerdict", "Viewer", "ViewerSocket"]

MAX_VIDEO_QUEUED = 4  # frames: 67 ms at 60 fps
MAX_CONTROL_QUEUED = 256  # JSON messages: a viewer this far behind is closed, and its page reconnects
MAX_AUDIO_QUEUED = 20  # packets: 200 ms of 10 ms Opus

log = logging.getLogger("treazr.play")

_ids = itertools.count(1)


class ViewerSocket(Protocol):
    """What a viewer needs from its WebSocket (the route adapts Litestar's)."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class InputVerdict:
    accepted: bool
    reason: str = ""  # "duplicate", "stale", "port" when not accepted


@dataclass
class ViewerCounters:
    frames_sent: int = 0
    frames_dropped: int = 0
    bytes_sent: int = 0
    inputs: int = 0
    inputs_dropped: int = 0
    input_gaps: int = 0
    malformed: int = 0
    closed_behind: bool = False


@dataclass
class Viewer:
    user_id: int
    user_name: str
    device_id: int
    sign_in_session: int
    socket: ViewerSocket
    metrics: SessionMetrics
    role: str = "member"  # kept current by the manager: an admin's change reaches an open socket at once
    ports: list[int] = field(default_factory=list)
    chroma444: bool = True
    id: int = field(default_factory=lambda: next(_ids))
    joined_monotonic: float = field(default_factory=time.monotonic)
    last_heard: float = field(default_factory=time.monotonic)  # any message, pings included
    last_active: float = field(default_factory=time.monotonic)  # input, chat or a command: a person, not a page
    last_seq: int = -1
    needs_key: bool = True  # a decoder can start only at an IDR
    pending_ack: tuple[int, int, float] | None = None  # (input seq, frame it was sent after, monotonic)
    counters: ViewerCounters = field(default_factory=ViewerCounters)

    def __post_init__(self) -> None:
        self._queue: deque[bytes | str] = deque()
        self._video_queued = 0
        self._audio_queued = 0
        self._control_queued = 0
        self._wakeup = asyncio.Event()
        self._closed = False
        self._close_code: tuple[int, str] | None = None
        self.task: asyncio.Task[None] | None = None

    # -- outgoing ------------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.create_task(self._send_loop(), name=f"treazr-viewer-{self.id}")

    def push_control(self, text: str | bytes) -> None:
        """Queue a control message (JSON, or a small binary one such as an input acknowledgement)."""
        if self._closed:
            return
        self._control_queued += 1
        if self._control_queued > MAX_CONTROL_QUEUED:
            # it stopped reading (a frozen tab): rather than hold every chat and state change for it,
            # close it; the page reconnects and its welcome brings it up to date
            self.counters.closed_behind = True
            self._queue.clear()
            self._video_queued = self._audio_queued = self._control_queued = 0
            self.close(CLOSE_BEHIND, "too far behind")
            return
        self._queue.append(text)
        self._wakeup.set()

    def push_control_bytes(self, packet: bytes) -> None:
        """A small binary control message (an input acknowledgement): never dropped, bounded like JSON."""
        self.push_control(packet)

    def push_video(self, packet: bytes, key: bool) -> bool:
        """Queue one video message; False when the viewer is too far behind (it now waits for an IDR)."""
        if self._closed:
            return True
        if self.needs_key and not key:
            self.counters.frames_dropped += 1
            self.metrics.dropped_frames.inc()
            return True
        if self._video_queued >= MAX_VIDEO_QUEUED:
            self._drop_video()  # an IDR replaces everything queued before it
            if not key:
                return False
        self.needs_key = False
        self._queue.append(packet)
        self._video_queued += 1
        self._wakeup.set()
        return True

    def push_audio(self, packet: bytes) -> None:
        if self._closed or self.needs_key:
            return  # no sound before there is a picture
        if self._audio_queued >= MAX_AUDIO_QUEUED:
            for index, item in enumerate(self._queue):
                if isinstance(item, bytes) and item[0] == 2:
                    del self._queue[index]
                    self._audio_queued -= 1
                    break
        self._queue.append(packet)
        self._audio_queued += 1
        self._wakeup.set()

    def _drop_video(self) -> None:
        kept: deque[bytes | str] = deque()
        for item in self._queue:
            if isinstance(item, bytes) and item[0] == 1:
                self.counters.frames_dropped += 1
                self.metrics.dropped_frames.inc()
            else:
                kept.append(item)
        self._queue = kept
        self._video_queued = 0
        self.needs_key = True
        self.counters.frames_dropped += 1
        self.metrics.dropped_frames.inc()

    async def _send_loop(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closed:
                        break
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                item = self._queue.popleft()
                if isinstance(item, bytes):
                    if item[0] == 1:
                        self._video_queued -= 1
                        self.counters.frames_sent += 1
                    elif item[0] == 2:
                        self._audio_queued -= 1
                    else:
                        self._control_queued -= 1
                    await self.socket.send_bytes(item)
                else:
                    self._control_queued -= 1
                    await self.socket.send_text(item)
                self.counters.bytes_sent += len(item)
                self.metrics.bytes_sent.inc(len(item))
        except Exception as error:  # a broken socket ends only this viewer
            log.debug("viewer %s: sending failed: %r", self.id, error)
            self._closed = True
        if self._close_code is not None:
            with contextlib.suppress(Exception):
                await self.socket.close(*self._close_code)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send what is queued (control messages first matter most), then close the socket."""
        if self._closed:
            return
        self._closed = True
        self._close_code = (code, reason[:120])
        self._queue = deque(item for item in self._queue if isinstance(item, str))
        self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- incoming ------------------------------------------------------------------------------
    def check_input(self, message: InputMessage) -> InputVerdict:
        """Idempotent input: each message is a full port state, so duplicates and stale ones just drop."""
        self.last_heard = self.last_active = time.monotonic()
        if message.seq <= self.last_seq:
            return self._ignored("duplicate" if message.seq == self.last_seq else "stale")
        if self.last_seq >= 0 and message.seq > self.last_seq + 1:
            gap = message.seq - self.last_seq - 1
            self.counters.input_gaps += gap
            self.metrics.input_gaps.inc(gap)
        self.last_seq = message.seq
        if message.port not in self.ports:
            return self._ignored("port")
        self.counters.inputs += 1
        return InputVerdict(True)

    def _ignored(self, reason: str) -> InputVerdict:
        self.counters.inputs_dropped += 1
        self.metrics.inputs_ignored[reason].inc()
        return InputVerdict(False, reason)
