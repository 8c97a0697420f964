"""Reading the demo core's marker strip: which frame, and which buttons, a picture shows.

The encoding is defined at the top of ``emulator_cores/demo/treazr_demo.c``: along the top 16 rows,
blocks of 8x8 pixels; rows 0-7 hold the frame counter (32 bits, most significant first), rows 8-15
the port-1 mask (blocks 0-15) and the port-2 mask (blocks 16-31), bit 15 first. A block is a 1 when
the mean of its three colour channels is above 85 (ones are white/yellow/cyan, zeros black), so the
channel order does not matter (RGB from a decoder, BGRX from the core) and H.264 cannot flip a bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STRIP_HEIGHT", "decode_strip"]

STRIP_HEIGHT = 16
_WIDTH = 256
_HEIGHT = 240
_THRESHOLD = 85.0


def _bits(image: np.ndarray, row: int, scale_x: float, scale_y: float) -> list[int]:
    bits = []
    for block in range(32):
        # sample the block's middle 4x4 pixels: edges bleed in lossy video
        x0, x1 = round((block * 8 + 2) * scale_x), round((block * 8 + 6) * scale_x)
        y0, y1 = round((row * 8 + 2) * scale_y), round((row * 8 + 6) * scale_y)
        patch = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1), :3]
        bits.append(1 if float(patch.mean()) > _THRESHOLD else 0)
    return bits


def _number(bits: list[int]) -> int:
    value = 0
    for bit in bits:
        value = value << 1 | bit
    return value


def decode_strip(image: np.ndarray) -> tuple[int, int, int]:
    """``(frame_no, port1_mask, port2_mask)`` from a (height, width, 3 or 4) uint8 picture of the demo core.

    The picture may be scaled (blocks are found in proportion to a 256x240 frame).
    """
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected a (height, width, 3|4) image, got shape {image.shape}")
    height, width = image.shape[:2]
    scale_x, scale_y = width / _WIDTH, height / _HEIGHT
    counter = _bits(image, 0, scale_x, scale_y)
    masks = _bits(image, 1, scale_x, scale_y)
    return _number(counter), _number(masks[:16]), _number(masks[16:])
