"""Where things live: the data directory's layout, and the resources shipped with the package.

Nothing is written outside the data directory (and the system temp folder). Resource lookups work in
a source checkout and inside the PyInstaller executable alike (``sys._MEIPASS``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataDir", "assets_dir", "cores_source_dir", "is_frozen", "native_dir", "resource_root"]


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resource_root() -> Path:
    """The folder holding ``assets/`` and ``emulator_cores/``: the checkout, or the unpacked bundle."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    return resource_root() / "assets"


def cores_source_dir() -> Path:
    """Core manifests (``*.toml``) and the C sources we build."""
    return resource_root() / "emulator_cores"


def native_dir() -> Path:
    """Our built shared libraries: the frontend helper and the demo core."""
    override = os.environ.get("TREAZR_NATIVE_DIR")
    if override:
        return Path(override)
    return cores_source_dir() / "build"


@dataclass(frozen=True)
class DataDir:
    """The data directory: one SQLite file and the folders beside it, all owner-only."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "treazr.db"

    @property
    def content(self) -> Path:
        """ROMs copied in or uploaded, addressed by SHA-256."""
        return self.root / "content"

    @property
    def saves(self) -> Path:
        return self.root / "saves"

    @property
    def states(self) -> Path:
        return self.root / "states"

    @property
    def thumbnails(self) -> Path:
        return self.root / "thumbnails"

    @property
    def certificates(self) -> Path:
        return self.root / "certificates"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def bios(self) -> Path:
        return self.root / "bios"

    @property
    def uploads(self) -> Path:
        """Uploads in progress; a finished upload moves into ``content``."""
        return self.root / "uploads"

    @property
    def dats(self) -> Path:
        return self.root / "dats"

    @property
    def tmp(self) -> Path:
        """Private scratch space (zipped content extracted for cores that need a file)."""
        return self.root / "tmp"

    def ensure(self) -> DataDir:
        """Create the directory tree with owner-only permissions (idempotent)."""
        old_umask = os.umask(0o077)
        try:
            for folder in (self.root, self.content, self.saves, self.states, self.thumbnails,
                           self.certificates, self.logs, self.bios, self.uploads, self.dats, self.tmp):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.root.chmod(0o700)
        finally:
            os.umask(old_umask)
        return self
