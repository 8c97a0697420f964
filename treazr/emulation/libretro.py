"""ctypes view of libretro (libretro-common ``include/libretro.h``) and of our C helper.

The per-frame callbacks a core makes (video, audio, input, environment) are answered in C by
``libtreazr_frontend.so`` (``emulator_cores/frontend/``), which also holds the encoder's colour
conversion (``tzf_bgrx_to_yuv``); this module declares every function of it in one table, and the
libretro structs they exchange, and :func:`err_check` is the one place where a native failure becomes
a :class:`~treazr.errors.CoreError`.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_bool, c_char_p, c_double, c_float, c_int, c_size_t, c_uint, c_void_p
from functools import cache
from pathlib import Path

from treazr.errors import CoreError, InvalidContent
from treazr.paths import native_dir

__all__ = [
    "FRONTEND_LIBRARY",
    "MEMORY_SAVE_RAM",
    "RUN_LOGS",
    "RUN_SHUTDOWN",
    "RetroGameGeometry",
    "RetroSystemAvInfo",
    "RetroSystemInfo",
    "RetroSystemTiming",
    "err_check",
    "frontend",
]

FRONTEND_LIBRARY = "libtreazr_frontend.so"

# flags returned by tzf_run_frames
RUN_SHUTDOWN = 1
RUN_LOGS = 2
MEMORY_SAVE_RAM = 0  # RETRO_MEMORY_SAVE_RAM


class RetroSystemInfo(Structure):
    _fields_ = [
        ("library_name", c_char_p),
        ("library_version", c_char_p),
        ("valid_extensions", c_char_p),
        ("need_fullpath", c_bool),
        ("block_extract", c_bool),
    ]


class RetroGameGeometry(Structure):
    _fields_ = [
        ("base_width", c_uint),
        ("base_height", c_uint),
        ("max_width", c_uint),
        ("max_height", c_uint),
        ("aspect_ratio", c_float),
    ]


class RetroSystemTiming(Structure):
    _fields_ = [("fps", c_double), ("sample_rate", c_double)]


class RetroSystemAvInfo(Structure):
    _fields_ = [("geometry", RetroGameGeometry), ("timing", RetroSystemTiming)]


# tzf_* error codes (see treazr_frontend.c): which ones mean "the content is the problem".
_CONTENT_ERRORS = {-4, -5}


def err_check(result: int, what: str, lib: ctypes.CDLL | None = None) -> int:
    """Turn a negative tzf_* return code into an exception carrying the helper's message."""
    if result >= 0:
        return result
    lib = lib or frontend()
    message = (lib.tzf_last_error() or b"").decode("utf-8", "replace")
    text = f"{what}: {message}" if message else what
    if result in _CONTENT_ERRORS:
        raise InvalidContent(text)
    raise CoreError(text)


_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "tzf_last_error": (c_char_p, []),
    "tzf_open": (c_int, [c_char_p]),
    "tzf_set_directories": (c_int, [c_char_p, c_char_p]),
    "tzf_init": (c_int, []),
    "tzf_system_info": (None, [POINTER(RetroSystemInfo)]),
    "tzf_set_option": (c_int, [c_char_p, c_char_p]),
    "tzf_option_count": (c_int, []),
    "tzf_option_at": (c_int, [c_int, POINTER(c_char_p), POINTER(c_char_p), POINTER(c_char_p), POINTER(c_char_p)]),
    "tzf_option_value": (c_char_p, [c_char_p]),
    "tzf_options_source": (c_char_p, []),
    "tzf_load_game": (c_int, [c_char_p, c_void_p, c_size_t, c_char_p]),
    "tzf_av_info": (c_int, [POINTER(RetroSystemAvInfo)]),
    "tzf_set_input": (None, [c_uint, c_uint]),
    "tzf_set_axes": (None, [c_uint, POINTER(ctypes.c_int16)]),
    "tzf_run_frames": (c_int, [c_int]),
    "tzf_video": (c_void_p, [POINTER(c_uint), POINTER(c_uint)]),
    "tzf_audio": (c_void_p, [POINTER(c_size_t)]),
    "tzf_audio_clear": (None, []),
    "tzf_counters": (None, [POINTER(ctypes.c_uint64)]),
    "tzf_serialize_size": (c_size_t, []),
    "tzf_serialize": (c_int, [c_void_p, c_size_t]),
    "tzf_unserialize": (c_int, [c_void_p, c_size_t]),
    "tzf_memory": (c_void_p, [c_uint, POINTER(c_size_t)]),
    "tzf_reset": (None, []),
    "tzf_log_next": (c_int, [ctypes.c_char_p, c_size_t, POINTER(c_uint)]),
    "tzf_close": (None, []),
    # treazr_colour.c: BGRX -> full-range BT.601 Y, Cb, Cr planes (the luma scaled up by the last argument)
    "tzf_bgrx_to_yuv": (None, [c_void_p, c_int, c_int, c_int, c_void_p, c_int, c_void_p, c_int, c_void_p, c_int,
                               c_int]),
}


@cache
def frontend() -> ctypes.CDLL:
    """Load ``libtreazr_frontend.so`` from :func:`~treazr.paths.native_dir` (once per process)."""
    path = Path(native_dir()) / FRONTEND_LIBRARY
    if not path.is_file():
        raise CoreError(f"the frontend helper {path} is missing: run emulator_cores/build.sh (or ./dev.sh setup)")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise CoreError(f"cannot load the frontend helper {path}: {error}") from error
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib
