"""The libretro cores on this machine, and which one plays each platform.

Cores are found in folders (settings.emulation.core_dirs first, then our bundled folder, Debian's
``/usr/lib/x86_64-linux-gnu/libretro``, the cores inside the ``stable-retro`` wheel and RetroArch's
``~/.config/retroarch/cores``); the first folder holding a core id wins, so Debian's build of a core
that both carry is the one used. Each core's ``retro_get_system_info`` is read in a child process
(:mod:`treazr.emulation.probe`), so a core that crashes on load costs only that child; the answers
are cached by path, size and mtime. The manifests in ``emulator_cores/manifests/*.toml`` say, per
platform, which cores to prefer, the file extensions, and the BIOS files (with MD5s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treazr.atomic import atomic_write
from treazr.errors import CoreError, NotFound
from treazr.paths import DataDir, cores_source_dir, is_frozen, native_dir
from treazr.settings import Settings

if TYPE_CHECKING:
    from treazr.services import Services

__all__ = ["DEBIAN_CORE_DIR", "BiosFile", "BiosStatus", "CoreInfo", "CoreRegistry", "PlatformManifest",
           "PlatformStatus", "core_dirs", "core_options", "default_core_dirs", "doctor_check", "load_manifests",
           "system_core_dirs", "wheel_core_dir"]

log = logging.getLogger("treazr.cores")

DEBIAN_CORE_DIR = Path("/usr/lib/x86_64-linux-gnu/libretro")
PROBE_TIMEOUT_S = 15.0
_CACHE_NAME = "core-info.json"


@dataclass(frozen=True)
class CoreInfo:
    id: str  # file name without "_libretro.so": what manifests and --core name
    path: str
    name: str = ""  # library_name
    version: str = ""
    extensions: tuple[str, ...] = ()
    need_fullpath: bool = False
    block_extract: bool = False
    error: str | None = None  # why it cannot be used (failed to load, not libretro)

    @property
    def usable(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BiosFile:
    file: str
    md5: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class PlatformManifest:
    platform: str
    name: str
    extensions: tuple[str, ...]
    cores: tuple[str, ...]
    bios: tuple[BiosFile, ...] = ()
    needs_content: bool = True
    # Core options this platform's cores need to run here, by core id (parallel_n64 renders in software
    # only with its angrylion plugin; its default asks for an OpenGL context and crashes without one).
    core_options: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BiosStatus:
    file: str
    required: bool
    state: str  # "ok" | "missing" | "wrong" (present, but not the expected dump)
    description: str = ""


@dataclass(frozen=True)
class PlatformStatus:
    platform: str
    name: str
    core: str | None  # the chosen core's id
    candidates: tuple[str, ...]  # installed usable cores that could play it, best first
    bios: tuple[BiosStatus, ...] = field(default_factory=tuple)
    wanted: tuple[str, ...] = ()  # the manifest's cores, to tell people what to install

    @property
    def playable(self) -> bool:
        return self.core is not None and all(b.state == "ok" for b in self.bios if b.required)

    @property
    def reason(self) -> str:
        if self.core is None:
            return f"no installed core plays {self.name} (any of: {', '.join(self.wanted)})"
        missing = [b.file for b in self.bios if b.required and b.state != "ok"]
        return f"missing BIOS: {', '.join(missing)}" if missing else ""


def load_manifests(folder: Path | None = None) -> dict[str, PlatformManifest]:
    """Every ``*.toml`` manifest in ``folder`` (default: ``emulator_cores/manifests``), by platform."""
    folder = folder or cores_source_dir() / "manifests"
    manifests: dict[str, PlatformManifest] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
            manifest = PlatformManifest(
                platform=str(raw["platform"]), name=str(raw["name"]),
                extensions=tuple(str(e).lower().lstrip(".") for e in raw.get("extensions", [])),
                cores=tuple(str(c) for c in raw["cores"]),
                bios=tuple(BiosFile(file=str(b["file"]), md5=str(b["md5"]).lower(), required=bool(b.get("required")),
                                    description=str(b.get("description", ""))) for b in raw.get("bios", [])),
                needs_content=bool(raw.get("needs_content", True)),
                core_options={str(core): {str(k): str(v) for k, v in values.items()}
                              for core, values in raw.get("core_options", {}).items()})
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
            raise CoreError(f"the core manifest {path} is broken: {error!r}") from None
        manifests[manifest.platform] = manifest
    return manifests


def core_options(manifests: dict[str, PlatformManifest], core_id: str) -> dict[str, str]:
    """The options the manifests set for ``core_id`` (the same on every platform it plays)."""
    merged: dict[str, str] = {}
    for manifest in manifests.values():
        merged.update(manifest.core_options.get(core_id, {}))
    return merged


def wheel_core_dir() -> Path | None:
    """``stable_retro/cores`` of the installed ``stable-retro`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("stable_retro")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "cores"
    return folder if folder.is_dir() else None


def system_core_dirs() -> list[Path]:
    """The cores installed on this machine outside Treazr: Debian's, the wheel's, RetroArch's."""
    wheel = wheel_core_dir()
    return [DEBIAN_CORE_DIR, *([wheel] if wheel else []), Path.home() / ".config" / "retroarch" / "cores"]


def default_core_dirs(settings: Settings) -> list[Path]:
    """Where cores are looked for, in order of precedence."""
    return core_dirs(settings.emulation.core_dirs)


def core_dirs(extra: Iterable[str] = ()) -> list[Path]:
    """Where cores are looked for, in order of precedence: ``extra`` folders (the settings' ``core_dirs``,
    ``treazr run``'s), then ours, then the system's."""
    dirs = [Path(d).expanduser() for d in extra]
    dirs += [native_dir(), *system_core_dirs()]
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def _core_id(path: Path) -> str:
    return path.name.removesuffix(".so").removesuffix("_libretro")


def _probe_command(path: Path) -> list[str]:
    if is_frozen():
        return [sys.executable, "worker", "--probe", str(path)]
    return [sys.executable, "-m", "treazr.emulation.probe", str(path)]


def _probe_all(paths: list[Path]) -> dict[Path, dict[str, Any]]:
    """System info of each core, read in parallel child processes (a crashing core kills only its own)."""
    running = {path: subprocess.Popen(_probe_command(path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL) for path in paths}
    results: dict[Path, dict[str, Any]] = {}
    for path, process in running.items():
        try:
            out, _ = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            results[path] = {"error": f"did not answer within {PROBE_TIMEOUT_S:g} s"}
            continue
        if process.returncode != 0:
            results[path] = {"error": f"crashed while loading (exit status {process.returncode})"}
            continue
        try:
            results[path] = json.loads(out)
        except ValueError:
            results[path] = {"error": "its system info could not be read"}
    return results


def _core_info(path: Path, raw: dict[str, Any]) -> CoreInfo:
    if raw.get("error"):
        return CoreInfo(id=_core_id(path), path=str(path), error=str(raw["error"]))
    return CoreInfo(id=_core_id(path), path=str(path), name=str(raw.get("library_name", "")).strip(),
                    version=str(raw.get("library_version", "")).strip(),
                    extensions=tuple(e for e in str(raw.get("valid_extensions", "")).lower().split("|") if e),
                    need_fullpath=bool(raw.get("need_fullpath")), block_extract=bool(raw.get("block_extract")))


def _read_cores(paths: list[Path], cache_file: Path | None) -> list[CoreInfo]:
    cache: dict[str, Any] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except ValueError:
            cache = {}
    keys = {}
    for path in paths:
        stat = path.stat()
        keys[path] = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    missing = [p for p in paths if keys[p] not in cache]
    for path, raw in _probe_all(missing).items():
        cache[keys[path]] = raw
    if missing and cache_file is not None:
        # failures are not kept: a probe that timed out on a busy machine is tried again next time
        fresh = {keys[p]: cache[keys[p]] for p in paths if not cache[keys[p]].get("error")}
        atomic_write(cache_file, json.dumps(fresh, indent=1).encode())
    return [_core_info(path, cache[keys[path]]) for path in paths]


def _find_core_files(dirs: list[Path]) -> list[Path]:
    found: dict[str, Path] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*_libretro.so")):
            if path.is_file():
                found.setdefault(_core_id(path), path)
    return list(found.values())


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class CoreRegistry:
    """The cores found, the platform manifests, and the BIOS folder. Build it with :meth:`discover`."""

    def __init__(self, cores: list[CoreInfo], manifests: dict[str, PlatformManifest], bios_dir: Path) -> None:
        self.all_cores = cores
        self.cores = {c.id: c for c in cores if c.usable}
        self.manifests = manifests
        self.bios_dir = bios_dir

    @classmethod
    def discover(cls, settings: Settings, data: DataDir, *, dirs: list[Path] | None = None,
                 manifests: dict[str, PlatformManifest] | None = None) -> CoreRegistry:
        paths = _find_core_files(dirs if dirs is not None else default_core_dirs(settings))
        cores = _read_cores(paths, data.tmp / _CACHE_NAME if data.tmp.is_dir() else None)
        for core in cores:
            if not core.usable:
                log.warning("core %s cannot be used: %s", core.path, core.error)
        bios_dir = Path(settings.emulation.bios_dir).expanduser() if settings.emulation.bios_dir else data.bios
        return cls(cores, manifests if manifests is not None else load_manifests(), bios_dir)

    def core(self, core_id: str) -> CoreInfo:
        try:
            return self.cores[core_id]
        except KeyError:
            raise NotFound(f"no usable core named {core_id!r} is installed; "
                           f"installed: {', '.join(sorted(self.cores)) or 'none'}") from None

    def candidates(self, platform: str) -> list[CoreInfo]:
        """Installed cores that can play ``platform``: the manifest's order, then any other core that
        declares the platform's main extension."""
        manifest = self.manifests.get(platform)
        if manifest is None:
            return []
        chosen = [self.cores[c] for c in manifest.cores if c in self.cores]
        if manifest.extensions:
            main = manifest.extensions[0]
            chosen += [c for c in sorted(self.cores.values(), key=lambda c: c.id)
                       if main in c.extensions and c not in chosen]
        return chosen

    def core_for(self, platform: str) -> CoreInfo | None:
        found = self.candidates(platform)
        return found[0] if found else None

    @property
    def content_extensions(self) -> frozenset[str]:
        """Every file extension (without the dot) a manifest names as its platform's content."""
        return frozenset(e for manifest in self.manifests.values() for e in manifest.extensions)

    def core_for_content(self, extension: str) -> CoreInfo:
        """The core for a content file that is not in the library, by its extension: the first platform
        (in manifest order) whose manifest lists it and that has an installed core; else a clear error."""
        platforms = [slug for slug, manifest in self.manifests.items() if extension in manifest.extensions]
        if not platforms:
            raise NotFound(f"no core known for .{extension} files: pass --core")
        for platform in platforms:
            if (core := self.core_for(platform)) is not None:
                return core
        return self.require_core(platforms[0])  # raises, naming the cores to install

    def require_core(self, platform: str, core_id: str | None = None) -> CoreInfo:
        """The core to play ``platform`` with (``core_id`` if given), or a clear CoreError."""
        if core_id:
            return self.core(core_id)
        manifest = self.manifests.get(platform)
        if manifest is None:
            raise CoreError(f"Treazr does not know the platform {platform!r}")
        core = self.core_for(platform)
        if core is None:
            raise CoreError(f"no installed core plays {manifest.name}; install one of: {', '.join(manifest.cores)}")
        return core

    def platforms_of(self, core_id: str) -> list[str]:
        return [slug for slug in self.manifests if (core := self.core_for(slug)) and core.id == core_id]

    def bios_status(self, platform: str) -> list[BiosStatus]:
        manifest = self.manifests.get(platform)
        statuses = []
        for bios in manifest.bios if manifest else ():
            path = self.bios_dir / bios.file
            state = "missing" if not path.is_file() else ("ok" if _md5(path) == bios.md5 else "wrong")
            statuses.append(BiosStatus(bios.file, bios.required, state, bios.description))
        return statuses

    def platforms(self) -> list[PlatformStatus]:
        out = []
        for slug, manifest in self.manifests.items():
            candidates = tuple(c.id for c in self.candidates(slug))
            out.append(PlatformStatus(slug, manifest.name, candidates[0] if candidates else None, candidates,
                                      tuple(self.bios_status(slug)), wanted=manifest.cores))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"cores": [asdict(c) | {"platforms": self.platforms_of(c.id)} for c in self.all_cores],
                "platforms": [asdict(p) | {"playable": p.playable, "reason": p.reason} for p in self.platforms()],
                "bios_dir": str(self.bios_dir)}


def doctor_check(services: Services) -> tuple[bool, str]:
    """For ``treazr doctor``: do we have cores, and which platforms can be played."""
    registry = services.cores
    statuses = registry.platforms()
    playable = [p.platform for p in statuses if p.playable]
    without = [p.platform for p in statuses if not p.playable]
    broken = [c.id for c in registry.all_cores if not c.usable]
    if not registry.cores:
        return False, ("no libretro cores found in " + ", ".join(map(str, default_core_dirs(services.settings)))
                       + "; install Debian's libretro-* packages or set emulation.core_dirs")
    detail = f"{len(registry.cores)} cores; plays {', '.join(playable) or 'nothing'}"
    if without:
        detail += f"; not playable: {', '.join(without)}"
    if broken:
        detail += f"; unusable cores: {', '.join(broken)}"
    bios_note = "" if os.access(registry.bios_dir, os.R_OK) else ", which does not exist"
    return bool(playable), f"{detail} (BIOS folder {registry.bios_dir}{bios_note})"
