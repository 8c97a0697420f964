"""The platforms the library knows: slugs, display names, file extensions and folder-name aliases.

The emulation registry maps these slugs to cores; a game whose platform has no installed core is still
catalogued (it just is not playable yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "IGNORED_EXTENSIONS",
    "PLATFORMS",
    "Platform",
    "archive_kind",
    "platform_from_folders",
    "platform_name",
    "platforms_for_extension",
    "resolve_slug",
]


@dataclass(frozen=True)
class Platform:
    slug: str
    name: str
    extensions: tuple[str, ...]


PLATFORMS: dict[str, Platform] = {p.slug: p for p in (
    Platform("nes", "Nintendo Entertainment System", (".nes",)),
    Platform("snes", "Super Nintendo", (".sfc", ".smc", ".swc", ".fig")),
    Platform("gb", "Game Boy", (".gb",)),
    Platform("gbc", "Game Boy Color", (".gbc",)),
    Platform("gba", "Game Boy Advance", (".gba", ".agb")),
    Platform("pce", "PC Engine / TurboGrafx-16", (".pce",)),
    Platform("md", "Mega Drive / Genesis", (".md", ".gen", ".bin")),
    Platform("sms", "Master System", (".sms",)),
    Platform("gg", "Game Gear", (".gg",)),
    Platform("a2600", "Atari 2600", (".a26", ".bin")),
    Platform("n64", "Nintendo 64", (".z64", ".v64", ".n64")),
)}


def platform_name(slug: str) -> str:
    """The display name of a platform (the slug itself for one the library does not know)."""
    platform = PLATFORMS.get(slug)
    return platform.name if platform else slug


_ALIASES: dict[str, str] = {
    "nes": "nes", "famicom": "nes", "fc": "nes", "nintendo": "nes",
    "snes": "snes", "sfc": "snes", "superfamicom": "snes", "supernintendo": "snes", "supernes": "snes",
    "gb": "gb", "gameboy": "gb",
    "gbc": "gbc", "gameboycolor": "gbc",
    "gba": "gba", "gameboyadvance": "gba",
    "pce": "pce", "pcengine": "pce", "tg16": "pce", "turbografx16": "pce", "turbografx": "pce",
    "md": "md", "megadrive": "md", "genesis": "md", "segagenesis": "md",
    "sms": "sms", "mastersystem": "sms", "segamastersystem": "sms",
    "gg": "gg", "gamegear": "gg", "segagamegear": "gg",
    "a2600": "a2600", "atari2600": "a2600", "2600": "a2600", "atari": "a2600",
    "n64": "n64", "nintendo64": "n64",
}

# Files that live beside ROMs and are neither ROMs nor worth a failure line.
IGNORED_EXTENSIONS = frozenset({
    ".txt", ".nfo", ".diz", ".pdf", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".xml",
    ".dat", ".json", ".ini", ".cfg", ".sav", ".srm", ".state", ".rtc", ".ips", ".bps", ".ups", ".db",
    ".html", ".htm", ".url", ".m3u", ".log", ".sfv", ".md5", ".sha1",
})


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_slug(name: str) -> str | None:
    """The platform slug for a folder name or alias (``Super Famicom`` -> ``snes``), or None."""
    return _ALIASES.get(_key(name))


def platform_from_folders(folders: Iterable[str]) -> str | None:
    """The nearest folder (innermost first) that names a platform: ``roms/snes/RPG/x.sfc`` -> snes."""
    for folder in folders:
        slug = resolve_slug(folder)
        if slug:
            return slug
    return None


def platforms_for_extension(extension: str) -> list[str]:
    extension = extension.lower()
    return [p.slug for p in PLATFORMS.values() if extension in p.extensions]


def archive_kind(extension: str) -> str | None:
    return {".zip": "zip", ".7z": "7z"}.get(extension.lower())
