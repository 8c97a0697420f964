"""The worker's bridge to the streaming encoders (:mod:`treazr.streaming.encoder`).

When a session asks for encoded video (``WorkerSpec.video``), each emulated frame and its audio go
through one ``VideoEncoder`` and one ``AudioEncoder``; what comes out is already framed for the
socket. The video access unit comes out before the frame's audio is encoded, so the worker sends it at
once: the picture, which the player is waiting on, does not wait for Opus. ``WorkerSpec.video`` holds
``chroma`` ("444" | "420"), ``bitrate_kbps``, ``audio_bitrate_kbps`` and ``packet_ms``; the parent
fills them from ``settings.streaming``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from treazr.emulation.protocol import encode_audio, encode_control, encode_video
from treazr.errors import InvalidInput
from treazr.streaming.encoder import AudioEncoder, VideoConfig, VideoEncoder

__all__ = ["Encoders", "open_encoders"]

_KEYS = {"chroma", "bitrate_kbps", "audio_bitrate_kbps", "packet_ms"}


class Encoders:
    """H.264 + Opus for one session. A new video config (size or chroma change) is announced as a
    ``video_config`` event just before the key frame that starts it."""

    video_codec = "h264"
    audio_codec = "opus"

    def __init__(self, video: VideoEncoder, audio: AudioEncoder) -> None:
        self.video = video
        self.audio = audio
        self._config: VideoConfig | None = None

    def encode(self, frame_no: int, pts_us: int, frame: np.ndarray, audio: np.ndarray | None) -> Iterator[bytes]:
        """The socket messages of one frame, video first; the audio is encoded only when asked for the
        messages after the video's."""
        unit = self.video.encode(frame, frame_no, pts_us)
        if self.video.config is not None and self.video.config != self._config and self.video.config.codec:
            self._config = self.video.config
            yield encode_control({"event": "video_config", **asdict(self._config)})
        yield encode_video(unit.frame_number, unit.timestamp_us, unit.key, unit.data)
        if audio is not None and len(audio):
            for packet in self.audio.encode(audio):
                yield encode_audio(packet.timestamp_us, packet.data)

    def request_keyframe(self) -> None:
        self.video.request_keyframe()

    def close(self) -> None:
        self.video.close()
        self.audio.close()


def open_encoders(video: dict[str, Any], fps: float, sample_rate: float) -> Encoders:
    unknown = set(video) - _KEYS
    if unknown:
        raise InvalidInput(f"unknown video settings: {', '.join(sorted(unknown))}")
    return Encoders(
        VideoEncoder(fps=fps, chroma=video.get("chroma", "444"), bitrate_kbps=int(video.get("bitrate_kbps", 3000))),
        AudioEncoder(sample_rate=sample_rate, bitrate_kbps=int(video.get("audio_bitrate_kbps", 96)),
                     packet_ms=int(video.get("packet_ms", 10))))
