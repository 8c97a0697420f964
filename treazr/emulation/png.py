"""A small PNG writer (zlib only) for screenshots and thumbnails of emulator frames."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from treazr.atomic import atomic_write

__all__ = ["bgrx_to_rgb", "encode_png", "write_png"]


def bgrx_to_rgb(frame: np.ndarray) -> np.ndarray:
    """A core frame (height, width, 4) BGRX as (height, width, 3) RGB."""
    return np.ascontiguousarray(frame[:, :, 2::-1])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of a (height, width, 3) uint8 RGB image."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (height, width, 3) uint8, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    rows = np.zeros((height, width * 3 + 1), np.uint8)  # filter byte 0 (None) before each row
    rows[:, 1:] = rgb.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + _chunk(b"IEND", b""))


def write_png(path: Path, rgb: np.ndarray) -> None:
    atomic_write(path, encode_png(rgb))
