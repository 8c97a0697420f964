"""The realtime protocol: message layouts, and every kind of malformed client message refused."""

from __future__ import annotations

import json
import struct

import pytest

from treazr.streaming.protocol import (
    KIND_AUDIO,
    KIND_INPUT_ACK,
    KIND_VIDEO,
    Malformed,
    control,
    encode_input,
    pack_audio,
    pack_input_ack,
    pack_video,
    parse_client_text,
    parse_hello,
    parse_input,
)


def test_binary_layouts_match_the_documented_headers() -> None:
    video = pack_video(70_000, 1_166_683, True, b"\x00\x00\x00\x01\x65")
    assert len(video) == 16 + 5 and video[0] == KIND_VIDEO and video[1] & 1
    assert struct.unpack_from(">I", video, 4)[0] == 70_000
    assert struct.unpack_from(">d", video, 8)[0] == 1_166_683.0
    assert video[16:] == b"\x00\x00\x00\x01\x65"
    assert pack_video(1, 0, False, b"")[1] == 0
    audio = pack_audio(20_000, 10_000, b"opus")
    assert audio[0] == KIND_AUDIO and struct.unpack_from(">Id", audio, 4) == (10_000, 20_000.0)
    ack = pack_input_ack(7, 99)
    assert ack[0] == KIND_INPUT_ACK and struct.unpack_from(">II", ack, 4) == (7, 99) and len(ack) == 16
    assert json.loads(control("pong", t=1.5)) == {"type": "pong", "t": 1.5}


def test_input_round_trip_with_axes() -> None:
    message = parse_input(encode_input(1, 42, 0x0101, (-32767, 5, 0, 32767)))
    assert (message.port, message.seq, message.buttons, message.axes) == (1, 42, 0x0101, (-32767, 5, 0, 32767))
    assert parse_input(encode_input(0, 1, 0)).axes == ()


@pytest.mark.parametrize("data", [
    b"",
    b"\x10\x00",
    encode_input(0, 1, 0)[:-1],
    encode_input(0, 1, 0, (1, 2)) + b"\x00",  # length does not match the axis count
    b"\x10\x00\x05\x00" + b"\x00" * 6 + b"\x00" * 10,  # 5 axes, more than a pad has
    b"\x01" + b"\x00" * 9,  # a server-to-client kind
])
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(Malformed):
        parse_input(data)


def test_hello() -> None:
    hello = parse_hello(json.dumps({"type": "hello", "protocol": 1, "chroma444": True, "device": "x" * 200}))
    assert hello.protocol == 1 and hello.chroma444 and len(hello.device) == 80
    assert parse_hello('{"type": "hello", "protocol": 2}').chroma444 is False
    for text in ('{"type": "ping", "t": 1}', '{"type": "hello", "protocol": "1"}',
                 '{"type": "hello", "protocol": true}', "hello", "[]"):
        with pytest.raises(Malformed):
            parse_hello(text)


@pytest.mark.parametrize("text", [
    "{", "[1]", '{"type": 1}', '{"type": "teleport"}', '{"type": "ping"}', '{"type": "ping", "t": "now"}',
    '{"type": "save_state", "slot": 11}', '{"type": "load_state", "slot": -1}', '{"type": "save_state", "slot": true}',
    json.dumps({"type": "ping", "t": 1, "pad": "x" * 5000}),
    "[" * 4000, '{"type": "ping", "t": ' + "[" * 4000,  # deep enough for a RecursionError
])
def test_malformed_commands_are_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_client_text(text)


def test_commands() -> None:
    assert parse_client_text('{"type": "save_state"}')["slot"] == 0
    assert parse_client_text('{"type": "load_state", "slot": 10}')["slot"] == 10
    assert parse_client_text('{"type": "ping", "t": 12.5}')["t"] == 12.5
    assert parse_client_text('{"type": "end"}') == {"type": "end"}


@pytest.mark.parametrize("text", [
    '{"type": "assign_port", "port": 4, "user_id": 2}', '{"type": "assign_port", "port": -1, "user_id": 2}',
    '{"type": "assign_port", "port": 1, "user_id": "bob"}', '{"type": "assign_port", "port": true, "user_id": 2}',
    '{"type": "free_port"}', '{"type": "swap_ports", "ports": [0]}', '{"type": "swap_ports", "ports": [0, 9]}',
    '{"type": "swap_ports", "ports": "01"}', '{"type": "chat"}', '{"type": "chat", "text": ["hi"]}',
])
def test_malformed_together_commands_are_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_client_text(text)


def test_together_commands() -> None:
    assert parse_client_text('{"type": "assign_port", "port": 1, "user_id": null}')["user_id"] is None
    assert parse_client_text('{"type": "assign_port", "port": 3, "user_id": 7}')["port"] == 3
    assert parse_client_text('{"type": "swap_ports", "ports": [1, 0]}')["ports"] == [1, 0]
    assert parse_client_text('{"type": "chat", "text": "hi"}')["text"] == "hi"
