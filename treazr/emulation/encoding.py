"""The worker's bridge to the streaming encoders (:mod:`treazr.streaming.encoder`).

When a session asks for encoded video (``WorkerSpec.video``), each emulated frame and its audio go
through one ``VideoEncoder`` and one ``AudioEncoder``; what comes out is already framed for the
socket. ``WorkerSpec.video`` holds ``chroma`` ("444" | "420"), ``bitrate_kbps``,
``audio_bitrate_kbps`` and ``packet_ms``; the parent fills them from ``settings.streaming``.
"""

from __future__ import annotations

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

    def encode(self, frame_no: int, pts_us: int, frame: np.ndarray, audio: np.ndarray | None) -> list[bytes]:
        unit = self.video.encode(frame, frame_no, pts_us)
        out: list[bytes] = []
        if self.video.config is not None and self.video.config != self._config and self.video.config.codec:
            self._config = self.video.config
            out.append(encode_control({"event": "video_config", **asdict(self._config)}))
        out.append(encode_video(unit.frame_number, unit.timestamp_us, unit.key, unit.data))
        if audio is not None and len(audio):
            out.extend(encode_audio(p.timestamp_us, p.data) for p in self.audio.encode(audio))
        return out

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
