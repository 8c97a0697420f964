"""The framed protocol between the web process and an emulation worker.

Each frame is ``length (4 bytes, big-endian) | type (1 byte) | payload``; ``length`` counts the type
byte and the payload. Control messages are JSON; media travels as binary with a small fixed header,
so a 60 fps video stream costs no JSON parsing::

    CONTROL  JSON object                         both ways ({"op": ...} down, {"event": ...} up)
    INPUT    port u8 | mask u16 | axes i16 * 4   parent -> worker, the hot path of a session
    VIDEO    frame_no u64 | pts_us i64 | key u8 | encoded packet
    AUDIO    pts_us i64 | packet (Opus, or s16le stereo PCM when the session sends raw frames)
    RAW      frame_no u64 | width u32 | height u32 | BGRX pixels, rows packed (width * 4 bytes)
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "MAX_FRAME",
    "AudioPacket",
    "Event",
    "FrameSocket",
    "InputChange",
    "ProtocolError",
    "RawFrame",
    "VideoPacket",
    "WorkerMessage",
    "decode_frame",
    "encode_audio",
    "encode_control",
    "encode_input",
    "encode_raw",
    "encode_video",
    "read_frame",
    "split_frame",
]

CONTROL, INPUT, VIDEO, AUDIO, RAW = 1, 2, 3, 4, 5
MAX_FRAME = 64 * 1024 * 1024  # a 4K BGRX frame is 33 MB; anything bigger is a broken peer

_LENGTH = struct.Struct(">I")
_INPUT = struct.Struct(">BHhhhh")  # port, buttons, left x, left y, right x, right y
_VIDEO = struct.Struct(">QqB")
_AUDIO = struct.Struct(">q")
_RAW = struct.Struct(">QII")


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol (a bug, never user input)."""


@dataclass(frozen=True)
class VideoPacket:
    frame_no: int
    pts_us: int
    key: bool
    data: bytes


@dataclass(frozen=True)
class AudioPacket:
    pts_us: int
    data: bytes


@dataclass(frozen=True)
class RawFrame:
    frame_no: int
    width: int
    height: int
    data: bytes

    def array(self) -> np.ndarray:
        """The pixels as a read-only ``(height, width, 4)`` uint8 BGRX array (no copy)."""
        return np.frombuffer(self.data, dtype=np.uint8).reshape(self.height, self.width, 4)


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


WorkerMessage = VideoPacket | AudioPacket | RawFrame | Event


def _frame(kind: int, *parts: bytes) -> bytes:
    length = 1 + sum(len(p) for p in parts)
    return b"".join((_LENGTH.pack(length), bytes((kind,)), *parts))


def encode_control(message: dict[str, Any]) -> bytes:
    return _frame(CONTROL, json.dumps(message, separators=(",", ":")).encode())


def encode_input(port: int, mask: int, axes: Sequence[int] = ()) -> bytes:
    """Buttons and analog axes (missing ones centred) held on ``port`` from the next frame on."""
    held = [*axes[:4], *[0] * (4 - len(axes[:4]))]
    return _frame(INPUT, _INPUT.pack(port, mask & 0xFFFF, *held))


def encode_video(frame_no: int, pts_us: int, key: bool, data: bytes) -> bytes:
    return _frame(VIDEO, _VIDEO.pack(frame_no, pts_us, int(key)), data)


def encode_audio(pts_us: int, data: bytes) -> bytes:
    return _frame(AUDIO, _AUDIO.pack(pts_us), data)


def encode_raw(frame_no: int, width: int, height: int, data: bytes) -> bytes:
    return _frame(RAW, _RAW.pack(frame_no, width, height), data)


InputChange = tuple[int, int, tuple[int, ...]]  # port, buttons, axes


def decode_frame(kind: int, payload: bytes) -> WorkerMessage | dict[str, Any] | InputChange:
    """One frame's payload as a message object, a control dict, or an ``(port, mask, axes)`` input."""
    try:
        if kind == CONTROL:
            message = json.loads(payload)
            if not isinstance(message, dict):
                raise ProtocolError("a control frame must hold a JSON object")
            return message
        if kind == INPUT:
            port, mask, *axes = _INPUT.unpack(payload)
            return port, mask, tuple(axes)
        if kind == VIDEO:
            frame_no, pts_us, key = _VIDEO.unpack_from(payload)
            return VideoPacket(frame_no, pts_us, bool(key), payload[_VIDEO.size:])
        if kind == AUDIO:
            (pts_us,) = _AUDIO.unpack_from(payload)
            return AudioPacket(pts_us, payload[_AUDIO.size:])
        if kind == RAW:
            frame_no, width, height = _RAW.unpack_from(payload)
            pixels = payload[_RAW.size:]
            if len(pixels) != width * height * 4:
                raise ProtocolError(f"raw frame of {width}x{height} carries {len(pixels)} bytes")
            return RawFrame(frame_no, width, height, pixels)
    except (struct.error, ValueError) as error:
        raise ProtocolError(f"malformed frame of type {kind}: {error}") from None
    raise ProtocolError(f"unknown frame type {kind}")


def split_frame(frame: bytes) -> tuple[int, bytes]:
    """One whole frame, as the ``encode_*`` functions build it, back into ``(type, payload)``."""
    if len(frame) <= _LENGTH.size:
        raise ProtocolError(f"a frame of {len(frame)} bytes has no type")
    (length,) = _LENGTH.unpack_from(frame)
    _check_length(length)
    if length != len(frame) - _LENGTH.size:
        raise ProtocolError(f"frame length {length} does not match the {len(frame) - _LENGTH.size} bytes after it")
    return frame[_LENGTH.size], frame[_LENGTH.size + 1:]


def _check_length(length: int) -> None:
    if not 1 <= length <= MAX_FRAME:
        raise ProtocolError(f"frame length {length} is out of range")


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next ``(type, payload)`` from an asyncio stream, or None at a clean end of stream."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise ProtocolError("stream ended inside a frame header") from None
        return None
    (length,) = _LENGTH.unpack(header)
    _check_length(length)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("stream ended inside a frame") from None
    return body[0], body[1:]


class FrameSocket:
    """Blocking framed I/O on one socket: the worker's side of the conversation.

    One thread reads (``recv``); sends may come from several (the frame loop, the state writer), so each
    whole frame is sent under a lock.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        self.sock = sock
        self._sending = threading.Lock()

    def send(self, frame: bytes) -> None:
        with self._sending:
            self.sock.sendall(frame)

    def _recv_exact(self, size: int) -> bytes | None:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self.sock.recv(min(remaining, 1 << 20))
            if not chunk:
                if chunks:
                    raise ProtocolError("stream ended inside a frame")
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> tuple[int, bytes] | None:
        """The next ``(type, payload)``, or None when the peer closed the socket."""
        header = self._recv_exact(_LENGTH.size)
        if header is None:
            return None
        (length,) = _LENGTH.unpack(header)
        _check_length(length)
        body = self._recv_exact(length)
        if body is None:
            raise ProtocolError("stream ended inside a frame")
        return body[0], body[1:]

    def close(self) -> None:
        self.sock.close()
