"""The worker's encoder bridge: what one frame turns into on the socket, and in which order."""

from __future__ import annotations

from typing import Any

import numpy as np

from treazr.emulation.encoding import open_encoders
from treazr.emulation.protocol import AudioPacket, VideoPacket, decode_frame, split_frame


def _decoded(message: bytes) -> Any:
    """A socket message as the parent reads it."""
    return decode_frame(*split_frame(message))


def _frame_and_audio() -> tuple[np.ndarray, np.ndarray]:
    frame = np.zeros((224, 256, 4), np.uint8)
    frame[::2, ::3, 1] = 200
    tone = (np.sin(np.arange(1068) * 0.05) * 6000).astype(np.int16)
    return frame, np.stack([tone, tone], axis=1)  # two frames of 32 kHz stereo: whole Opus packets


def test_a_frame_gives_its_config_then_video_then_audio() -> None:
    encoders = open_encoders({"chroma": "444"}, fps=60.0, sample_rate=32040.0)
    frame, audio = _frame_and_audio()
    messages = [_decoded(m) for m in encoders.encode(1, 16_639, frame, audio)]
    assert messages[0]["event"] == "video_config" and messages[0]["width"] == 256
    assert isinstance(messages[1], VideoPacket) and messages[1].key
    assert messages[2:] and all(isinstance(m, AudioPacket) for m in messages[2:])
    encoders.close()


def test_the_video_goes_out_before_the_audio_is_encoded() -> None:
    """The worker sends each message as it comes: taking the picture must not have run the audio
    encoder, so a frame's video never waits for Opus."""
    encoders = open_encoders({"chroma": "444"}, fps=60.0, sample_rate=32040.0)
    frame, audio = _frame_and_audio()
    messages = iter(encoders.encode(1, 16_639, frame, audio))
    assert _decoded(next(messages))["event"] == "video_config"
    assert isinstance(_decoded(next(messages)), VideoPacket)
    first = encoders.audio.encode(audio)  # the frame's own audio was never asked for
    assert first and first[0].timestamp_us == 0  # so this is the encoder's first packet
    encoders.close()
