"""One worker process per play session, and the web process's handle on it.

The worker (``treazr worker --fd N``, see :mod:`treazr.emulation.runner`) runs the core and the
encoders; a core that segfaults, aborts or hangs takes only its worker down. The parent talks to it
over a socketpair with :mod:`treazr.emulation.protocol`, and :class:`WorkerHandle` turns the worker's
death into :class:`~treazr.errors.CoreCrashed` with the reason (signal, exit code, or hang).

What :meth:`WorkerHandle.recv` returns: ``RawFrame`` + ``AudioPacket`` (s16le PCM) when
``spec.video`` is None, else ``VideoPacket`` (H.264 Annex B) + ``AudioPacket`` (Opus); and ``Event``s:
``video_config`` (before the key frame of a new stream: codec, sizes), ``paused``/``resumed``
(``frame_no``), ``save_ram_flushed`` (``path``, ``size``, ``frame_no``; the file is fsynced), ``save_ram_failed``
(``message``: the write failed, the game goes on and the write is retried), ``encoder_stats``
(``encode_ms``: per-frame encode times since the last one, about once a second). Then
None at a clean end, or the error that ended the worker. One task should call ``recv`` in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from treazr import errors
from treazr.emulation.protocol import (
    AudioPacket,
    Event,
    InputChange,
    ProtocolError,
    RawFrame,
    VideoPacket,
    WorkerMessage,
    decode_frame,
    encode_control,
    encode_input,
    read_frame,
)
from treazr.emulation.spec import WorkerSpec, worker_command
from treazr.errors import CoreCrashed, CoreError, TreazrError

__all__ = ["WorkerHandle", "WorkerSpec", "worker_command"]

log = logging.getLogger("treazr.worker")

START_TIMEOUT_S = 60.0  # loading big content (N64) from a slow disk can take a while
STOP_TIMEOUT_S = 10.0
MAX_QUEUED = 240  # media items waiting for recv(); beyond this the oldest are dropped
# Errors a worker may report by name; anything else becomes CoreError.
_ERROR_KINDS: dict[str, type[TreazrError]] = {cls.__name__: cls for cls in (
    errors.InvalidContent, errors.InvalidInput, errors.NotFound, errors.Conflict, errors.CoreError)}


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    meaning = {"SIGSEGV": "segmentation fault", "SIGABRT": "aborted", "SIGBUS": "bus error",
               "SIGFPE": "arithmetic error", "SIGILL": "illegal instruction", "SIGKILL": "killed"}.get(name)
    return f"{name}, {meaning}" if meaning else name


class WorkerHandle:
    """The parent's side of one worker. Create it with ``await WorkerHandle.start(spec)``."""

    def __init__(self, spec: WorkerSpec, process: asyncio.subprocess.Process,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.spec = spec
        self.info: dict[str, Any] = {}  # the worker's "ready" event: core name/version, av info
        self.error: TreazrError | None = None  # why the worker ended, once it has
        self.frame_no = 0
        self._process = process
        self._reader = reader
        self._writer = writer
        self._messages: deque[WorkerMessage] = deque()
        self._wakeup = asyncio.Event()
        self._ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._last_progress = time.monotonic()
        self._paused = False
        self._stopping = False
        self._killed = False
        self._hung = False
        self._fatal: TreazrError | None = None
        self._ended = asyncio.Event()
        self._output: deque[str] = deque(maxlen=40)
        self._tasks: list[asyncio.Task[None]] = []

    # -- start ------------------------------------------------------------------------------
    @classmethod
    async def start(cls, spec: WorkerSpec, *, timeout: float = START_TIMEOUT_S) -> WorkerHandle:
        """Start a worker and wait until its game is loaded (raising the worker's error if not)."""
        parent_sock, child_sock = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                *worker_command(child_sock.fileno()), pass_fds=(child_sock.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
        except BaseException:
            parent_sock.close()
            raise
        finally:
            child_sock.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_sock)
        handle = cls(spec, process, reader, writer)
        handle._send(encode_control({"op": "start", "spec": spec.to_dict()}))
        handle._tasks = [asyncio.create_task(handle._read_loop()), asyncio.create_task(handle._watch())]
        try:
            handle.info = await asyncio.wait_for(asyncio.shield(handle._ready), timeout)
        except TimeoutError:
            handle.kill()
            await handle.stop()
            core = Path(spec.core_path).name
            raise CoreError(f"the core {core} did not load the game within {timeout:g} s") from None
        except BaseException:
            handle.kill()
            await handle.stop()
            raise
        handle._last_progress = time.monotonic()
        return handle

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def core_name(self) -> str:
        return str(self.info.get("core_name", "core"))

    @property
    def core_version(self) -> str:
        return str(self.info.get("core_version", ""))

    @property
    def av_info(self) -> dict[str, Any]:
        return dict(self.info.get("av_info", {}))

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    # -- messages from the worker -------------------------------------------------------------
    async def recv(self) -> WorkerMessage | None:
        """The next packet, frame or event; None once the worker has ended cleanly.

        Raises :class:`CoreCrashed` (or the worker's own error) when it ended badly.
        """
        while True:
            if self._messages:
                return self._messages.popleft()
            if self._ended.is_set():
                if self.error is not None:
                    raise self.error
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _read_loop(self) -> None:
        output = asyncio.create_task(self._read_output())
        try:
            while (frame := await read_frame(self._reader)) is not None:
                self._dispatch(decode_frame(*frame))
        except ProtocolError as error:
            self._broken(f"the emulation worker sent garbage ({error})")
        except (ConnectionError, OSError):
            pass
        except Exception as error:  # whatever happens, the handle must still end and report
            log.exception("reading from worker %s failed", self.pid)
            self._broken(f"the emulation worker could not be understood ({error!r})")
        returncode = await self._process.wait()
        await output
        self._finish(returncode)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    def _broken(self, message: str) -> None:
        log.error("worker %s: %s", self.pid, message)
        self._fatal = CoreError(message)
        self._kill_process()

    async def _read_output(self) -> None:
        """The worker's stdout and stderr (the core's own prints too) into our log, line by line.

        Read in chunks, not ``readline``: a core printing a huge line without a newline must not
        break the stream (readline raises past its limit).
        """
        assert self._process.stdout is not None
        pending = b""
        while chunk := await self._process.stdout.read(1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > 4096:
                lines, pending = [*lines, pending], b""
            for line in lines:
                self._log_output(line)
        if pending:
            self._log_output(pending)

    def _log_output(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()[:2000]
        self._output.append(text)
        log.info("worker %s: %s", self.pid, text)

    def _dispatch(self, message: WorkerMessage | dict[str, Any] | InputChange) -> None:
        if isinstance(message, (RawFrame, VideoPacket)):
            self.frame_no = message.frame_no
            self._last_progress = time.monotonic()
            self._queue(message)
        elif isinstance(message, AudioPacket):
            self._queue(message)
        elif isinstance(message, dict):
            self._control(message)

    def _control(self, message: dict[str, Any]) -> None:
        name = str(message.pop("event", ""))
        if name == "tick":
            self.frame_no = int(message.get("frame_no", self.frame_no))
            self._last_progress = time.monotonic()
        elif name == "reply":
            future = self._replies.pop(int(message.get("id", 0)), None)
            if future is not None and not future.done():
                if message.get("ok"):
                    future.set_result(message)
                else:
                    future.set_exception(_error_from(message))
        elif name == "ready":
            if not self._ready.done():
                self._ready.set_result(message)
        elif name == "error":
            self._fatal = _error_from(message)
        else:
            if name in ("paused", "resumed"):
                # The hang check rests only once the worker says it paused: a core that hangs just
                # as the player pauses never answers, and is still caught.
                self._paused = name == "paused"
                self._last_progress = time.monotonic()
            self._queue(Event(name, message))

    def _queue(self, message: WorkerMessage) -> None:
        self._messages.append(message)
        if len(self._messages) > MAX_QUEUED:
            # Nobody is reading fast enough: drop the oldest media (never events) and let the
            # encoder start over from a key frame so the viewers' decoders recover.
            for index, queued in enumerate(self._messages):
                if not isinstance(queued, Event):
                    del self._messages[index]
                    if isinstance(queued, VideoPacket):
                        self.request_keyframe()
                    break
        self._wakeup.set()

    async def _watch(self) -> None:
        """Kill a worker whose core stopped producing frames: a hung core never returns from retro_run."""
        limit = self.spec.hang_timeout_s
        while not self._ended.is_set():
            await asyncio.sleep(min(0.25, limit / 4))
            if not self._ready.done() or self._paused or self._ended.is_set():
                continue
            if time.monotonic() - self._last_progress > limit:
                self._hung = True
                self._kill_process()
                return

    def _finish(self, returncode: int) -> None:
        self.error = self._ending_error(returncode)
        failure = self.error or CoreError("the emulation worker has stopped")
        if not self._ready.done():
            self._ready.set_exception(failure)
            self._ready.exception()  # consumed here: start() re-raises self.error itself
        for future in self._replies.values():
            if not future.done():
                future.set_exception(failure)
        self._replies.clear()
        self._ended.set()
        self._wakeup.set()

    def _ending_error(self, returncode: int) -> TreazrError | None:
        core = self.info.get("core_name") or Path(self.spec.core_path).name
        where = f" at frame {self.frame_no}" if self.frame_no else " while loading"
        if self._hung:
            return CoreCrashed(f"the {core} core stopped producing frames for {self.spec.hang_timeout_s:g} s"
                               f"{where} (it hung) and was stopped")
        if self._fatal is not None:
            return self._fatal
        if self._killed or (self._stopping and returncode == 0):
            return None
        if returncode < 0:
            return CoreCrashed(f"the {core} core crashed ({_signal_name(-returncode)}){where}")
        if returncode != 0:
            last = next((line for line in reversed(self._output) if line.strip()), "no output")
            return CoreCrashed(f"the emulation worker for {core} exited with code {returncode}{where}: {last}")
        return None

    # -- commands to the worker ---------------------------------------------------------------
    def _send(self, frame: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(frame)

    def _command(self, op: str, **fields: Any) -> None:
        self._send(encode_control({"op": op, **fields}))

    async def _request(self, op: str, **fields: Any) -> dict[str, Any]:
        if self._ended.is_set():
            raise self.error or CoreError("the emulation worker has stopped")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        self._command(op, id=request_id, **fields)
        return await future

    def set_input(self, port: int, mask: int, axes: Sequence[int] = ()) -> None:
        """The buttons (libretro joypad bits) and analog axes (left x, left y, right x, right y; missing
        ones centred) held on ``port``, from the next frame on."""
        if not 0 <= port < self.spec.ports:
            raise errors.InvalidInput(f"port {port} does not exist; this session has {self.spec.ports}")
        self._send(encode_input(port, mask, axes))

    def pause(self, paused: bool) -> None:
        """Pause or resume; pausing also flushes save RAM that changed. The worker answers with a
        ``paused`` or ``resumed`` event."""
        if not paused:
            self._paused = False
            self._last_progress = time.monotonic()
        self._command("pause", paused=paused)

    def reset(self) -> None:
        self._command("reset")

    def fast_forward(self, on: bool) -> None:
        self._command("fast_forward", on=on)

    def request_keyframe(self) -> None:
        self._command("keyframe")

    def set_chroma(self, chroma: str) -> None:
        """Switch the encoded stream to "420" (upscaled) or "444"; a ``video_config`` event and an IDR
        follow. Only for sessions that encode (``spec.video``)."""
        if chroma not in ("444", "420"):
            raise errors.InvalidInput(f"chroma must be '444' or '420', not {chroma!r}")
        self._command("chroma", chroma=chroma)

    async def save_state(self, path: str | Path) -> dict[str, Any]:
        """Write a state (and a PNG thumbnail beside it); resolves once both are fsynced."""
        return await self._request("save_state", path=str(path))

    async def load_state(self, path: str | Path) -> dict[str, Any]:
        """Load a state; a state of another core or core version is refused with InvalidContent."""
        return await self._request("load_state", path=str(path))

    async def screenshot(self, path: str | Path) -> dict[str, Any]:
        """Write the current frame as a PNG (fsynced)."""
        return await self._request("screenshot", path=str(path))

    async def flush_save_ram(self) -> bool:
        """Write save RAM now if it changed; True once it is on disk (fsynced), False if nothing to write."""
        reply = await self._request("flush_save_ram")
        return bool(reply.get("written"))

    # -- ending -----------------------------------------------------------------------------
    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """End the session: the worker flushes save RAM and exits; it is killed after ``timeout`` s.

        Never raises; why the worker ended is in :attr:`error` (None for a clean end).
        """
        if not self._ended.is_set():
            self._stopping = True
            self._command("stop")
            try:
                await asyncio.wait_for(self._ended.wait(), timeout)
            except TimeoutError:
                log.warning("worker %s did not stop within %s s; killing it", self.pid, timeout)
                self.kill()
        reader_task, watch_task = self._tasks or (None, None)
        self._tasks = []
        if watch_task is not None:
            watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch_task
        if reader_task is not None:
            await reader_task

    def kill(self) -> None:
        """Kill the worker at once (save RAM since the last flush is lost); await stop() to reap it."""
        self._killed = True
        self._kill_process()

    def _kill_process(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


def _error_from(message: dict[str, Any]) -> TreazrError:
    kind = _ERROR_KINDS.get(str(message.get("kind")), CoreError)
    return kind(str(message.get("message") or "the emulation worker reported an error"))
