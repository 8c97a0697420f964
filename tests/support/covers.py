"""Helpers for the tests of automatic covers: ROMs that give no cover, a look at a PNG's colours, and the
cover workers a process has running (read from /proc)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from tests.library import romgen

__all__ = ["colours", "eventually", "refused_nes", "silent_nes", "wait_until", "workers_of"]


def colours(png: bytes) -> int:
    """How many different colours a PNG shows (1: a flat, blank picture)."""
    with av.open(io.BytesIO(png), format="png_pipe") as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return len(np.unique(frame.reshape(-1, 3), axis=0))


def silent_nes(path: Path) -> Path:
    """A NES program that loops with the picture off: the screen stays one colour for as long as it runs."""
    prg = bytearray(32768)
    prg[0:3] = b"\x4c\x00\x80"  # $8000: jmp $8000
    prg[-6:] = b"\x00\x80" * 3  # NMI, reset and IRQ vectors: $8000
    return romgen.write(path, b"NES\x1a\x02\x01" + bytes(10) + bytes(prg) + bytes(8192))


def refused_nes(path: Path) -> Path:
    """A NES 2.0 file of mapper 4000, which no board has: the core refuses it at load."""
    return romgen.write(path, romgen.nes(mapper=4000, nes2=True))


def workers_of(parent: int) -> dict[int, int]:
    """The emulator workers ``parent`` started that are still running: pid -> niceness."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == parent and b"worker" in command and fields[0] != "Z":
            found[int(entry.name)] = int(fields[16])
    return found


def wait_until(what: str, check: Callable[[], object], timeout: float) -> object:
    """``check()``'s first true answer within ``timeout`` seconds, else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def eventually(what: str, check: Callable[[], object], timeout: float) -> object:
    """:func:`wait_until` for tests on an event loop (the loop keeps running while it waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
