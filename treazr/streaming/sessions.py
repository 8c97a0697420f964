"""One running play session in the web process: its worker, its viewers, the fan-out between them.

The worker encodes; this side only reads the worker's packets and hands each one to every viewer's
bounded queue (:mod:`treazr.streaming.viewers`), so a slow viewer never slows the emulator or the
other viewers. It also applies input, tracks late frames (``degraded``), and answers commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from treazr.emulation.protocol import AudioPacket, Event, RawFrame, VideoPacket
from treazr.emulation.worker import WorkerHandle
from treazr.errors import TreazrError
from treazr.streaming.metrics import SessionMetrics
from treazr.streaming.protocol import control, pack_audio, pack_input_ack, pack_video
from treazr.streaming.together import ChatLimiter, PortChange, PortTable
from treazr.streaming.viewers import Viewer

__all__ = ["PlaySession", "SessionInfo"]

log = logging.getLogger("treazr.play")

KEYFRAME_RETRY_S = 0.5  # ask the worker again when an asked-for IDR has not come
DEGRADED_ON, DEGRADED_OFF = 0.05, 0.01  # share of late frames over one second
REBASE_AFTER_S = 0.25  # later than this is a stall (pause, load): restart the schedule, count one late frame


@dataclass
class SessionInfo:
    """What does not change during a session."""

    id: int
    token: str
    owner_id: int
    owner_name: str
    game_id: int
    title: str
    platform: str
    core: str
    ports: int
    started_from: str
    notice: str | None = None  # told to the player at start, e.g. why a saved state was not loaded
    started_at: float = field(default_factory=time.time)


class _Lateness:
    """Frames arriving more than one period after their slot on a schedule anchored at the first one."""

    def __init__(self, fps: float) -> None:
        self.period_us = 1_000_000 / fps
        self.origin_us: float | None = None
        self.window: deque[tuple[float, bool]] = deque()

    def rebase(self) -> None:
        self.origin_us = None

    def observe(self, pts_us: int, now: float) -> bool:
        arrival_us = now * 1_000_000
        if self.origin_us is None or arrival_us - pts_us < self.origin_us:
            self.origin_us = arrival_us - pts_us  # the earliest frame defines the schedule
        lateness = arrival_us - pts_us - self.origin_us
        late = lateness > self.period_us
        if lateness > REBASE_AFTER_S * 1_000_000:
            self.origin_us = arrival_us - pts_us
        self.window.append((now, late))
        while self.window and self.window[0][0] < now - 1.0:
            self.window.popleft()
        return late

    def ratio(self) -> float:
        return sum(1 for _, late in self.window if late) / len(self.window) if self.window else 0.0


class PlaySession:
    def __init__(self, info: SessionInfo, worker: WorkerHandle, metrics: SessionMetrics,
                 on_save_ram: Callable[[], Coroutine[Any, Any, object]] | None = None) -> None:
        self.info = info
        self._on_save_ram = on_save_ram  # records a battery save the worker wrote (run as a task)
        self._tasks: set[asyncio.Task[object]] = set()
        self.save_error: str | None = None  # why the last battery save failed, until one succeeds
        self.worker = worker
        self.metrics = metrics
        self.viewers: dict[int, Viewer] = {}
        self.video_config: dict[str, Any] | None = None
        self.paused = False  # the worker says it is paused (for either reason below)
        self.held = False  # the owner pressed Pause
        self.asleep = False  # nobody is watching, so the worker was paused to cost no CPU
        self.degraded = False
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.frame_no = 0
        self.frames_seen = 0
        self.late_frames = 0
        self.created = time.monotonic()
        self.no_viewer_since: float | None = self.created
        self.ever_watched = False
        fps = float(worker.av_info.get("fps") or 60.0)
        self._lateness = _Lateness(fps)
        self._fps_window: deque[float] = deque()
        self._key_asked_at: float | None = None
        self._pump: asyncio.Task[None] | None = None
        self._audio_us = int((worker.spec.video or {}).get("packet_ms", 10)) * 1000
        self.chroma = str((worker.spec.video or {}).get("chroma", ""))
        self.ports = PortTable(info.ports, info.owner_id)
        self.names: dict[int, str] = {info.owner_id: info.owner_name}
        self.last_input: dict[int, float] = {}  # user -> when their last accepted input came
        self.chat = ChatLimiter()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._pump = asyncio.create_task(self._run(), name=f"treazr-session-{self.info.id}")

    async def _run(self) -> None:
        reason = "the game stopped"
        try:
            while (message := await self.worker.recv()) is not None:
                self._handle(message)
        except TreazrError as error:
            reason = str(error)
            log.warning("session %s: %s", self.info.id, error)
            self.broadcast(control("error", code="worker", message=str(error)))
        except asyncio.CancelledError:
            reason = self.end_reason or "ended"
            raise
        finally:
            if not self.end_reason:
                self.end_reason = reason
            self.ended.set()

    async def stop(self, reason: str) -> None:
        """Stop the worker (it flushes save RAM) and close every viewer with ``reason``."""
        if not self.end_reason:
            self.end_reason = reason
        await self.worker.stop()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self.ended.set()

    # -- the fan-out --------------------------------------------------------------------------
    def _handle(self, message: VideoPacket | AudioPacket | RawFrame | Event) -> None:
        if isinstance(message, VideoPacket):
            self._video(message)
        elif isinstance(message, AudioPacket):
            packet = pack_audio(message.pts_us, self._audio_us, message.data)
            for viewer in list(self.viewers.values()):
                viewer.push_audio(packet)
        elif isinstance(message, Event):
            self._event(message)

    def _video(self, message: VideoPacket) -> None:
        now = time.monotonic()
        self.frame_no = message.frame_no
        self.frames_seen += 1
        self.metrics.frames.inc()
        if self._lateness.observe(message.pts_us, now):
            self.late_frames += 1
            self.metrics.late_frames.inc()
        self._track_rate(now)
        if message.key:
            self._key_asked_at = None
        packet = pack_video(message.frame_no, message.pts_us, message.key, message.data)
        want_key = False
        for viewer in list(self.viewers.values()):
            self._ack_input(viewer, message.frame_no, now)
            if not viewer.push_video(packet, message.key) or (viewer.needs_key and not message.key):
                want_key = True
        if want_key:
            self.request_keyframe()

    def _ack_input(self, viewer: Viewer, frame_no: int, now: float) -> None:
        # The worker applies input between two frames, so the second frame after the one the input
        # followed is the first that surely reflects it.
        if viewer.pending_ack is not None and frame_no >= viewer.pending_ack[1] + 2:
            seq, _, received = viewer.pending_ack
            viewer.pending_ack = None
            self.metrics.input_latency_ms.observe((now - received) * 1000)
            viewer.push_control_bytes(pack_input_ack(seq, frame_no))

    def _track_rate(self, now: float) -> None:
        self._fps_window.append(now)
        while self._fps_window and self._fps_window[0] < now - 1.0:
            self._fps_window.popleft()
        self.metrics.fps.set(len(self._fps_window))
        ratio = self._lateness.ratio()
        if not self.degraded and ratio > DEGRADED_ON and len(self._lateness.window) >= 30:
            self.degraded = True
            self.broadcast(control("degraded", on=True, late_ratio=round(ratio, 3)))
        elif self.degraded and ratio < DEGRADED_OFF:
            self.degraded = False
            self.broadcast(control("degraded", on=False, late_ratio=round(ratio, 3)))

    def _event(self, event: Event) -> None:
        if event.name == "video_config":
            self.video_config = dict(event.data)
            self.broadcast(control("video_config", **self.video_config))
        elif event.name == "encoder_stats":
            for value in event.data.get("encode_ms", []):
                if isinstance(value, (int, float)):
                    self.metrics.encode_ms.observe(float(value))
        elif event.name in ("paused", "resumed"):
            self.paused = event.name == "paused"
            self._lateness.rebase()
            self.broadcast(self.state_message())
        elif event.name == "save_ram_flushed":
            if self.save_error is not None:
                self.save_error = None
                self.broadcast(control("save_status", ok=True, message="Your game is being saved again."))
            if self._on_save_ram is not None:
                task = asyncio.create_task(self._on_save_ram(), name=f"treazr-save-ram-{self.info.id}")
                self._tasks.add(task)
                task.add_done_callback(self._saved)
        elif event.name == "save_ram_failed":
            # the worker keeps the game running and tries again at its next flush; the file on disk is the
            # last good save (writes are atomic). The player sees why until a save works again.
            self.save_error = str(event.data.get("message") or "the game could not be saved")
            self.broadcast(control("save_status", ok=False, message=self.save_error))

    def _saved(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("session %s: could not record the battery save: %s", self.info.id, error)

    def request_keyframe(self) -> None:
        now = time.monotonic()
        if self._key_asked_at is None or now - self._key_asked_at > KEYFRAME_RETRY_S:
            self._key_asked_at = now
            self.worker.request_keyframe()

    def broadcast(self, text: str) -> None:
        for viewer in list(self.viewers.values()):
            viewer.push_control(text)

    # -- pausing --------------------------------------------------------------------------------
    def hold(self, paused: bool) -> None:
        """The owner's Pause and Resume; a game nobody watches stays asleep until someone comes back."""
        self.held = paused
        self._apply_pause()

    def sleep(self) -> None:
        """Pause the emulation while nobody watches: the worker stays, so coming back is instant and
        exact, and a paused worker waits on its command queue without using the CPU."""
        if not self.viewers and not self.asleep:
            self.asleep = True
            self._apply_pause()

    def _apply_pause(self) -> None:
        if not self.ended.is_set():
            self.worker.pause(self.held or self.asleep)

    # -- viewers --------------------------------------------------------------------------------
    def add_viewer(self, viewer: Viewer) -> None:
        self.viewers[viewer.id] = viewer
        self.no_viewer_since = None
        self.ever_watched = True
        self.metrics.viewers.set(len(self.viewers))
        viewer.start()
        self.request_keyframe()  # before waking: the first frame after it is a key frame
        if self.asleep:
            self.asleep = False
            self._apply_pause()
        self.broadcast(self.state_message())

    def remove_viewer(self, viewer: Viewer) -> None:
        if self.viewers.pop(viewer.id, None) is None:
            return
        viewer.close()
        self.metrics.viewers.set(len(self.viewers))
        if not self.viewers:
            self.no_viewer_since = time.monotonic()
            self.sleep()
        self.broadcast(self.state_message())

    def apply_input(self, viewer: Viewer, port: int, buttons: int, seq: int, axes: tuple[int, ...] = ()) -> None:
        self.worker.set_input(port, buttons, axes)
        self.metrics.inputs.inc()
        self.last_input[viewer.user_id] = time.monotonic()
        # The newest frame the worker is known to have finished (its reader sees frames before this
        # session's pump does): the input can only show from the frame after the next one on.
        latest = max(self.frame_no, self.worker.frame_no)
        viewer.pending_ack = (seq, latest, time.monotonic())

    # -- ports ---------------------------------------------------------------------------------
    def apply_port_changes(self, changes: list[PortChange]) -> None:
        """Tell every viewer what they now hold; a port that changed hands starts with no button held."""
        if not changes:
            return
        for change in changes:
            self.worker.set_input(change.port, 0)
            if change.after is not None:
                self.last_input[change.after] = time.monotonic()
        for viewer in self.viewers.values():
            held = self.ports.of(viewer.user_id)
            if held != viewer.ports:
                viewer.ports = held
                viewer.push_control(control("ports", ports=held))
        self.broadcast(self.state_message())

    def holders(self) -> list[dict[str, Any]]:
        present = {v.user_id for v in self.viewers.values()}
        return [{"port": port, "user_id": holder, "name": self.names.get(holder) if holder is not None else None,
                 "present": holder in present}
                for port, holder in enumerate(self.ports.holders)]

    def state_message(self) -> str:
        players = [{"viewer": v.id, "user_id": v.user_id, "name": v.user_name, "ports": v.ports}
                   for v in self.viewers.values()]
        return control("state", session=self.info.token, paused=self.held, degraded=self.degraded,
                       viewers=len(self.viewers), players=players, frame_no=self.frame_no, holders=self.holders(),
                       owner_id=self.info.owner_id, chroma=self.chroma)

    def switch_to_420(self) -> bool:
        """Move a 4:4:4 stream to upscaled 4:2:0 (every browser decodes it); False when it already is."""
        if self.chroma != "444":
            return False
        self.chroma = "420"
        self.worker.set_chroma("420")
        self.request_keyframe()
        return True

    def shared(self) -> bool:
        """Someone besides the owner holds a controller port (even one away for a moment)."""
        return any(holder not in (None, self.info.owner_id) for holder in self.ports.holders)

    def may_control(self, user_id: int, role: str) -> bool:
        """The one rule for running a session (pause, end, save, ports): its owner, or an admin."""
        return role == "admin" or user_id == self.info.owner_id

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {"id": info.id, "token": info.token, "owner_id": info.owner_id, "owner": info.owner_name,
                "game_id": info.game_id, "title": info.title, "platform": info.platform, "core": info.core,
                "ports": info.ports, "started_from": info.started_from, "notice": info.notice,
                "started_at": info.started_at,
                "viewers": len(self.viewers), "paused": self.held, "asleep": self.asleep, "degraded": self.degraded,
                "frames": self.frames_seen, "late_frames": self.late_frames, "chroma": self.chroma,
                "holders": self.holders(), "url": f"/play/{info.token}", "save_error": self.save_error}
