"""Read a core's ``retro_get_system_info`` without trusting the core: run this in a child process.

``python -m treazr.emulation.probe CORE.so`` prints one JSON object. A core that crashes while
loading kills only that child, and the registry lists it as unusable.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any

__all__ = ["probe_core"]


class _SystemInfo(ctypes.Structure):
    _fields_ = [("library_name", ctypes.c_char_p), ("library_version", ctypes.c_char_p),
                ("valid_extensions", ctypes.c_char_p), ("need_fullpath", ctypes.c_bool),
                ("block_extract", ctypes.c_bool)]


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if value else ""


def probe_core(path: str) -> dict[str, Any]:
    """System info of the core at ``path`` (loads it into this process: call it in a child)."""
    library = ctypes.CDLL(path)
    api_version = ctypes.CFUNCTYPE(ctypes.c_uint)(("retro_api_version", library))()
    info = _SystemInfo()
    ctypes.CFUNCTYPE(None, ctypes.POINTER(_SystemInfo))(("retro_get_system_info", library))(ctypes.byref(info))
    return {"api_version": int(api_version), "library_name": _text(info.library_name),
            "library_version": _text(info.library_version), "valid_extensions": _text(info.valid_extensions),
            "need_fullpath": bool(info.need_fullpath), "block_extract": bool(info.block_extract)}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m treazr.emulation.probe CORE", file=sys.stderr)
        return 2
    try:
        result = probe_core(argv[0])
    except (OSError, AttributeError) as error:
        result = {"error": str(error)}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
