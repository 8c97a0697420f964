"""PNG images of core frames (state thumbnails, covers), written with zlib alone."""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["is_blank", "png_from_bgrx", "read_png_size"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_from_bgrx(frame: np.ndarray) -> bytes:
    """A ``(height, width, 4)`` BGRX frame as an 8-bit RGB PNG."""
    if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
        raise ValueError(f"expected a (h, w, 4) uint8 frame, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    rgb = frame[:, :, 2::-1]
    rows = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0 (None) on every row
    rows[:, 1:] = rgb.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
                     _chunk(b"IEND", b"")))


def read_png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG; ValueError if it is not one."""
    if not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def is_blank(frame: np.ndarray) -> bool:
    """True when every pixel has the same colour (a game still booting, or a black screen)."""
    pixels = frame[:, :, :3].reshape(-1, 3)
    return bool(len(pixels) == 0 or (pixels == pixels[0]).all())
