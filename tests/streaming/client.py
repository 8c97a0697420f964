"""A real server in a thread of the test process, and a Python viewer that decodes the stream with PyAV.

``PlayServer`` runs the real app under uvicorn on 127.0.0.1 (TLS off: the browser tests cover HTTPS);
``StreamClient`` speaks the realtime protocol over the ``websockets`` library, decodes every access
unit with FFmpeg's H.264 decoder and every Opus packet with libopus.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import av
import httpx
import numpy as np
import uvicorn
import websockets
from litestar import Litestar

from tests.support.identity import Identity
from treazr.streaming.manager import SessionManager
from treazr.streaming.protocol import KIND_AUDIO, KIND_INPUT_ACK, KIND_VIDEO, PROTOCOL_VERSION, encode_input

T = TypeVar("T")


@dataclass
class PlayServer:
    """The app under uvicorn in its own thread and event loop, as a server process would run it: the
    test's own decoding never stalls the server's loop."""

    app: Litestar
    url: str
    loop: asyncio.AbstractEventLoop

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    @property
    def manager(self) -> SessionManager:
        manager: SessionManager = self.app.state.play
        return manager

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (the manager's objects belong to it)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))


@asynccontextmanager
async def play_server(app: Litestar, *, send_buffer: int | None = None) -> AsyncIterator[PlayServer]:
    """Serve ``app``; ``send_buffer`` pins the kernel's per-connection send buffer (no autotuning) so a
    client that stops reading backs up into the server within seconds, as it would on a slow network."""
    listener = socket.socket()
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = int(listener.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=1 << 20))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[listener]),),
                              name="play-server")
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise AssertionError("the test server did not start")
            await asyncio.sleep(0.02)
        yield PlayServer(app, f"http://127.0.0.1:{port}", loop)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 60)
        loop.close()
        listener.close()


@dataclass
class DecodedFrame:
    frame_no: int
    key: bool
    rgb: np.ndarray


@dataclass
class StreamClient:
    """One viewer; ``frames`` holds decoded pictures, ``controls`` every JSON message."""

    socket: Any
    frames: list[DecodedFrame] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    audio_samples: int = 0
    acks: list[tuple[int, int]] = field(default_factory=list)
    video_bytes: int = 0
    keep_pictures: int = 400

    def __post_init__(self) -> None:
        self._video = av.CodecContext.create("h264", "r")
        self._audio = av.CodecContext.create("libopus", "r")
        self.seq = 0

    @classmethod
    @asynccontextmanager
    async def connect(cls, server: PlayServer, token: str, who: Identity, *, protocol: int = PROTOCOL_VERSION,
                      chroma444: bool = True) -> AsyncIterator[StreamClient]:
        async with websockets.connect(f"{server.ws_url}/api/play/sessions/{token}/ws",
                                      additional_headers=who.headers, max_size=1 << 24,
                                      # read the network even while the test reads nothing: with a bounded
                                      # queue a backlog hides the server's close frame for close_timeout (10 s)
                                      max_queue=None) as socket:
            await socket.send(json.dumps({"type": "hello", "protocol": protocol, "chroma444": chroma444}))
            yield cls(socket)

    def control_of(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in self.controls if c.get("type") == kind]

    async def receive(self, *, frames: int = 0, until: str | None = None, timeout: float = 30.0) -> None:
        """Read until ``frames`` more pictures are decoded, or a control of type ``until`` arrives."""
        target = len(self.frames) + frames
        async with asyncio.timeout(timeout):
            while True:
                message = await self.socket.recv()
                self.handle(message)
                if until is not None and self.control_of(until):
                    return
                if until is None and len(self.frames) >= target:
                    return

    def handle(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.controls.append(json.loads(message))
            return
        kind = message[0]
        if kind == KIND_VIDEO:
            frame_no = struct.unpack_from(">I", message, 4)[0]
            self.video_bytes += len(message)
            for frame in self._video.decode(av.Packet(message[16:])):
                self.frames.append(DecodedFrame(frame_no, bool(message[1] & 1), frame.to_ndarray(format="rgb24")))
                if len(self.frames) > self.keep_pictures:
                    self.frames[-self.keep_pictures - 1].rgb = np.empty(0, np.uint8)
        elif kind == KIND_AUDIO:
            for sound in self._audio.decode(av.Packet(message[16:])):
                assert isinstance(sound, av.AudioFrame)
                self.audio_samples += sound.samples
        elif kind == KIND_INPUT_ACK:
            seq, frame_no = struct.unpack_from(">II", message, 4)
            self.acks.append((seq, frame_no))

    async def press(self, port: int, buttons: int, axes: tuple[int, ...] = ()) -> int:
        self.seq += 1
        await self.socket.send(encode_input(port, self.seq, buttons, axes))
        return self.seq

    async def shown(self, seq: int) -> DecodedFrame:
        """The first decoded frame that the server acknowledged as showing input ``seq``."""
        async with asyncio.timeout(30):
            while not (acked := [frame for s, frame in self.acks if s >= seq]) or self.frames[-1].frame_no < acked[0]:
                await self.receive(frames=1)
        return next(f for f in self.frames if f.frame_no == acked[0])

    async def command(self, kind: str, **fields: Any) -> None:
        await self.socket.send(json.dumps({"type": kind, **fields}))


async def refusal_code(server: PlayServer, token: str, who: Identity) -> int | None:
    """The close code of a viewer's socket that the server refuses: it may close before the client's hello
    is sent or after. None when the socket stayed open and a frame arrived."""
    try:
        async with StreamClient.connect(server, token, who) as viewer:
            await viewer.receive(frames=1)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    return None


_REFERENCE = """
import json, sys, numpy as np
from treazr.emulation.core import CoreHost
host = CoreHost(sys.argv[1], system_dir=sys.argv[3], save_dir=sys.argv[3], options=json.loads(sys.argv[6]))
host.load_game(sys.argv[2] if sys.argv[2] != "-" else None)
frames = []
for n in range(int(sys.argv[4])):
    host.run_frame()
    frames.append(host.video_frame()[:, :, :3][:, :, ::-1].copy())
np.savez(sys.argv[5], *frames)  # one array per frame: some cores change size in their first frames
host.close()
"""


def core_frames(
    core: Path, content: Path | None, count: int, work: Path, options: dict[str, str] | None = None
) -> list[np.ndarray]:
    """The core's own first ``count`` frames (RGB), run without input in a separate process
    (one core per process) with the core ``options`` a session gives it, to compare decoded video with."""
    out = work / f"reference-{core.stem}.npz"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _REFERENCE, str(core), str(content) if content else "-", str(work),
                    str(count), str(out), json.dumps(options or {})], check=True, timeout=120, capture_output=True)
    with np.load(out) as saved:
        return [saved[f"arr_{n}"] for n in range(len(saved.files))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if error == 0 else float(10 * np.log10(255.0**2 / error))
