"""The worker process's main loop: one core, paced to its own frame rate, speaking the frame protocol.

Runs in ``treazr worker --fd N``. The main thread owns the core (cores are not thread-safe) and is
the only writer to the socket; a reader thread turns incoming frames into commands on a queue, so
input lands between two ``retro_run`` calls and never in the middle of one.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from treazr.atomic import atomic_write
from treazr.emulation.images import is_blank, png_from_bgrx
from treazr.emulation.pacing import Pacer
from treazr.emulation.protocol import (
    CONTROL,
    FrameSocket,
    InputChange,
    ProtocolError,
    decode_frame,
    encode_audio,
    encode_control,
    encode_raw,
)
from treazr.emulation.spec import WorkerSpec
from treazr.emulation.state_writer import StateWrite, StateWriter
from treazr.errors import CoreError, InvalidContent, NotFound, TreazrError

if TYPE_CHECKING:
    from treazr.emulation.encoder import Encoders

__all__ = ["run_worker"]

log = logging.getLogger("treazr.worker")

FAST_FORWARD_SPEED = 4.0  # emulated frames per real frame while fast-forwarding
TICK_S = 0.5  # headless runs report progress this often, so the parent's hang check sees it
SAVERAM_CHECK_S = 1.0  # how often save RAM is compared with what was last flushed
ENCODER_STATS_S = 1.0  # how often encode times go up as an ``encoder_stats`` event (for /metrics)
_WARM_UP = 4  # frames a core may need before it takes a state (see _WorkerLoop._unserialize)


class _WorkerLoop:
    def __init__(self, conn: FrameSocket, spec: WorkerSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.commands: queue.SimpleQueue[dict[str, Any] | InputChange] = queue.SimpleQueue()
        self.frame_no = 0
        self.paused = False
        self.fast = False
        self.running = True
        self.samples_sent = 0
        self.encoders: Encoders | None = None  # None: raw BGRX frames and PCM audio
        self.flushed: bytes | None = None
        self.flush_error: str | None = None  # why the last save RAM write failed, until one succeeds
        self.last_flush = self.last_check = self.last_tick = self.last_stats = time.monotonic()
        self.writer = StateWriter(lambda request_id, result, error: self.reply(request_id, "save_state", result, error))

    # -- start ------------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        from treazr.emulation.core import CoreHost

        spec = self.spec
        self.host = CoreHost(spec.core_path, system_dir=spec.system_dir, save_dir=spec.save_dir or spec.system_dir,
                             options=dict(spec.options), temp_dir=spec.temp_dir)
        self.av = self.host.load_game(spec.content_path)
        loaded, set_aside = self.load_save_ram()  # right after load_game, before the first frame runs
        state = self.start_from_state(spec.state_path) if spec.state_path else None
        self.pacer = Pacer(self.av.fps)
        if spec.video is not None and spec.stream:
            from treazr.emulation.encoder import open_encoders  # PyAV is imported only when encoding

            self.encoders = open_encoders(spec.video, self.av.fps, self.av.sample_rate)
        return {**self.core_identity(),
                "av_info": {k: getattr(self.av, k) for k in ("fps", "sample_rate", "base_width", "base_height",
                                                              "max_width", "max_height", "aspect")},
                "audio": "pcm_s16le" if self.encoders is None else self.encoders.audio_codec,
                "video": "bgrx" if self.encoders is None else self.encoders.video_codec,
                "save_ram_loaded": loaded, "save_ram_set_aside": set_aside, "state": state}

    def load_save_ram(self) -> tuple[int, dict[str, str] | None]:
        """Load the player's ``.srm``: (bytes loaded, None), or (0, why and where) for a file that does
        not fit this game's save RAM (an upload from another emulator): it is moved aside, kept, and the
        game starts with an empty save instead of not at all."""
        path = Path(self.spec.save_ram_path) if self.spec.save_ram_path else None
        data = path.read_bytes() if path is not None and path.is_file() else b""
        set_aside = None
        if data and path is not None:
            try:
                self.host.load_save_ram(data)
            except InvalidContent as error:
                kept = path.with_name(f"{path.stem}.unused-{time.strftime('%Y%m%dT%H%M%S')}{path.suffix}")
                os.replace(path, kept)
                set_aside, data = {"reason": str(error), "kept_as": kept.name}, b""
        self.flushed = self.host.save_ram()
        return len(data), set_aside

    # -- commands ---------------------------------------------------------------------------
    def read_commands(self) -> None:
        """Reader thread: frames from the parent become commands; a closed socket means stop."""
        try:
            while (frame := self.conn.recv()) is not None:
                command = decode_frame(*frame)
                if isinstance(command, (dict, tuple)):
                    self.commands.put(command)
        except (ProtocolError, OSError) as error:
            log.error("lost the parent: %s", error)
        self.commands.put({"op": "stop", "reason": "the web process went away"})

    def handle_commands(self) -> None:
        block = self.paused
        while self.running:
            try:
                command = self.commands.get(timeout=1.0) if block else self.commands.get_nowait()
            except queue.Empty:
                return
            block = False
            if isinstance(command, tuple):
                port, mask, axes = command
                if port < self.spec.ports:
                    self.host.set_input(port, mask, axes)
                continue
            self.handle(command)
            block = self.paused

    def handle(self, command: dict[str, Any]) -> None:
        op = str(command.get("op"))
        request_id = command.get("id")
        try:
            if op == "save_state":  # answered by the state writer once the files are on disk
                self.save_state(Path(command["path"]), request_id)
                return
            result = self.dispatch(op, command)
        except (TreazrError, OSError) as error:
            if request_id is None:
                raise
            self.reply(request_id, op, None, error)
            return
        if request_id is not None:
            self.reply(request_id, op, result, None)

    def reply(self, request_id: int | None, op: str, result: dict[str, Any] | None,
              error: TreazrError | OSError | None) -> None:
        if request_id is None:
            return
        if isinstance(error, OSError):  # a state or screenshot that cannot be written: the game goes on
            error = CoreError(f"could not {op.replace('_', ' ')}: {error.strerror or error}")
        if error is not None:
            self.send_event("reply", id=request_id, ok=False, kind=type(error).__name__, message=str(error))
        else:
            self.send_event("reply", id=request_id, ok=True, **(result or {}))

    def dispatch(self, op: str, command: dict[str, Any]) -> dict[str, Any]:
        if op == "pause":
            self.paused = bool(command.get("paused"))
            if self.paused:
                self.flush_save_ram(force=True)
            else:
                self.pacer.rebase()
            self.send_event("paused" if self.paused else "resumed", frame_no=self.frame_no)
        elif op == "reset":
            self.host.reset()
        elif op == "fast_forward":
            self.fast = bool(command.get("on"))
            self.pacer.set_speed(FAST_FORWARD_SPEED if self.fast else 1.0)
        elif op == "keyframe":
            if self.encoders is not None:
                self.encoders.request_keyframe()
        elif op == "chroma":
            # A viewer whose browser cannot decode 4:4:4 joined: the next frame starts a new stream
            # (a video_config event, then an IDR) that every viewer can decode.
            if self.encoders is not None:
                self.encoders.video.set_chroma("420" if command.get("chroma") == "420" else "444")
        elif op == "load_state":
            return self.load_state(command["path"])
        elif op == "screenshot":
            return self.screenshot(Path(command["path"]))
        elif op == "flush_save_ram":
            return self.flush_on_request()
        elif op == "stop":
            self.running = False
        else:
            raise CoreError(f"unknown worker command {op!r}")
        return {}

    # -- states, screenshots, save RAM --------------------------------------------------------
    def core_identity(self) -> dict[str, str]:
        return {"core_name": self.host.system_info.name.strip(), "core_version": self.host.system_info.version.strip()}

    def state_note(self, size: int) -> dict[str, Any]:
        """What is written beside a state: the core build and content it fits, and where in the game it was."""
        return {**self.core_identity(), "content_sha1": self.spec.content_sha1 or "", "size": size,
                "frame_no": self.frame_no}

    def save_state(self, path: Path, request_id: int | None) -> None:
        """Take the state and the frame now; the writer thread puts state, thumbnail and note on disk (each
        fsynced) and then replies, so the frame loop never waits on the disk."""
        data = self.host.serialize()
        self.writer.submit(StateWrite(request_id, path, data, self.host.video_frame(), self.state_note(len(data))))

    def start_from_state(self, path: str) -> dict[str, Any]:
        """Load the state a session starts from; one that does not fit starts the game from the beginning
        instead (the state file is kept) and says why, so a player is never locked out of a game."""
        try:
            return {"loaded": True, **self.load_state(path)}
        except (InvalidContent, NotFound) as error:
            log.warning("starting %s from the beginning: %s", self.spec.content_path or "the core", error)
            return {"loaded": False, "path": path, "reason": str(error)}

    def load_state(self, path: str) -> dict[str, Any]:
        """Load a state, refusing one of another core, core version or content.

        Whether a state fits is decided by its note (written by :meth:`save_state`) and by the core's own
        ``retro_unserialize`` answer, never by comparing sizes: several cores' state size changes once
        frames have run (nestopia, mgba), so a size measured before the first frame proves nothing. If the
        core refuses the state, the game is put back as it was before the attempt.
        """
        self.writer.drain()  # a state just saved is on disk before it is read
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the state file {path} does not exist") from None
        note = self.check_state_note(Path(path).with_suffix(".json"))
        try:
            before: bytes | None = self.host.serialize()
        except CoreError:
            before = None  # a core without save states: its unserialize will say so
        try:
            self._unserialize(data)
        except (TreazrError, OSError) as error:
            self.restore(before)
            raise InvalidContent(f"the core refused this state ({error}); it was not loaded") from None
        return {"path": path, "frame_no": self.frame_no, "saved_frame_no": int(note.get("frame_no", 0))}

    def _unserialize(self, data: bytes) -> None:
        # parallel_n64 sets its machine up in its first retro_runs and refuses any state before its second
        # frame: before the first frame is shown, up to _WARM_UP frames are emulated unseen (their sound
        # dropped) until the core takes the state, which then replaces everything they did.
        for warm_up in range(_WARM_UP + 1):
            try:
                self.host.unserialize(data)
                return
            except (TreazrError, OSError):
                if self.frame_no != 0 or warm_up == _WARM_UP:
                    raise
                self.host.run_frame()
                self.host.take_audio()

    def restore(self, before: bytes | None) -> None:
        """Put the game back as it was before a refused state (a reset when the core kept no copy)."""
        try:
            if before is None:
                raise CoreError("no state to go back to")
            self.host.unserialize(before)
        except TreazrError:
            self.host.reset()

    def check_state_note(self, note_path: Path) -> dict[str, Any]:
        """The note beside a state we wrote; a state without one (RetroArch's) is left to the core to judge."""
        try:
            note = json.loads(note_path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise InvalidContent(f"the note beside this state ({note_path.name}) is damaged; "
                                 "the state was not loaded") from None
        if not isinstance(note, dict):
            raise InvalidContent(f"the note beside this state ({note_path.name}) is damaged; "
                                 "the state was not loaded")
        mine = self.core_identity()
        theirs = {k: str(note.get(k, "")) for k in mine}
        if theirs != mine:
            raise InvalidContent(f"this state was made by {theirs['core_name']} {theirs['core_version']}, not "
                                 f"{mine['core_name']} {mine['core_version']} (another core or core version), "
                                 "so it was not loaded")
        content = str(note.get("content_sha1") or "")
        if content and self.spec.content_sha1 and content != self.spec.content_sha1:
            raise InvalidContent("this state was made with another copy of this game's file (its SHA-1 differs), "
                                 "so it was not loaded")
        return note

    def screenshot(self, path: Path) -> dict[str, Any]:
        frame = self.host.video_frame()
        atomic_write(path, png_from_bgrx(frame))
        return {"path": str(path), "frame_no": self.frame_no, "width": int(frame.shape[1]),
                "height": int(frame.shape[0]), "blank": is_blank(frame)}

    def flush_save_ram(self, force: bool = False) -> bool:
        """Write save RAM atomically if it changed (at most every saveram_flush_s unless forced).

        A failed write (disk full, folder gone) never ends the game: it is reported as a
        ``save_ram_failed`` event, remembered in ``flush_error``, and tried again at the next flush.
        """
        now = time.monotonic()
        if not self.spec.save_ram_path or (not force and now - self.last_check < SAVERAM_CHECK_S):
            return False
        self.last_check = now
        data = self.host.save_ram()
        if not data or data == self.flushed or (not force and now - self.last_flush < self.spec.saveram_flush_s):
            return False
        self.last_flush = now
        try:
            atomic_write(Path(self.spec.save_ram_path), data)
        except OSError as error:
            self.flush_error = f"the game could not be saved to {self.spec.save_ram_path}: {error.strerror or error}"
            log.error("%s", self.flush_error)
            self.send_event("save_ram_failed", message=self.flush_error, frame_no=self.frame_no)
            return False
        self.flushed, self.flush_error = data, None
        self.send_event("save_ram_flushed", path=self.spec.save_ram_path, size=len(data), frame_no=self.frame_no)
        return True

    def flush_on_request(self) -> dict[str, Any]:
        written = self.flush_save_ram(force=True)
        if self.flush_error:
            raise CoreError(self.flush_error)
        return {"written": written}

    # -- the loop ---------------------------------------------------------------------------
    def send_event(self, name: str, **fields: Any) -> None:
        self.conn.send(encode_control({"event": name, **fields}))

    def step(self) -> None:
        self.host.run_frame()
        self.frame_no += 1
        audio = self.host.take_audio()
        if not self.spec.stream:
            now = time.monotonic()
            if now - self.last_tick >= TICK_S:
                self.last_tick = now
                self.send_event("tick", frame_no=self.frame_no)
            return
        if self.fast and self.frame_no % int(FAST_FORWARD_SPEED):
            return  # fast-forward shows every 4th frame and drops the sound
        # the frontend's own buffer, no copy: valid until the next run_frame, and both the encoder and the
        # raw path are done with it before this returns
        frame = self.host.video_view()
        self.send_media(frame if frame is not None else self.host.video_frame(), None if self.fast else audio)

    def send_media(self, frame: np.ndarray, audio: np.ndarray | None) -> None:
        pts_us = round(self.frame_no * 1_000_000 / self.av.fps)
        if self.encoders is not None:
            for frame_bytes in self.encoders.encode(self.frame_no, pts_us, frame, audio):
                self.conn.send(frame_bytes)
            now = time.monotonic()
            if now - self.last_stats >= ENCODER_STATS_S:
                self.last_stats = now
                self.send_event("encoder_stats", encode_ms=self.encoders.video.take_encode_ms())
            return
        audio_pts = round(self.samples_sent * 1_000_000 / self.av.sample_rate)
        if audio is not None:
            self.samples_sent += len(audio)
        height, width = frame.shape[:2]
        self.conn.send(encode_raw(self.frame_no, width, height, np.ascontiguousarray(frame).tobytes()))
        if audio is not None and len(audio):
            self.conn.send(encode_audio(audio_pts, np.ascontiguousarray(audio, dtype=np.int16).tobytes()))

    def loop(self) -> None:
        while self.running:
            self.handle_commands()
            if self.paused or not self.running:
                continue
            self.step()
            self.flush_save_ram()
            if self.spec.realtime:
                self.pacer.wait()

    def finish(self) -> None:
        """Session end: states being written and the last save RAM go to disk before the process exits."""
        self.writer.close()
        self.flush_save_ram(force=True)
        if self.encoders is not None:
            self.encoders.close()
        self.host.close()


def _fail(conn: FrameSocket, error: BaseException) -> int:
    if not isinstance(error, TreazrError):
        log.exception("the core failed")
        error = CoreError(f"the core failed: {error}")
    try:
        conn.send(encode_control({"event": "error", "kind": type(error).__name__, "message": str(error)}))
    except OSError:
        pass
    return 3


def run_worker(fd: int) -> int:
    """The worker's ``main``: read the spec, load the game, run until told to stop. Returns the exit code."""
    conn = FrameSocket(socket.socket(fileno=fd))
    try:
        first = conn.recv()
        if first is None or first[0] != CONTROL:
            return 2
        start = decode_frame(*first)
        assert isinstance(start, dict)
        worker = _WorkerLoop(conn, WorkerSpec.from_dict(start["spec"]))
        os.nice(worker.spec.nice)
        try:
            info = worker.load()
        except Exception as error:
            return _fail(conn, error)
        worker.send_event("ready", **info)
        signal.signal(signal.SIGTERM, lambda *_: worker.commands.put({"op": "stop"}))
        threading.Thread(target=worker.read_commands, name="treazr-worker-reader", daemon=True).start()
        try:
            worker.loop()
        except Exception as error:
            worker.running = False
            return _fail(conn, error)
        finally:
            try:
                worker.finish()
            except Exception:
                log.exception("could not finish the game cleanly")
        return 0
    finally:
        conn.close()
