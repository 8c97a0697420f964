"""Battery saves: placement per user and game, RetroArch .srm import/export, records of flushes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
from pathlib import Path

import pytest

from treazr.emulation.worker import WorkerHandle
from treazr.errors import InvalidContent, InvalidInput, NotFound
from treazr.saves import save_ram as saves
from treazr.services import Services
from treazr.streaming.launch import session_spec

USER, GAME = 3, 12


def test_saves_live_per_user_per_game(services: Services) -> None:
    path = saves.save_ram_path(services.data, USER, GAME)
    assert path == services.data.saves / "3" / "12.srm"
    assert saves.save_ram_path(services.data, 4, GAME) != path
    for bad in (-1, "../1", 1.5, True):
        with pytest.raises(InvalidInput):
            saves.save_ram_path(services.data, bad, GAME)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            saves.save_ram_path(services.data, USER, bad)  # type: ignore[arg-type]


async def test_srm_import_and_export_are_byte_identical(services: Services, tmp_path: Path) -> None:
    retroarch_srm = tmp_path / "Game (USA).srm"
    retroarch_srm.write_bytes(os.urandom(32768))
    stored = await saves.import_srm(services.db, services.data, USER, GAME, retroarch_srm)
    assert stored.read_bytes() == retroarch_srm.read_bytes()
    exported = saves.export_srm(services.data, USER, GAME, tmp_path / "out" / "Game (USA).srm")
    assert exported.read_bytes() == retroarch_srm.read_bytes()
    info = await saves.save_ram_info(services.db, services.data, USER, GAME)
    assert info is not None
    assert (info["size"], info["sha256"]) == (32768, hashlib.sha256(retroarch_srm.read_bytes()).hexdigest())
    assert await saves.save_ram_info(services.db, services.data, USER + 1, GAME) is None


async def test_bad_imports_change_nothing(services: Services, tmp_path: Path) -> None:
    await saves.import_srm(services.db, services.data, USER, GAME, b"good save")
    empty = tmp_path / "empty.srm"
    empty.write_bytes(b"")
    with pytest.raises(InvalidContent, match="empty"):
        await saves.import_srm(services.db, services.data, USER, GAME, empty)
    huge = tmp_path / "huge.srm"
    with huge.open("wb") as handle:
        handle.truncate(saves.MAX_SAVE_RAM + 1)
    with pytest.raises(InvalidContent, match="at most"):
        await saves.import_srm(services.db, services.data, USER, GAME, huge)
    with pytest.raises(NotFound):
        await saves.import_srm(services.db, services.data, USER, GAME, tmp_path / "missing.srm")
    assert saves.read_save_ram(services.data, USER, GAME) == b"good save"
    with pytest.raises(NotFound, match="no save"):
        saves.export_srm(services.data, USER + 1, GAME, tmp_path / "none.srm")


async def test_an_imported_srm_is_what_the_game_plays_with(services: Services, tmp_path: Path) -> None:
    # the demo core's save RAM: magic, best rally, points played, zero (little-endian)
    await saves.import_srm(services.db, services.data, USER, GAME, struct.pack("<4sIII", b"TZD1", 7, 41, 0))
    core = services.cores.require_core("demo")
    spec = await session_spec(services, user_id=USER, game_id=GAME, core=core, content_path=None)
    spec.realtime, spec.stream = False, False
    handle = await WorkerHandle.start(spec)
    try:
        async with asyncio.timeout(30):
            while handle.frame_no < 130:  # the first point is played at frame 118
                await asyncio.sleep(0.02)
    finally:
        await handle.stop()
    assert handle.error is None
    exported = saves.export_srm(services.data, USER, GAME, tmp_path / "demo.srm").read_bytes()
    magic, best, points, _ = struct.unpack("<4sIII", exported)
    assert (magic, best) == (b"TZD1", 7)
    assert points >= 42
    # what the worker flushed is reported at once, read from the file; the record adds the core
    info = await saves.save_ram_info(services.db, services.data, USER, GAME)
    assert info is not None and info["sha256"] == hashlib.sha256(exported).hexdigest()
    assert info["core_name"] == ""
    await saves.record_flush(services.db, services.data, USER, GAME, core_name="Treazr Demo")
    info = await saves.save_ram_info(services.db, services.data, USER, GAME)
    assert info is not None and info["core_name"] == "Treazr Demo" and info["size"] == 16
