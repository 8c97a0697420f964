"""What the shared test-ROM folder holds, read from its ``SHA1SUMS`` (the folder grows as platforms are added,
so tests that import all of it derive their expectations from here instead of a hard-coded count)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

__all__ = ["platform_counts", "rom_count", "sha1sums"]


def sha1sums(roms: Path) -> dict[str, str]:
    """``{absolute path: sha1}`` of every ROM in the folder."""
    return {f"{roms}/{path}": sha1 for sha1, path in
            (line.split("  ", 1) for line in (roms / "SHA1SUMS").read_text().splitlines() if line.strip())}


def rom_count(roms: Path) -> int:
    return len(sha1sums(roms))


def platform_counts(roms: Path) -> dict[str, int]:
    """Games per platform: each ROM sits in a folder named by its platform's slug (``nes/``, ``md/``)."""
    return dict(Counter(Path(path).parent.name for path in sha1sums(roms)))
