"""The marker-strip decoder on pictures drawn to the encoding in emulator_cores/demo/treazr_demo.c."""

from __future__ import annotations

import numpy as np
import pytest

from treazr.emulation.demo_strip import decode_strip


def _draw(frame_no: int, port1: int, port2: int) -> np.ndarray:
    """An RGB picture with the strip as the demo core draws it (and a busy picture below)."""
    picture = np.full((240, 256, 3), 40, np.uint8)
    picture[:16] = 0
    for bit in range(32):
        if frame_no >> (31 - bit) & 1:
            picture[0:8, bit * 8:bit * 8 + 8] = (255, 255, 255)
    for bit in range(16):
        if port1 >> (15 - bit) & 1:
            picture[8:16, bit * 8:bit * 8 + 8] = (255, 255, 0)
        if port2 >> (15 - bit) & 1:
            picture[8:16, 128 + bit * 8:136 + bit * 8] = (0, 255, 255)
    return picture


@pytest.mark.parametrize(("frame_no", "port1", "port2"), [(0, 0, 0), (1, 1, 0x8000), (0xFFFFFFFF, 0xFFFF, 0xFFFF),
                                                         (123456789, 0x0110, 0x0F0F)])
def test_decodes_rgb_bgrx_and_scaled_pictures(frame_no: int, port1: int, port2: int) -> None:
    rgb = _draw(frame_no, port1, port2)
    bgrx = np.concatenate([rgb[:, :, ::-1], np.zeros((240, 256, 1), np.uint8)], axis=2)
    doubled = rgb.repeat(2, axis=0).repeat(2, axis=1)
    for picture in (rgb, bgrx, doubled):
        assert decode_strip(picture) == (frame_no, port1, port2)


def test_noise_does_not_flip_bits() -> None:
    rgb = _draw(0xA5A5A5A5, 0x1234, 0xFEDC).astype(np.int16)
    noise = np.random.default_rng(7).integers(-60, 61, rgb.shape)
    assert decode_strip(np.clip(rgb + noise, 0, 255).astype(np.uint8)) == (0xA5A5A5A5, 0x1234, 0xFEDC)


def test_rejects_a_picture_without_colour_channels() -> None:
    with pytest.raises(ValueError, match="expected a"):
        decode_strip(np.zeros((240, 256), np.uint8))
