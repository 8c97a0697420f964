"""What a worker process is told to run, and how it is started (also from the frozen executable)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from treazr.paths import is_frozen

__all__ = ["WorkerSpec", "worker_command"]


@dataclass
class WorkerSpec:
    """Everything a worker needs to run one session. Paths are plain strings (they cross a process)."""

    core_path: str
    content_path: str | None
    system_dir: str
    save_ram_path: str | None = None
    state_path: str | None = None  # loaded right after the game (the "Continue" state)
    content_sha1: str | None = None  # the content's identity, written into state notes and checked on load
    options: dict[str, str] = field(default_factory=dict)
    realtime: bool = True
    video: dict[str, Any] | None = None  # encoder settings; None sends raw BGRX frames and PCM audio
    ports: int = 2
    stream: bool = True  # False runs headless (covers): no frames are sent, only progress ticks
    saveram_flush_s: float = 10.0
    hang_timeout_s: float = 5.0
    save_dir: str | None = None  # the core's GET_SAVE_DIRECTORY (defaults to the system dir)
    temp_dir: str | None = None  # where zipped content is extracted for cores that need a file
    nice: int = 0  # added to the worker's niceness at start: cover runs yield the CPU to the games being played

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerSpec:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        for key in ("core_path", "content_path", "system_dir", "save_ram_path", "state_path", "save_dir", "temp_dir"):
            if isinstance(known.get(key), Path):
                known[key] = str(known[key])
        return cls(**known)


def worker_command(fd: int) -> list[str]:
    """The command line of a worker that talks over file descriptor ``fd``; works frozen too."""
    if is_frozen():
        return [sys.executable, "worker", "--fd", str(fd)]
    return [sys.executable, "-m", "treazr", "worker", "--fd", str(fd)]
