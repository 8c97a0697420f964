"""``CoreHost``: one libretro core running in this process, driven through the C helper.

One core per process: cores keep global state and do not fully reset when re-initialised, so a play
session gets its own worker process (``treazr.emulation.worker``) and a second ``CoreHost`` in the
same process is refused.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from treazr.emulation import libretro as lr
from treazr.emulation.content import PreparedContent, prepare_content, private_temp_dir
from treazr.errors import CoreError, InvalidContent

__all__ = ["AvInfo", "CoreHost", "CoreOption", "SystemInfo"]

_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


@dataclass(frozen=True)
class SystemInfo:
    name: str
    version: str
    extensions: tuple[str, ...]
    need_fullpath: bool
    block_extract: bool


@dataclass(frozen=True)
class AvInfo:
    fps: float
    sample_rate: float
    base_width: int
    base_height: int
    max_width: int
    max_height: int
    aspect: float


@dataclass(frozen=True)
class CoreOption:
    key: str
    description: str
    default: str
    values: tuple[str, ...]


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


class CoreHost:
    """A libretro core loaded into this process, with its callbacks answered by ``libtreazr_frontend``."""

    def __init__(self, core_path: str | Path, *, system_dir: str | Path | None = None,
                 save_dir: str | Path | None = None, options: dict[str, str] | None = None,
                 temp_dir: str | Path | None = None) -> None:
        self.core_path = Path(core_path)
        if not self.core_path.is_file():
            raise CoreError(f"no libretro core at {self.core_path}")
        self._lib = lr.frontend()
        self._bind_hot_calls()
        self._axes = (ctypes.c_int16 * 4)()
        self._temp_parent = Path(temp_dir) if temp_dir else None
        self._content: PreparedContent | None = None
        self._scratch: Path | None = None
        self._loaded = False
        self._closed = False
        self.log = logging.getLogger(f"treazr.core.{self.core_path.stem.removesuffix('_libretro')}")
        self._check(self._lib.tzf_open(str(self.core_path).encode()), f"cannot open core {self.core_path.name}")
        try:
            self.system_info = self._start(system_dir, save_dir, options or {})
        except BaseException:
            self.close()
            raise

    def _bind_hot_calls(self) -> None:
        """Look up what every frame uses once, so a frame costs as few Python operations as possible."""
        self._run, self._video = self._lib.tzf_run_frames, self._lib.tzf_video
        self._width, self._height = ctypes.c_uint(), ctypes.c_uint()
        self._width_ref, self._height_ref = ctypes.byref(self._width), ctypes.byref(self._height)
        self._audio_count = ctypes.c_size_t()
        self._audio_count_ref = ctypes.byref(self._audio_count)
        self._view_key: tuple[int, int, int] | None = None
        self._view: np.ndarray | None = None

    def _start(self, system_dir: str | Path | None, save_dir: str | Path | None,
               options: dict[str, str]) -> SystemInfo:
        # Cores read these folders while initialising and some refuse content without them (nestopia,
        # pce_fast): a folder not given is a private scratch folder, removed on close.
        if system_dir is None or save_dir is None:
            self._scratch = private_temp_dir(self._temp_parent)
        self._lib.tzf_set_directories(_encode_dir(system_dir or self._scratch), _encode_dir(save_dir or self._scratch))
        for key, value in options.items():
            self.set_option(key, value)
        self._check(self._lib.tzf_init(), "the core failed to initialise")
        info = lr.RetroSystemInfo()
        self._lib.tzf_system_info(ctypes.byref(info))
        self.drain_logs()
        return SystemInfo(
            name=_text(info.library_name), version=_text(info.library_version),
            extensions=tuple(e for e in _text(info.valid_extensions).lower().split("|") if e),
            need_fullpath=bool(info.need_fullpath), block_extract=bool(info.block_extract))

    # -- options -------------------------------------------------------------------------------------

    def set_option(self, key: str, value: str) -> None:
        """Override a core option (per game or per core); the core sees it at its next GET_VARIABLE."""
        self._check(self._lib.tzf_set_option(key.encode(), str(value).encode()), f"cannot set option {key}")

    @property
    def options(self) -> list[CoreOption]:
        """The options the core declared (SET_VARIABLES or core options v1/v2), with their defaults."""
        found = []
        key, desc, default, values = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
        for i in range(self._lib.tzf_option_count()):
            self._lib.tzf_option_at(i, ctypes.byref(key), ctypes.byref(desc), ctypes.byref(default),
                                    ctypes.byref(values))
            found.append(CoreOption(_text(key.value), _text(desc.value), _text(default.value),
                                    tuple(v for v in _text(values.value).split("|") if v)))
        return found

    # -- content ---------------------------------------------------------------------------------------

    def load_game(self, path: str | Path | None) -> AvInfo:
        """Load content (a file, a zip holding one, or ``None`` for cores that need no content)."""
        if self._loaded:
            raise CoreError("a game is already loaded in this core host")
        if path is None:
            self._check(self._lib.tzf_load_game(None, None, 0, None), "cannot start the core without content")
        else:
            self._content = prepare_content(Path(path), self.system_info, self._temp_parent)
            content = self._content
            self._check(self._lib.tzf_load_game(str(content.path).encode(), content.address, content.size, None),
                        f"cannot load {Path(path).name} with {self.system_info.name}")
        self._loaded = True
        self.drain_logs()
        return self.av_info

    @property
    def av_info(self) -> AvInfo:
        """The current geometry and timing; changes when the core sends SET_GEOMETRY/SET_SYSTEM_AV_INFO."""
        info = lr.RetroSystemAvInfo()
        self._lib.tzf_av_info(ctypes.byref(info))
        g, t = info.geometry, info.timing
        aspect = g.aspect_ratio if g.aspect_ratio > 0 else (g.base_width / g.base_height if g.base_height else 0.0)
        return AvInfo(fps=t.fps, sample_rate=t.sample_rate, base_width=g.base_width, base_height=g.base_height,
                      max_width=g.max_width, max_height=g.max_height, aspect=float(aspect))

    @property
    def av_info_serial(self) -> int:
        """Grows by one whenever the core changes its geometry or timing: cheap to poll each frame."""
        return int(self._lib.tzf_av_info(ctypes.byref(lr.RetroSystemAvInfo())))

    # -- running ---------------------------------------------------------------------------------------

    def set_input(self, port: int, buttons_mask: int, axes: Sequence[int] = ()) -> None:
        """Hold ``buttons_mask`` (RETRO_DEVICE_ID_JOYPAD_* bits) and the analog ``axes`` (left x, left y,
        right x, right y: -32768..32767, y pointing down; missing ones are centred) on ``port`` until changed."""
        self._lib.tzf_set_input(port, buttons_mask & 0xFFFF)
        held = self._axes
        for index in range(4):
            held[index] = max(-32768, min(32767, int(axes[index]))) if index < len(axes) else 0
        self._lib.tzf_set_axes(port, held)

    def run_frame(self) -> None:
        self.run_frames(1)

    def run_frames(self, count: int) -> None:
        """Run ``count`` frames in one native call, with the input held as it is."""
        self._require_game()
        flags = self._check(self._run(count), "the core cannot run")
        if flags & lr.RUN_LOGS:
            self.drain_logs()
        if flags & lr.RUN_SHUTDOWN:
            raise CoreError(f"{self.system_info.name} asked to shut down")

    @property
    def counters(self) -> dict[str, int]:
        values = self._lib_counters()
        return {"frames": values[0], "dupes": values[1], "input_polls": values[2], "input_queries": values[3]}

    @property
    def supports_no_game(self) -> bool:
        return bool(self._lib_counters()[5])

    def video_frame(self, out: np.ndarray | None = None) -> np.ndarray:
        """A copy of the last frame as (height, width, 4) BGRX bytes; black at the base size before any.

        ``out``, when its shape matches, receives the copy (saves allocating a fresh array per frame).
        Consumers that use the frame at once (an encoder that copies anyway) can take ``video_view()``.
        """
        view = self.video_view()
        if view is None:
            info = self.av_info
            return np.zeros((max(info.base_height, 1), max(info.base_width, 1), 4), np.uint8)
        if out is not None and out.shape == view.shape and out.dtype == view.dtype:
            np.copyto(out, view)
            return out
        return view.copy()

    def video_view(self) -> np.ndarray | None:
        """The last frame without a copy: valid only until the next ``run_frames``."""
        width, height = self._width, self._height
        address = self._video(self._width_ref, self._height_ref)
        if not address or not width.value:
            return None
        key = (address, width.value, height.value)
        if key != self._view_key:  # the buffer moves only when the frame grows: reuse the view
            raw = (ctypes.c_uint8 * (width.value * height.value * 4)).from_address(address)
            self._view = np.frombuffer(memoryview(raw), np.uint8).reshape(height.value, width.value, 4)
            self._view_key = key
        return self._view

    def take_audio(self) -> np.ndarray:
        """The stereo samples produced since the last call, as (n, 2) int16."""
        count = self._audio_count
        address = self._lib.tzf_audio(self._audio_count_ref)
        if not address or not count.value:
            return np.zeros((0, 2), np.int16)
        samples = np.empty((count.value, 2), np.int16)
        ctypes.memmove(samples.ctypes.data, address, count.value * 4)
        self._lib.tzf_audio_clear()
        return samples

    def reset(self) -> None:
        self._require_game()
        self._lib.tzf_reset()

    # -- states and save RAM ---------------------------------------------------------------------------

    def serialize(self) -> bytes:
        self._require_game()
        size = int(self._lib.tzf_serialize_size())
        if size == 0:
            raise CoreError(f"{self.system_info.name} does not support save states")
        buffer = ctypes.create_string_buffer(size)
        self._check(self._lib.tzf_serialize(buffer, size), "cannot save the state")
        return buffer.raw

    def unserialize(self, state: bytes) -> None:
        self._require_game()
        if not state:
            raise InvalidContent("the save state is empty")
        buffer = ctypes.create_string_buffer(bytes(state), len(state))
        self._check(self._lib.tzf_unserialize(buffer, len(state)), "cannot load the state")

    def save_ram(self) -> bytes:
        """The battery save RAM as it is now (its size is read each time: mgba's grows on first use)."""
        return self.memory(lr.MEMORY_SAVE_RAM)

    def load_save_ram(self, data: bytes) -> None:
        self._require_game()
        size = ctypes.c_size_t()
        address = self._lib.tzf_memory(lr.MEMORY_SAVE_RAM, ctypes.byref(size))
        if not address or size.value == 0:
            if data:
                raise InvalidContent(f"{self.system_info.name} has no save RAM for this game")
            return
        if len(data) > size.value:
            raise InvalidContent(f"the save is {len(data)} bytes but this game's save RAM holds {size.value}")
        ctypes.memmove(address, data, len(data))

    def memory(self, memory_id: int) -> bytes:
        self._require_game()
        size = ctypes.c_size_t()
        address = self._lib.tzf_memory(memory_id, ctypes.byref(size))
        return ctypes.string_at(address, size.value) if address and size.value else b""

    # -- logs and lifetime -----------------------------------------------------------------------------

    def drain_logs(self) -> None:
        """Move the core's log lines from the C ring into our logging."""
        text = ctypes.create_string_buffer(512)
        dropped = ctypes.c_uint()
        while True:
            level = self._lib.tzf_log_next(text, len(text), ctypes.byref(dropped))
            if dropped.value:
                self.log.warning("%d core log lines were dropped (log ring full)", dropped.value)
            if level < 0:
                return
            self.log.log(_LOG_LEVELS.get(level, logging.INFO), "%s", _text(text.value))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._lib.tzf_close()
        self.drain_logs()
        for folder in (self._content.temp_dir if self._content else None, self._scratch):
            if folder:
                shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> CoreHost:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _lib_counters(self) -> list[int]:
        values = (ctypes.c_uint64 * 8)()
        self._lib.tzf_counters(values)
        return list(values)

    def _require_game(self) -> None:
        if self._closed:
            raise CoreError("this core host is closed")
        if not self._loaded:
            raise CoreError("no game is loaded")

    def _check(self, result: int, what: str) -> int:
        return lr.err_check(result, what, self._lib)


def _encode_dir(folder: str | Path | None) -> bytes | None:
    return str(Path(folder).resolve()).encode() if folder else None

