"""One running play session in the web process: its worker, its viewers, the fan-out between them.

The worker encodes; this side only reads the worker's packets and hands each one to every viewer's
bounded queue (:mod:`treazr.streaming.viewers`), so a slow viewer never slows the emulator or the
other viewers. It also applies input, tracks late frames (``degraded``), and answers commands.

A session owns the rules of the people in it: who may run it (:meth:`PlaySession.may_control`), joining
and leaving (a hand-off between one person's devices), chat, controller ports and the viewers that went
quiet. Each rule changes the session at once and returns the :class:`PlayEvent` rows it made; the
manager writes them to the play history, so no rule waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from treazr.auth.sessions import AuthUser
from treazr.emulation.protocol import AudioPacket, Event, RawFrame, VideoPacket
from treazr.emulation.worker import WorkerHandle
from treazr.errors import NotFound, RateLimited, TreazrError
from treazr.streaming.lateness import Lateness
from treazr.streaming.metrics import SessionMetrics
from treazr.streaming.protocol import (
    CLOSE_ENDED,
    CLOSE_IDLE,
    CLOSE_MOVED,
    CLOSE_REVOKED,
    control,
    pack_audio,
    pack_input_ack,
    pack_video,
)
from treazr.streaming.together import PLAYER_IDLE_S, SPECTATOR_IDLE_S, ChatLimiter, PortChange, PortTable, clean_chat
from treazr.streaming.viewers import Viewer

__all__ = ["HEARTBEAT_TIMEOUT_S", "START_GRACE_S", "Person", "PlayEvent", "PlaySession", "SessionInfo"]

log = logging.getLogger("treazr.play")

KEYFRAME_RETRY_S = 0.5  # ask the worker again when an asked-for IDR has not come
DEGRADED_ON, DEGRADED_OFF = 0.05, 0.01  # share of late frames over one second
HEARTBEAT_TIMEOUT_S = 30.0  # a viewer that sent nothing (pings included) for this long is gone
START_GRACE_S = 15.0  # a game started over HTTP whose player has not connected yet is not "unwatched"


class Person(Protocol):
    """Someone the rules ask about: a signed-in user or one of their viewers."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class PlayEvent:
    """One row for the play history (:mod:`treazr.streaming.history`), made by a session's rule."""

    kind: str
    user_id: int | None
    device_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


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
        self._lateness = Lateness(fps)
        self._fps_window: deque[float] = deque()
        self._key_asked_at: float | None = None
        self._pump: asyncio.Task[None] | None = None
        self._audio_us = int((worker.spec.video or {}).get("packet_ms", 10)) * 1000
        self.chroma = str((worker.spec.video or {}).get("chroma", ""))
        self.ports = PortTable(info.ports, info.owner_id)
        self.names: dict[int, str] = {info.owner_id: info.owner_name}
        self.last_input: dict[int, float] = {}  # user -> when their last accepted input came
        self.chat = ChatLimiter()
        self.point_frames = 0  # frames_seen when the last save point was written
        self.point_task: asyncio.Task[None] | None = None

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
    def _add_viewer(self, viewer: Viewer) -> None:
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

    def _remove_viewer(self, viewer: Viewer) -> None:
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

    # -- people -------------------------------------------------------------------------------
    def join(self, viewer: Viewer) -> list[PlayEvent]:
        """Add a viewer; the same person's viewers on *other* devices hand the game over to this one."""
        moved = [v for v in self.viewers.values() if v.user_id == viewer.user_id and v.device_id != viewer.device_id]
        self.names[viewer.user_id] = viewer.user_name
        self.ports.arrived(viewer.user_id)
        viewer.ports = self.ports.of(viewer.user_id)
        self._add_viewer(viewer)
        events = [PlayEvent("joined", viewer.user_id, viewer.device_id, {"viewer": viewer.id, "ports": viewer.ports})]
        for old in moved:
            old.push_control(control("moved", message="This game moved to your other device.",
                                     device=viewer.device_id))
            old.close(CLOSE_MOVED, "the game moved to another device")
            events += self.leave(old)
            events.append(PlayEvent("handed_off", viewer.user_id, viewer.device_id, {
                "from_device": old.device_id, "to_device": viewer.device_id, "ports": viewer.ports}))
        return events

    def leave(self, viewer: Viewer) -> list[PlayEvent]:
        """A viewer goes; the last of a person's viewers starts the grace period of their ports."""
        if viewer.id not in self.viewers:
            return []
        self._remove_viewer(viewer)
        if not any(v.user_id == viewer.user_id for v in self.viewers.values()):
            self.ports.left(viewer.user_id, time.monotonic())
        return [self._left(viewer)]

    def close_viewers(self, reason: str) -> list[PlayEvent]:
        """The session ended: every viewer is closed with ``reason``."""
        viewers = list(self.viewers.values())
        self.viewers.clear()
        for viewer in viewers:
            viewer.close(CLOSE_ENDED, reason)
        return [self._left(viewer) for viewer in viewers]

    def sign_out(self, sign_in_sessions: set[int]) -> None:
        """Close at once the viewers of sign-in sessions that ended."""
        for viewer in list(self.viewers.values()):
            if viewer.sign_in_session in sign_in_sessions:
                viewer.push_control(control("error", code="signed_out", message="You were signed out."))
                viewer.close(CLOSE_REVOKED, "signed out")
                self._remove_viewer(viewer)

    def sweep_viewers(self, now: float) -> list[PlayEvent]:
        """Viewers the server closed (too far behind), silent past the heartbeat, or only watching for
        a very long time leave; then the ports of the away and the idle are freed."""
        events = []
        for viewer in list(self.viewers.values()):
            if viewer.closed:
                pass
            elif now - viewer.last_heard > HEARTBEAT_TIMEOUT_S:
                viewer.close(1001, "no heartbeat")
            elif not viewer.ports and now - viewer.last_active > SPECTATOR_IDLE_S:
                viewer.push_control(control("error", code="idle", message="You were away for a long time; "
                                            "reload the page to watch again."))
                viewer.close(CLOSE_IDLE, "idle")
            else:
                continue
            events += self.leave(viewer)
        return events + self._expire_ports(now)

    def _left(self, viewer: Viewer) -> PlayEvent:
        counters = viewer.counters
        return PlayEvent("left", viewer.user_id, viewer.device_id, {
            "viewer": viewer.id, "frames": counters.frames_sent, "dropped": counters.frames_dropped,
            "malformed": counters.malformed})

    def played_since_point(self) -> float:
        """Seconds of play (frames emulated and sent; a paused or sleeping game adds none) since the last
        save point."""
        return (self.frames_seen - self.point_frames) / self._lateness.fps

    def open_viewers(self, user_id: int | None = None) -> int:
        """Viewers not yet closed (of one person, when given)."""
        return sum(1 for v in self.viewers.values() if not v.closed and user_id in (None, v.user_id))

    def unwatched_for(self, now: float) -> float:
        """Seconds since the last viewer left (0 while someone watches)."""
        return 0.0 if self.no_viewer_since is None else now - self.no_viewer_since

    def forgotten(self, now: float) -> bool:
        """Nobody watches it, nobody else plays it, and its page is not still opening."""
        return (not self.viewers and not self.shared() and not self.ended.is_set()
                and (self.ever_watched or now - self.created > START_GRACE_S))

    def sleep_if_never_opened(self, now: float) -> None:
        """A game started over HTTP whose page never connected sleeps after the start grace (leaving
        puts a watched one to sleep at once)."""
        if not self.viewers and now - self.created > START_GRACE_S:
            self.sleep()

    # -- chat -----------------------------------------------------------------------------------
    def chat_message(self, user: AuthUser, text: object) -> PlayEvent:
        """Deliver a chat message to every viewer and keep it for newcomers."""
        message = clean_chat(text)  # InvalidInput: empty or too long
        wait = self.chat.allow(user.user_id)
        if wait:
            raise RateLimited(f"slow down: you can send another message in {math.ceil(wait)} s",
                              retry_after=math.ceil(wait))
        entry = {"user_id": user.user_id, "name": user.name, "text": message, "at": time.time()}
        self.chat.history.append(entry)
        self.metrics.chat.inc()
        self.broadcast(control("chat", **entry))
        return PlayEvent("chat", user.user_id, user.device_id, {"text": message})

    # -- ports ----------------------------------------------------------------------------------
    def free_port(self, user: AuthUser, port: int) -> list[PlayEvent]:
        """Give up a port of one's own (whoever runs the game: any port)."""
        return self._change_ports(user, self.ports.release(port, user.user_id, self.may_control(user)), "freed")

    def assign_port(self, user: AuthUser, port: int, target: int | None) -> list[PlayEvent]:
        if target is not None and target not in self.names:
            raise NotFound("that person has not joined this game")
        return self._change_ports(user, self.ports.assign(port, target), "assigned")

    def swap_ports(self, user: AuthUser, first: int, second: int) -> list[PlayEvent]:
        return self._change_ports(user, self.ports.swap(first, second), "swapped")

    def _expire_ports(self, now: float) -> list[PlayEvent]:
        holding = {h for h in self.ports.holders if h is not None}
        idle = {user for user in holding if now - self.last_input.get(user, now) > PLAYER_IDLE_S}
        away = set(self.ports.away_since)
        changes = self.ports.expire(now, idle)
        if not changes:
            return []
        return self._change_ports(None, changes, "away" if {c.before for c in changes} <= away else "idle")

    def _change_ports(self, by: AuthUser | None, changes: list[PortChange], reason: str) -> list[PlayEvent]:
        """Tell every viewer what they now hold; a port that changed hands starts with no button held."""
        if not changes:
            return []
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
        return [PlayEvent("port_changed", by.user_id if by else None, by.device_id if by else None,
                          {"port": c.port, "before": c.before, "after": c.after, "reason": reason})
                for c in changes]

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

    def may_control(self, person: Person) -> bool:
        """The one rule for running a session (pause, end, save, ports): its owner, or an admin."""
        return person.role == "admin" or person.user_id == self.info.owner_id

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {"id": info.id, "token": info.token, "owner_id": info.owner_id, "owner": info.owner_name,
                "game_id": info.game_id, "title": info.title, "platform": info.platform, "core": info.core,
                "ports": info.ports, "started_from": info.started_from, "notice": info.notice,
                "started_at": info.started_at,
                "viewers": len(self.viewers), "paused": self.held, "asleep": self.asleep, "degraded": self.degraded,
                "frames": self.frames_seen, "late_frames": self.late_frames, "chroma": self.chroma,
                "holders": self.holders(), "url": f"/play/{info.token}", "save_error": self.save_error}
