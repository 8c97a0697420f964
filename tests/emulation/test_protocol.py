"""The worker protocol's frames: round trips and malformed input."""

from __future__ import annotations

import asyncio
import socket

import pytest

from treazr.emulation.protocol import (
    AudioPacket,
    FrameSocket,
    ProtocolError,
    RawFrame,
    VideoPacket,
    decode_frame,
    encode_audio,
    encode_control,
    encode_input,
    encode_raw,
    encode_video,
    read_frame,
    split_frame,
)


def test_round_trips() -> None:
    paused = {"op": "pause", "paused": True}
    assert decode_frame(*split_frame(encode_control(paused))) == paused
    assert decode_frame(*split_frame(encode_input(1, 0x1_0110))) == (1, 0x0110, (0, 0, 0, 0))
    assert decode_frame(*split_frame(encode_input(0, 16, (-32768, 32767)))) == (0, 16, (-32768, 32767, 0, 0))
    assert decode_frame(*split_frame(encode_video(7, 116_000, True, b"\0\0\1\x65"))) == VideoPacket(7, 116_000, True,
                                                                                               b"\0\0\1\x65")
    assert decode_frame(*split_frame(encode_audio(-5, b"pcm"))) == AudioPacket(-5, b"pcm")
    raw = decode_frame(*split_frame(encode_raw(3, 2, 1, bytes(range(8)))))
    assert isinstance(raw, RawFrame) and raw.array().shape == (1, 2, 4) and raw.array()[0, 1, 0] == 4


def test_malformed_frames() -> None:
    with pytest.raises(ProtocolError, match="carries 7 bytes"):
        decode_frame(*split_frame(encode_raw(3, 2, 1, bytes(7))))
    with pytest.raises(ProtocolError, match="JSON object"):
        decode_frame(1, b"[1]")
    with pytest.raises(ProtocolError, match="unknown frame type 9"):
        decode_frame(9, b"")
    with pytest.raises(ProtocolError):
        decode_frame(3, b"short")
    whole = encode_video(1, 0, False, b"\0\0\1\x41")
    with pytest.raises(ProtocolError, match="does not match"):
        split_frame(whole[:-1])
    with pytest.raises(ProtocolError, match="has no type"):
        split_frame(whole[:4])
    with pytest.raises(ProtocolError, match="out of range"):
        split_frame(bytes(4) + whole[4:])


def test_blocking_and_async_ends_agree() -> None:
    async def run() -> None:
        left, right = socket.socketpair()
        worker_side = FrameSocket(right)
        reader, writer = await asyncio.open_unix_connection(sock=left)
        try:
            payload = bytes(1 << 21)  # larger than one recv
            sent = asyncio.create_task(asyncio.to_thread(worker_side.send, encode_raw(1, 512, 1024, payload)))
            assert await read_frame(reader) == split_frame(encode_raw(1, 512, 1024, payload))
            await sent
            writer.write(encode_input(0, 16))
            await writer.drain()
            assert await asyncio.to_thread(worker_side.recv) == split_frame(encode_input(0, 16))
            writer.write(b"\0\0")  # half a header, then the end
            writer.close()
            await writer.wait_closed()
            with pytest.raises(ProtocolError):
                await asyncio.to_thread(worker_side.recv)
        finally:
            worker_side.close()

    asyncio.run(run())
