"""The worker's encoders: core frames to H.264 access units, core audio to Opus packets (PyAV).

When a session asks for encoded video (``WorkerSpec.video``), :func:`open_encoders` gives the worker one
:class:`Encoders` pair, whose :meth:`Encoders.encode` turns each emulated frame and its audio into socket
messages (:mod:`treazr.emulation.protocol`). The video access unit comes out before the frame's audio is
encoded, so the worker sends it at once: the picture, which the player is waiting on, does not wait for
Opus. ``WorkerSpec.video`` holds ``chroma`` ("444" | "420"), ``bitrate_kbps``, ``audio_bitrate_kbps`` and
``packet_ms``; the web process fills them from ``settings.streaming``.

The video path is tuned for latency, not for file size: libx264 ``ultrafast`` + ``zerolatency``, one
access unit out per frame in, no B-frames, no periodic keyframes (a viewer that joins, a decoder that
reports an error or a dropped frame asks for an IDR with :meth:`VideoEncoder.request_keyframe`), and a
VBV buffer of about 1.5 frames so an IDR never takes several frame times to send.

Pixel art is kept crisp in one of two ways (``chroma``):

- ``"444"``: High 4:4:4 Predictive, full-resolution chroma (what Chromium decodes in WebCodecs);
- ``"420"``: the frame is first scaled up by 2 with nearest neighbour, so every source pixel still has
  its own chroma sample once 4:2:0 halves the chroma resolution. The luma plane is scaled, the chroma
  planes are computed at source resolution: that *is* the 4:2:0 chroma of the scaled frame.

Colour: full-range BT.601 with sRGB primaries and transfer written in the VUI, so a browser shows the
core's RGB values without any gamma or gamut conversion.

The hot path allocates nothing of its own: the BGRX frame is converted in 8.8 fixed point, in one C pass
(``tzf_bgrx_to_yuv`` in ``emulator_cores/frontend/treazr_colour.c``, declared with the frontend's other
functions in :mod:`treazr.emulation.libretro`), straight into the planes of one reused ``av.VideoFrame``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Any, Literal

import av
import numpy as np
from av.video.frame import PictureType

from treazr.emulation.libretro import frontend
from treazr.emulation.protocol import encode_audio, encode_control, encode_video
from treazr.errors import InvalidInput

__all__ = [
    "AudioEncoder",
    "Chroma",
    "Encoders",
    "OpusPacket",
    "VideoAccessUnit",
    "VideoConfig",
    "VideoEncoder",
    "codec_string",
    "is_idr",
    "nal_units",
    "open_encoders",
]

Chroma = Literal["444", "420"]

OPUS_RATE = 48000
_STATS_FRAMES = 240
_UPSCALE_420 = 2
_VIDEO_KEYS = {"chroma", "bitrate_kbps", "audio_bitrate_kbps", "packet_ms"}  # of WorkerSpec.video


@dataclass(frozen=True)
class VideoConfig:
    """What a browser needs to configure its ``VideoDecoder`` and draw the picture."""

    codec: str  # "avc1.PPCCLL", read from the SPS
    chroma: Chroma
    coded_width: int
    coded_height: int
    width: int  # the visible picture in source pixels, before any upscale
    height: int
    scale: int  # coded pixels per source pixel (1 for 4:4:4, 2 for 4:2:0)


@dataclass(frozen=True)
class VideoAccessUnit:
    """One encoded frame in Annex B; ``key`` only when it holds an IDR (and its SPS/PPS)."""

    data: bytes
    key: bool
    frame_no: int
    pts_us: int


@dataclass(frozen=True)
class OpusPacket:
    data: bytes
    pts_us: int  # of the first sample, on the 48 kHz timeline of this encoder
    duration_us: int


def nal_units(annexb: bytes) -> Iterator[tuple[int, int]]:
    """(NAL unit type, offset of its header byte) for each NAL unit of an Annex B access unit, in order."""
    start = annexb.find(b"\x00\x00\x01")
    while start >= 0 and start + 3 < len(annexb):
        header = start + 3
        yield annexb[header] & 0x1F, header
        start = annexb.find(b"\x00\x00\x01", header)


def is_idr(annexb: bytes) -> bool:
    """True when the access unit's first slice is an IDR slice (NAL type 5).

    Only the NAL headers up to the first slice are looked at: parameter sets and SEI come first.
    """
    for nal_type, _ in nal_units(annexb):
        if nal_type == 5:
            return True
        if 1 <= nal_type <= 4:
            return False
    return False


def codec_string(annexb: bytes) -> str:
    """The ``avc1.PPCCLL`` codec string from the SPS (NAL type 7) in an access unit."""
    for nal_type, header in nal_units(annexb):
        if nal_type == 7 and header + 4 <= len(annexb):
            profile, constraints, level = annexb[header + 1:header + 4]
            return f"avc1.{profile:02X}{constraints:02X}{level:02X}"
    raise InvalidInput("the access unit holds no sequence parameter set")


class VideoEncoder:
    """One H.264 stream for one play session. Not thread-safe: the worker's frame loop owns it."""

    def __init__(self, *, fps: float, chroma: Chroma = "444", bitrate_kbps: int = 3000) -> None:
        if chroma not in ("444", "420"):
            raise InvalidInput(f"chroma must be '444' or '420', not {chroma!r}")
        if not 1 <= fps <= 240:
            raise InvalidInput(f"a frame rate of {fps} fps cannot be streamed")
        self.fps = fps
        self.chroma: Chroma = chroma
        self.bitrate_kbps = bitrate_kbps
        self.config: VideoConfig | None = None  # known after the first frame
        self._context: av.VideoCodecContext | None = None
        self._frame: av.VideoFrame | None = None
        self._shape: tuple[int, int] = (0, 0)
        self._want_keyframe = True
        self._pts = 0
        self._planes: list[np.ndarray] = []
        self._encode_ms = np.zeros(_STATS_FRAMES, np.float64)  # a ring of the latest per-frame encode times
        self._timed = 0
        self._to_yuv = frontend().tzf_bgrx_to_yuv

    def request_keyframe(self) -> None:
        """Make the next frame an IDR (a viewer joined, a decoder failed, a viewer skipped frames)."""
        self._want_keyframe = True

    def set_chroma(self, chroma: Chroma) -> None:
        """Switch between 4:4:4 and upscaled 4:2:0; the next frame starts a new stream (and config)."""
        if chroma not in ("444", "420"):
            raise InvalidInput(f"chroma must be '444' or '420', not {chroma!r}")
        if chroma != self.chroma:
            self.chroma = chroma
            self._close_context()

    def encode(self, frame: np.ndarray, frame_no: int, pts_us: int) -> VideoAccessUnit:
        """Encode one BGRX frame of shape (h, w, 4); returns its access unit (zerolatency: no delay).

        A change of size or chroma starts a new stream whose first unit is an IDR; ``self.config``
        then describes it, so the caller should compare configs and tell viewers when it changed.
        """
        if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
            raise InvalidInput(f"expected a BGRX uint8 frame of shape (h, w, 4), got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        if (height, width) != self._shape or self._context is None:
            self._open(width, height)
        assert self._context is not None and self._frame is not None
        started = time.perf_counter()
        self._convert(frame)
        video_frame = self._frame
        video_frame.pts = self._pts
        self._pts += 1
        video_frame.pict_type = PictureType.I if self._want_keyframe else PictureType.NONE
        self._want_keyframe = False
        packets = self._context.encode(video_frame)
        data = b"".join(bytes(packet) for packet in packets)
        key = is_idr(data)
        if key and self.config is not None and not self.config.codec:
            self.config = replace(self.config, codec=codec_string(data))
        self._encode_ms[self._timed % _STATS_FRAMES] = (time.perf_counter() - started) * 1000
        self._timed += 1
        return VideoAccessUnit(data=data, key=key, frame_no=frame_no, pts_us=pts_us)

    def take_encode_ms(self) -> list[float]:
        """Conversion + encode time of each frame since the last call (at most the latest 240), in ms.

        The worker forwards these as an ``encoder_stats`` event; the web process puts them in
        ``treazr_play_encode_ms``.
        """
        count = min(self._timed, _STATS_FRAMES)
        end = self._timed % _STATS_FRAMES
        recent = np.roll(self._encode_ms, -end)[_STATS_FRAMES - count:]
        self._timed = 0
        return [round(float(v), 3) for v in recent]

    def close(self) -> None:
        self._close_context()

    # -- internals -------------------------------------------------------------------------------

    def _open(self, width: int, height: int) -> None:
        self._close_context()
        scale = 1 if self.chroma == "444" else _UPSCALE_420
        # x264 needs even sizes; the padding is never shown (the config names the visible size).
        chroma_w, chroma_h = width + (width & 1), height + (height & 1)
        coded_w, coded_h = chroma_w * scale, chroma_h * scale
        context = av.CodecContext.create("libx264", "w")
        assert isinstance(context, av.VideoCodecContext)
        rate = Fraction(round(self.fps * 1000), 1000)
        context.width, context.height = coded_w, coded_h
        context.pix_fmt = "yuv444p" if self.chroma == "444" else "yuv420p"
        context.time_base = 1 / rate
        context.framerate = rate
        context.bit_rate = self.bitrate_kbps * 1000
        context.color_range = 2  # AVCOL_RANGE_JPEG: full range
        context.colorspace = 6  # AVCOL_SPC_SMPTE170M (BT.601)
        context.color_primaries = 1  # BT.709 = sRGB primaries
        context.color_trc = 13  # IEC 61966-2-1 (sRGB)
        vbv_kbit = max(1, math.ceil(self.bitrate_kbps / self.fps * 1.5))
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": (f"keyint=infinite:min-keyint=1:scenecut=0:bframes=0:annexb=1:repeat-headers=1:"
                            f"vbv-maxrate={self.bitrate_kbps}:vbv-bufsize={vbv_kbit}"),
        }
        # One thread: a retro frame is too small for x264's slice threads to pay for their hand-offs.
        # Measured on SNES frames: p50 0.30-0.50 against 0.57-0.75 ms, p99 under 0.8 against up to
        # 2.6 ms, and about 30% less CPU per frame, which is what decides how many sessions fit.
        context.thread_count = 1
        context.open()
        self._context = context
        self._frame = av.VideoFrame(coded_w, coded_h, context.pix_fmt)
        self._frame.color_range = 2
        self._shape = (height, width)
        self._planes = [_plane_view(plane) for plane in self._frame.planes]
        for plane, fill in zip(self._planes, (0, 128, 128), strict=True):
            plane[:] = fill
        self.config = VideoConfig(codec="", chroma=self.chroma, coded_width=coded_w, coded_height=coded_h,
                                  width=width, height=height, scale=scale)
        self._want_keyframe = True

    def _convert(self, frame: np.ndarray) -> None:
        """BGRX -> the frame's Y/Cb/Cr planes in C (one pass; numpy took about 0.6 ms a NES frame)."""
        height, width = self._shape
        if frame.strides[1:] != (4, 1):
            frame = np.ascontiguousarray(frame)
        luma, cb, cr = self._planes
        self._to_yuv(
            frame.ctypes.data, width, height, frame.strides[0], luma.ctypes.data, luma.strides[0],
            cb.ctypes.data, cb.strides[0], cr.ctypes.data, cr.strides[0], 1 if self.chroma == "444" else _UPSCALE_420)

    def _close_context(self) -> None:
        self._context = None  # PyAV frees the encoder when the context is collected
        self._frame = None
        self._planes = []
        self._shape = (0, 0)


def _plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A writable (height, width) numpy view of one plane of a frame (rows may be padded)."""
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


class AudioEncoder:
    """Core audio (int16 stereo at the core's rate, which may be fractional) to Opus at 48 kHz.

    PyAV's encoder resamples (libswresample) and cuts the stream into ``packet_ms`` frames. A
    fractional core rate (SNES: 32040.5 Hz) is rounded: the 16 ppm error is far below the drift the
    player's jitter buffer absorbs anyway.
    """

    def __init__(self, *, sample_rate: float, bitrate_kbps: int = 96, packet_ms: int = 10) -> None:
        if packet_ms not in (10, 20):
            raise InvalidInput(f"Opus packets of {packet_ms} ms are not supported here; use 10 or 20")
        if not 8000 <= sample_rate <= 192000:
            raise InvalidInput(f"an audio rate of {sample_rate} Hz cannot be streamed")
        self.input_rate = round(sample_rate)
        self.packet_ms = packet_ms
        context = av.CodecContext.create("libopus", "w")
        assert isinstance(context, av.AudioCodecContext)
        context.sample_rate = OPUS_RATE
        context.layout = "stereo"
        context.format = "s16"
        context.bit_rate = bitrate_kbps * 1000
        context.options = {"frame_duration": str(packet_ms), "application": "lowdelay"}
        context.open()
        self._context = context
        self._packets = 0

    def encode(self, samples: np.ndarray) -> list[OpusPacket]:
        """Encode int16 samples of shape (n, 2); returns the whole packets that are ready (maybe none)."""
        if samples.ndim != 2 or samples.shape[1] != 2 or samples.dtype != np.int16:
            raise InvalidInput(f"expected int16 stereo samples of shape (n, 2), got {samples.shape} {samples.dtype}")
        if len(samples) == 0:
            return []
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = self.input_rate
        return [self._packet(bytes(packet)) for packet in self._context.encode(frame)]

    def _packet(self, data: bytes) -> OpusPacket:
        duration = self.packet_ms * 1000
        packet = OpusPacket(data=data, pts_us=self._packets * duration, duration_us=duration)
        self._packets += 1
        return packet

    def close(self) -> None:
        self._context = None  # type: ignore[assignment]


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
        yield encode_video(unit.frame_no, unit.pts_us, unit.key, unit.data)
        if audio is not None and len(audio):
            for packet in self.audio.encode(audio):
                yield encode_audio(packet.pts_us, packet.data)

    def request_keyframe(self) -> None:
        self.video.request_keyframe()

    def close(self) -> None:
        self.video.close()
        self.audio.close()


def open_encoders(video: dict[str, Any], fps: float, sample_rate: float) -> Encoders:
    """The encoders a ``WorkerSpec.video`` asks for, at the core's frame and sample rates."""
    unknown = set(video) - _VIDEO_KEYS
    if unknown:
        raise InvalidInput(f"unknown video settings: {', '.join(sorted(unknown))}")
    return Encoders(
        VideoEncoder(fps=fps, chroma=video.get("chroma", "444"), bitrate_kbps=int(video.get("bitrate_kbps", 3000))),
        AudioEncoder(sample_rate=sample_rate, bitrate_kbps=int(video.get("audio_bitrate_kbps", 96)),
                     packet_ms=int(video.get("packet_ms", 10))))
