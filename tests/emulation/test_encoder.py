"""The encoders, read back by real FFmpeg decoders (PyAV), and what one frame turns into on the
worker's socket, in which order."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pytest

from treazr.emulation.encoder import AudioEncoder, VideoEncoder, codec_string, is_idr, nal_units, open_encoders
from treazr.emulation.protocol import AudioPacket, VideoPacket, decode_frame, split_frame
from treazr.errors import InvalidInput


def pixel_art(frame: int, height: int = 240, width: int = 256) -> np.ndarray:
    """8x8 tiles from a small palette scrolling sideways, plus a one-pixel line of saturated red."""
    rng = np.random.default_rng(7)
    tiles = rng.integers(0, 12, (height // 8 + 1, width // 8 + 1))
    palette = rng.integers(0, 256, (12, 4)).astype(np.uint8)
    image = palette[np.roll(tiles, frame // 4, axis=1)].repeat(8, 0).repeat(8, 1)[:height, :width]
    image[frame % height, :, :3] = (0, 0, 255)
    return np.ascontiguousarray(image)


def psnr(decoded_rgb: np.ndarray, bgrx: np.ndarray) -> float:
    error = np.mean((decoded_rgb.astype(np.float64) - bgrx[:, :, 2::-1].astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(float(error), 1e-12)))


def decode_all(units: list[bytes]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames: list[av.VideoFrame] = []
    for data in units:
        frames.extend(f for f in decoder.decode(av.Packet(data)) if isinstance(f, av.VideoFrame))
    return frames


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_video_round_trip_keeps_pixel_art_crisp(chroma: str) -> None:
    encoder = VideoEncoder(fps=60, chroma=chroma, bitrate_kbps=3000)  # type: ignore[arg-type]
    sources = [pixel_art(n) for n in range(90)]
    units = [encoder.encode(image, n, n * 16_667) for n, image in enumerate(sources)]
    frames = decode_all([unit.data for unit in units])
    assert len(frames) == len(sources)
    assert encoder.config is not None
    scale = encoder.config.scale
    assert scale == (1 if chroma == "444" else 2)
    scores = [psnr(frame.to_ndarray(format="rgb24")[::scale, ::scale], image)
              for frame, image in zip(frames, sources, strict=True)]
    assert np.median(scores) >= 40, scores
    # One-pixel chroma detail survives: the red line is still red, not smeared into its neighbours.
    last = frames[-1].to_ndarray(format="rgb24")[::scale, ::scale]
    line = 89 % 240
    assert last[line, :, 0].mean() > 200 and last[line, :, 2].mean() < 60


def test_only_idr_units_are_key_and_keyframes_come_on_request() -> None:
    encoder = VideoEncoder(fps=60, chroma="444")
    units = []
    for n in range(40):
        if n in (10, 25):
            encoder.request_keyframe()
        units.append(encoder.encode(pixel_art(n), n, n))
    keys = [n for n, unit in enumerate(units) if unit.key]
    assert keys == [0, 10, 25]  # no periodic keyframes, no scene-cut keyframes
    timings = encoder.take_encode_ms()
    assert len(timings) == 40 and all(t > 0 for t in timings) and encoder.take_encode_ms() == []
    assert all(is_idr(unit.data) == unit.key for unit in units)
    assert encoder.config is not None and encoder.config.codec.startswith("avc1.F4")  # High 4:4:4
    assert codec_string(units[10].data) == encoder.config.codec
    # A decoder that starts at the requested IDR decodes everything from there.
    assert len(decode_all([unit.data for unit in units[25:]])) == 15


def slices(annexb: bytes) -> int:
    """How many coded slices (NAL types 1 and 5) an access unit holds."""
    return sum(1 for nal_type, _ in nal_units(annexb) if nal_type in (1, 5))


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_each_frame_is_one_slice_encoded_on_the_callers_thread(chroma: str) -> None:
    # x264's slice threads cut every frame into one slice per thread; a retro frame is too small for
    # them to pay (see VideoEncoder._open), so the encoder runs on one thread: one slice per frame.
    encoder = VideoEncoder(fps=60, chroma=chroma)  # type: ignore[arg-type]
    units = [encoder.encode(pixel_art(n), n, n) for n in range(10)]
    assert [slices(unit.data) for unit in units] == [1] * 10


def test_a_new_frame_size_starts_a_new_stream() -> None:
    encoder = VideoEncoder(fps=60, chroma="420")
    first = encoder.encode(pixel_art(0), 0, 0)
    config = encoder.config
    second = encoder.encode(pixel_art(1, height=223, width=255), 1, 1)  # odd sizes are padded
    assert first.key and second.key
    assert config is not None and encoder.config is not None and encoder.config != config
    assert (encoder.config.width, encoder.config.height) == (255, 223)
    assert (encoder.config.coded_width, encoder.config.coded_height) == (512, 448)
    decoded = decode_all([second.data])
    assert (decoded[0].width, decoded[0].height) == (512, 448)
    picture = decoded[0].to_ndarray(format="rgb24")
    # A lone IDR under a 1.5-frame VBV is soft, but the picture must line up with the source pixels.
    aligned = psnr(picture[:446:2, :510:2], pixel_art(1, 223, 255))
    shifted = psnr(picture[2:448:2, :510:2], pixel_art(1, 223, 255))
    assert aligned >= 25 and aligned > shifted + 5


def test_switching_chroma_starts_a_new_stream() -> None:
    encoder = VideoEncoder(fps=60, chroma="444")
    encoder.encode(pixel_art(0), 0, 0)
    encoder.set_chroma("420")
    unit = encoder.encode(pixel_art(1), 1, 1)
    assert unit.key and encoder.config is not None and encoder.config.chroma == "420"


def test_bad_video_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        VideoEncoder(fps=60, chroma="422")  # type: ignore[arg-type]
    encoder = VideoEncoder(fps=60)
    with pytest.raises(InvalidInput, match="BGRX"):
        encoder.encode(np.zeros((240, 256, 3), np.uint8), 0, 0)
    with pytest.raises(InvalidInput):
        codec_string(b"\x00\x00\x01\x41\x9a")


@pytest.mark.parametrize("core_rate", [32040.5, 32768.0, 44100.0, 48000.0])
def test_audio_is_resampled_to_48k_opus_packets(core_rate: float) -> None:
    encoder = AudioEncoder(sample_rate=core_rate, packet_ms=10)
    seconds, tone = 1.0, 1000.0
    t = np.arange(int(core_rate * seconds)) / core_rate
    wave = (np.sin(2 * np.pi * tone * t) * 12000).astype(np.int16)
    stereo = np.stack([wave, wave], axis=1)
    packets = []
    for start in range(0, len(stereo), 534):  # about one video frame of audio per call
        packets.extend(encoder.encode(np.ascontiguousarray(stereo[start:start + 534])))
    assert 95 <= len(packets) <= 100
    assert all(p.duration_us == 10_000 for p in packets)
    assert [p.pts_us for p in packets[:3]] == [0, 10_000, 20_000]
    decoder = av.CodecContext.create("libopus", "r")
    pcm = np.concatenate([frame.to_ndarray().reshape(-1) for packet in packets
                          for frame in decoder.decode(av.Packet(packet.data))])
    channel = pcm.reshape(-1, 2)[:, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(channel[4800:]))
    peak_hz = np.argmax(spectrum) * 48000 / len(channel[4800:])
    assert abs(peak_hz - tone) < 5


def test_bad_audio_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        AudioEncoder(sample_rate=48000, packet_ms=7)
    encoder = AudioEncoder(sample_rate=48000)
    with pytest.raises(InvalidInput, match="int16"):
        encoder.encode(np.zeros((10, 2), np.float32))
    assert encoder.encode(np.zeros((0, 2), np.int16)) == []


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_colour_conversion_is_exactly_the_fixed_point_bt601_formula(chroma: str) -> None:
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, size=(37, 51, 4), dtype=np.uint8)  # odd sizes: padding must not leak
    encoder = VideoEncoder(fps=60, chroma=chroma)  # type: ignore[arg-type]
    encoder.encode(frame, 0, 0)
    b, g, r = (frame[:, :, i].astype(np.int64) for i in range(3))
    want_y = (77 * r + 150 * g + 29 * b + 128) >> 8
    want_cb = (128 * b - 43 * r - 85 * g + 32895) >> 8
    want_cr = (128 * r - 107 * g - 21 * b + 32895) >> 8
    luma, cb, cr = encoder._planes
    if chroma == "444":
        assert np.array_equal(luma[:37, :51], want_y)
    else:
        for dy in range(2):
            for dx in range(2):
                assert np.array_equal(luma[dy:74:2, dx:102:2], want_y)
    assert np.array_equal(cb[:37, :51], want_cb)
    assert np.array_equal(cr[:37, :51], want_cr)
    strided = np.ascontiguousarray(np.flipud(frame))[::-1]  # negative row stride, same picture
    encoder.encode(strided, 1, 1)
    assert np.array_equal(encoder._planes[1][:37, :51], want_cb)
    encoder.close()


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
    assert (messages[1].frame_no, messages[1].pts_us) == (1, 16_639)
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
    assert first and first[0].pts_us == 0  # so this is the encoder's first packet
    encoders.close()
