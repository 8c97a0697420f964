"""The realtime protocol between the web process and a player page, over one WebSocket per viewer.

Version :data:`PROTOCOL_VERSION`. The client speaks first with a JSON ``hello`` naming the version
it speaks; a client of another version gets an ``error`` with ``reload: true`` and the socket is
closed with :data:`CLOSE_RELOAD`. After ``welcome`` the server sends:

Binary (big-endian, 16-byte header, then the payload)::

    VIDEO      kind=1 u8 | flags u8 (bit 0: key = holds an IDR) | 0 u16 | frame_no u32 | pts_us f64 | Annex B
    AUDIO      kind=2 u8 | 0 u8 | 0 u16 | duration_us u32 | pts_us f64 | one Opus packet
    INPUT_ACK  kind=3 u8 | 0 u8 | 0 u16 | input seq u32 | frame_no u32 | 0 u32
               (sent just before the first frame that reflects every input up to seq, as far as the
               server can tell: the second frame the worker finishes after the input was forwarded)

JSON control messages ``{"type": ...}``: ``welcome`` (ports held, whether this viewer may control,
the chat so far), ``video_config``, ``state`` (paused, viewers, players, port holders), ``ports`` (the
ports this viewer now holds), ``chat``, ``pong``, ``degraded``, ``saved``, ``loaded``, ``error``,
``moved`` (the game went to another device of the same user; close :data:`CLOSE_MOVED` follows),
``rights`` (an admin changed this viewer's role: whether they may control now, and a line to show),
``ended``.

From the client: binary INPUT messages (below) and JSON ``ping``, ``keyframe`` (the decoder needs an
IDR), ``chat`` (``text``), and for the session's owner or an admin ``pause``, ``resume``, ``reset``,
``save_state``, ``load_state``, ``end``, ``assign_port`` (``port``, ``user_id`` or null),
``swap_ports`` (``ports``: two) and ``free_port`` (``port``; a player may also free their own)::

    INPUT      kind=16 u8 | port u8 | axis count u8 (0-4) | 0 u8 | seq u32 | buttons u16 | axes i16 * n

Input is idempotent: each message carries the whole state of one port, so a duplicate or a stale
sequence number is dropped without harm; a gap is only counted. A malformed message of any kind is
ignored and counted (:class:`Malformed`), never fatal.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLIENT_COMMANDS",
    "CLOSE_BEHIND",
    "CLOSE_ENDED",
    "CLOSE_FULL",
    "CLOSE_IDLE",
    "CLOSE_MOVED",
    "CLOSE_NOT_FOUND",
    "CLOSE_RELOAD",
    "CLOSE_REVOKED",
    "KIND_AUDIO",
    "KIND_INPUT",
    "KIND_INPUT_ACK",
    "KIND_VIDEO",
    "MAX_AXES",
    "PROTOCOL_VERSION",
    "Hello",
    "InputMessage",
    "Malformed",
    "control",
    "encode_input",
    "pack_audio",
    "pack_input_ack",
    "pack_video",
    "parse_client_text",
    "parse_hello",
    "parse_input",
]

PROTOCOL_VERSION = 1
KIND_VIDEO, KIND_AUDIO, KIND_INPUT_ACK, KIND_INPUT = 1, 2, 3, 16
FLAG_KEY = 1
MAX_AXES = 4
MAX_TEXT = 4096  # bytes in one JSON message from a client

# WebSocket close codes (4000-4999 are for applications).
CLOSE_RELOAD = 4000  # another protocol version: reload the page
CLOSE_ENDED = 4001  # the session ended
CLOSE_REVOKED = 4003  # the sign-in session was ended (logout, revoked device)
CLOSE_MOVED = 4004  # the game moved to another device of the same user
CLOSE_IDLE = 4008  # a viewer who only watched for a long time (a forgotten tab)
CLOSE_NOT_FOUND = 4404  # no such session, or not one this user may watch
CLOSE_FULL = 4429  # the session has all the viewers it may, or this person has all the sockets they may
CLOSE_BEHIND = 1013  # the viewer stopped reading its control messages; the page reconnects afresh

CLIENT_COMMANDS = frozenset({"ping", "keyframe", "pause", "resume", "reset", "save_state", "load_state", "end", "chat",
                             "assign_port", "swap_ports", "free_port"})
MAX_PORTS = 4

_VIDEO = struct.Struct(">BBHId")
_AUDIO = struct.Struct(">BBHId")
_ACK = struct.Struct(">BBHIII")
_INPUT = struct.Struct(">BBBBIH")


class Malformed(ValueError):
    """A client message that does not follow this protocol: ignored and counted."""


@dataclass(frozen=True)
class Hello:
    protocol: int
    chroma444: bool  # the browser's VideoDecoder supports High 4:4:4
    device: str


@dataclass(frozen=True)
class InputMessage:
    port: int
    seq: int
    buttons: int
    axes: tuple[int, ...]


def pack_video(frame_no: int, pts_us: int, key: bool, data: bytes) -> bytes:
    return _VIDEO.pack(KIND_VIDEO, FLAG_KEY if key else 0, 0, frame_no & 0xFFFFFFFF, float(pts_us)) + data


def pack_audio(pts_us: int, duration_us: int, data: bytes) -> bytes:
    return _AUDIO.pack(KIND_AUDIO, 0, 0, duration_us, float(pts_us)) + data


def pack_input_ack(seq: int, frame_no: int) -> bytes:
    return _ACK.pack(KIND_INPUT_ACK, 0, 0, seq & 0xFFFFFFFF, frame_no & 0xFFFFFFFF, 0)


def control(kind: str, **fields: Any) -> str:
    """One JSON control message."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def encode_input(port: int, seq: int, buttons: int, axes: tuple[int, ...] = ()) -> bytes:
    """What a client sends (the test client and the benchmarks use it; the page has its own copy)."""
    return _INPUT.pack(KIND_INPUT, port, len(axes), 0, seq, buttons) + struct.pack(f">{len(axes)}h", *axes)


def parse_input(data: bytes) -> InputMessage:
    if len(data) < _INPUT.size:
        raise Malformed(f"an input message has {len(data)} bytes, fewer than {_INPUT.size}")
    kind, port, axis_count, _, seq, buttons = _INPUT.unpack_from(data)
    if kind != KIND_INPUT:
        raise Malformed(f"unknown binary message kind {kind}")
    if axis_count > MAX_AXES or len(data) != _INPUT.size + 2 * axis_count:
        raise Malformed("an input message has the wrong length for its axes")
    axes = struct.unpack_from(f">{axis_count}h", data, _INPUT.size)
    return InputMessage(port=port, seq=seq, buttons=buttons, axes=tuple(axes))


def _json_object(text: str) -> dict[str, Any]:
    if len(text) > MAX_TEXT:
        raise Malformed(f"a control message of {len(text)} characters is too long")
    try:
        message = json.loads(text)
    except ValueError:
        raise Malformed("a control message is not JSON") from None
    except RecursionError:  # '[[[[...' a few thousand deep: malformed like any other, never a closed socket
        raise Malformed("a control message is nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Malformed("a control message must be a JSON object with a string 'type'")
    return message


def parse_hello(text: str) -> Hello:
    message = _json_object(text)
    if message["type"] != "hello":
        raise Malformed("the first message must be a hello")
    protocol = message.get("protocol")
    if not isinstance(protocol, int) or isinstance(protocol, bool):
        raise Malformed("hello.protocol must be an integer")
    device = message.get("device", "")
    return Hello(protocol=protocol, chroma444=message.get("chroma444") is True,
                 device=device[:80] if isinstance(device, str) else "")


def parse_client_text(text: str) -> dict[str, Any]:
    """A JSON command from a client, with its fields checked; raises :class:`Malformed`."""
    message = _json_object(text)
    kind = message["type"]
    if kind not in CLIENT_COMMANDS:
        raise Malformed(f"unknown command {kind[:40]!r}")
    if kind == "ping" and not isinstance(message.get("t"), (int, float)):
        raise Malformed("ping.t must be a number")
    if kind in ("save_state", "load_state"):
        slot = message.get("slot", 0)
        if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot <= 10:
            raise Malformed("a state slot is a number from 0 (Continue) to 10")
        message["slot"] = slot
    if kind in ("assign_port", "free_port"):
        message["port"] = _port(message.get("port"))
    if kind == "assign_port":
        user = message.get("user_id")
        if user is not None and (not isinstance(user, int) or isinstance(user, bool)):
            raise Malformed("assign_port.user_id must be a user id or null")
    if kind == "swap_ports":
        ports = message.get("ports")
        if not isinstance(ports, list) or len(ports) != 2:
            raise Malformed("swap_ports.ports must name two ports")
        message["ports"] = [_port(p) for p in ports]
    if kind == "chat" and not isinstance(message.get("text"), str):
        raise Malformed("chat.text must be a string")
    return message


def _port(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_PORTS:
        raise Malformed(f"a port is a number from 0 to {MAX_PORTS - 1}")
    return value
