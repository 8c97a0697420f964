"""Running content headless, as fast as the core goes (or paced): ``treazr run`` and thumbnails.

Runs the core in this process, so callers that must survive a crashing core run it in a subprocess
(tests do: ``treazr run ... --json``).
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from treazr.atomic import atomic_write
from treazr.emulation.core import CoreHost
from treazr.emulation.images import png_from_bgrx
from treazr.emulation.pacing import Pacer
from treazr.emulation.registry import core_dirs
from treazr.emulation.replay import InputLog, InputRecorder, play
from treazr.errors import InvalidContent, NotFound

__all__ = ["HeadlessRun", "content_extension", "find_core", "frame_hash", "run_headless"]

DEMO_CORE = "treazr_demo"


@dataclass
class HeadlessRun:
    rom: Path | None
    core: Path
    frames: int = 60
    input_log: InputLog | None = None
    state: bytes | None = None
    screenshot: Path | None = None
    frame_hashes: bool = False
    realtime: bool = False
    record: Path | None = None
    save_state: Path | None = None
    save_ram: Path | None = None
    options: dict[str, str] = field(default_factory=dict)
    system_dir: Path | None = None
    temp_dir: Path | None = None


def find_core(name: str, extra_dirs: list[str] | tuple[str, ...] = ()) -> Path:
    """A core given as a path, or by name (``mgba``, ``mgba_libretro``, ``demo``) in the core folders
    (:func:`~treazr.emulation.registry.core_dirs`, ``extra_dirs`` first)."""
    as_path = Path(name).expanduser()
    if as_path.suffix == ".so" or "/" in name:
        if as_path.is_file():
            return as_path
        raise NotFound(f"no libretro core at {as_path}")
    stem = DEMO_CORE if name in ("demo", DEMO_CORE) else name.removesuffix("_libretro")
    folders = core_dirs(extra_dirs)
    for folder in folders:
        candidate = folder / f"{stem}_libretro.so"
        if candidate.is_file():
            return candidate
    raise NotFound(f"no libretro core named {name!r} (looked in {', '.join(map(str, folders))})")


def content_extension(rom: Path, known: Collection[str]) -> str:
    """The extension that says what ``rom`` is: its own, or for a zip the largest file inside whose
    extension is ``known`` (the registry's :attr:`~treazr.emulation.registry.CoreRegistry.content_extensions`)."""
    if not rom.is_file():
        raise InvalidContent(f"no such content file: {rom}")
    try:
        with zipfile.ZipFile(rom) as archive:
            for member in sorted(archive.infolist(), key=lambda m: -m.file_size):
                ext = Path(member.filename).suffix.lower().lstrip(".")
                if ext in known:
                    return ext
    except (zipfile.BadZipFile, OSError):
        pass  # not a zip (or a broken one, which loading reports clearly)
    return rom.suffix.lower().lstrip(".")


def frame_hash(frame: np.ndarray) -> str:
    """SHA-1 over the frame's size and its B, G, R bytes (the X byte is whatever the core left there)."""
    digest = hashlib.sha1(f"{frame.shape[1]}x{frame.shape[0]}:".encode())
    digest.update(np.ascontiguousarray(frame[:, :, :3]).tobytes())
    return digest.hexdigest()


class _Session:
    """Applies input to the host (noting it when recording), runs frames in bounded native batches
    and collects their audio, so memory stays flat however many frames are asked for."""

    BATCH = 300

    def __init__(self, host: CoreHost, recorder: InputRecorder | None) -> None:
        self.host, self.recorder = host, recorder
        self.done = 0
        self.audio_frames = 0
        self.audio_digest = hashlib.sha1()

    def set_input(self, port: int, mask: int, axes: Sequence[int] = ()) -> None:
        self.host.set_input(port, mask, axes)
        if self.recorder:
            self.recorder.set_input(self.done, port, mask, axes)

    def run_frames(self, count: int) -> None:
        while count > 0:
            step = min(count, self.BATCH)
            self.host.run_frames(step)
            audio = self.host.take_audio()
            self.audio_frames += len(audio)
            self.audio_digest.update(audio.tobytes())
            self.done += step
            count -= step


def _drive(host: CoreHost, job: HeadlessRun, log: InputLog, fps: float) -> tuple[_Session, list[str], float]:
    hashes: list[str] = []
    pacer = Pacer(fps) if job.realtime else None
    recorder = InputRecorder(host.system_info.name, host.system_info.version, job.state) if job.record else None
    session = _Session(host, recorder)

    def on_frame(index: int) -> None:
        if job.frame_hashes:
            view = host.video_view()
            hashes.append(frame_hash(view) if view is not None else "")
        if pacer:
            pacer.wait()

    started = time.perf_counter()
    play(session, log, job.frames, on_frame if job.frame_hashes or job.realtime else None)
    elapsed = time.perf_counter() - started
    if recorder and job.record:
        recorder.finish(job.frames).save(job.record)
    return session, hashes, elapsed


def run_headless(job: HeadlessRun) -> dict[str, Any]:
    """Run ``job`` and report what happened (the ``--json`` payload of ``treazr run``)."""
    if job.frames < 0:
        raise InvalidContent("--frames must not be negative")
    log = job.input_log or InputLog()
    state = job.state if job.state is not None else log.state
    job.state = state
    with CoreHost(job.core, system_dir=job.system_dir, save_dir=job.temp_dir, options=job.options,
                  temp_dir=job.temp_dir) as host:
        av = host.load_game(job.rom)
        if job.save_ram and job.save_ram.is_file():
            host.load_save_ram(job.save_ram.read_bytes())
        if state is not None:
            host.unserialize(state)
        session, hashes, elapsed = _drive(host, job, log, av.fps)
        frame = host.video_frame()
        if job.screenshot:
            atomic_write(job.screenshot, png_from_bgrx(frame))
        if job.save_state:
            atomic_write(job.save_state, host.serialize())
        save_ram = host.save_ram()
        if job.save_ram:
            atomic_write(job.save_ram, save_ram)
        info, now = host.system_info, host.av_info
        return {
            "core": info.name, "core_version": info.version, "core_path": str(job.core),
            "rom": str(job.rom) if job.rom else None, "frames": job.frames,
            "seconds": round(elapsed, 4), "fps": round(job.frames / elapsed, 1) if elapsed > 0 else None,
            "av_info": asdict(now), "width": int(frame.shape[1]), "height": int(frame.shape[0]),
            "frame_hash": frame_hash(frame), "frame_hashes": hashes if job.frame_hashes else None,
            "audio_frames": session.audio_frames, "audio_hash": session.audio_digest.hexdigest(),
            "save_ram_bytes": len(save_ram), "counters": host.counters,
            "screenshot": str(job.screenshot) if job.screenshot else None,
        }
