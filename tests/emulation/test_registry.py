"""Core discovery on this machine: the Debian cores, our demo core, manifests, BIOS status."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.support.cores import without_wheel_cores
from treazr.emulation.registry import (
    DEBIAN_CORE_DIR,
    BiosFile,
    CoreRegistry,
    PlatformManifest,
    doctor_check,
    load_manifests,
)
from treazr.errors import CoreError, NotFound
from treazr.services import Services
from treazr.settings import Settings, load_settings

EXPECTED = {"nes": "nestopia", "snes": "bsnes_mercury_performance", "gb": "gambatte", "gbc": "gambatte",
            "gba": "mgba", "pce": "mednafen_pce_fast", "demo": "treazr_demo"}


def test_finds_the_debian_cores_and_the_demo_core(services: Services) -> None:
    registry = services.cores
    found = {core_id: registry.cores[core_id] for core_id in EXPECTED.values()}
    assert {c.name for c in found.values()} == {"Nestopia", "bsnes-mercury", "Gambatte", "mGBA", "Mednafen PCE Fast",
                                                "Treazr Demo"}
    for core_id in ("nestopia", "bsnes_mercury_performance", "gambatte", "mgba", "mednafen_pce_fast"):
        assert Path(found[core_id].path).parent == DEBIAN_CORE_DIR
    assert found["mednafen_pce_fast"].need_fullpath
    assert "gba" in found["mgba"].extensions and found["nestopia"].version == "1.52.0"


def test_maps_platforms_to_cores(services: Services) -> None:
    registry = services.cores
    for platform, core_id in EXPECTED.items():
        assert registry.require_core(platform).id == core_id
    assert [c.id for c in registry.candidates("gb")] == ["gambatte", "mgba"]
    with pytest.raises(CoreError, match="does not know the platform 'psx'"):
        registry.require_core("psx")
    assert registry.require_core("gb", "mgba").id == "mgba"
    assert registry.require_core("snes", "snes9x").id == "snes9x"  # a second choice, from the stable-retro wheel
    with pytest.raises(NotFound, match="no usable core named 'snes9x2010'"):
        registry.require_core("snes", "snes9x2010")
    assert sorted(registry.platforms_of("gambatte")) == ["gb", "gbc"]
    assert registry.require_core("md").id == "genesis_plus_gx"  # from the stable-retro wheel
    assert registry.require_core("n64").id == "parallel_n64"


def test_a_platform_no_installed_core_plays_names_the_cores_to_install(services: Services) -> None:
    registry = without_wheel_cores(services)
    assert registry.core_for("md") is None
    with pytest.raises(CoreError, match="no installed core plays Mega Drive; install one of: genesis_plus_gx"):
        registry.require_core("md")


def test_content_outside_the_library_gets_the_core_of_its_extensions_platform(services: Services) -> None:
    registry = services.cores
    assert {"nes", "sfc", "gba", "gen", "bin"} <= registry.content_extensions
    for extension, core_id in {"nes": "nestopia", "sfc": "bsnes_mercury_performance", "gba": "mgba",
                               "dmg": "gambatte"}.items():
        assert registry.core_for_content(extension).id == core_id
    with pytest.raises(NotFound, match=r"no core known for \.xyz files: pass --core"):
        registry.core_for_content("xyz")
    registry = without_wheel_cores(services)
    with pytest.raises(CoreError, match="no installed core plays Mega Drive"):
        registry.core_for_content("gen")


def test_every_manifest_is_complete() -> None:
    manifests = load_manifests()
    assert set(manifests) >= {"nes", "snes", "gb", "gbc", "gba", "pce", "md", "sms", "gg", "a2600", "n64", "demo"}
    for manifest in manifests.values():
        assert manifest.cores and manifest.name
        assert manifest.needs_content == (manifest.platform != "demo")
        for bios in manifest.bios:
            assert re.fullmatch(r"[0-9a-f]{32}", bios.md5), bios


def _settings(tmp_path: Path, **emulation: object) -> Settings:
    return load_settings(overrides={"data_dir": str(tmp_path / "data"), "emulation": emulation}, environ={})


def test_configured_folders_come_first_and_broken_cores_are_listed(services: Services, tmp_path: Path) -> None:
    mine = tmp_path / "my-cores"
    mine.mkdir()
    (mine / "gambatte_libretro.so").symlink_to(DEBIAN_CORE_DIR / "gambatte_libretro.so")
    (mine / "broken_libretro.so").write_bytes(b"\x7fELF not really")
    settings = _settings(tmp_path, core_dirs=[str(mine)])
    registry = CoreRegistry.discover(settings, services.data)
    assert registry.require_core("gb").path == str(mine / "gambatte_libretro.so")
    broken = next(c for c in registry.all_cores if c.id == "broken")
    assert not broken.usable and broken.error
    assert "broken" not in registry.cores
    assert (services.data.tmp / "core-info.json").is_file()


def test_bios_status_and_required_bios(services: Services, tmp_path: Path) -> None:
    bios_dir = tmp_path / "bios"
    bios_dir.mkdir()
    good = b"a real dump"
    (bios_dir / "good.bin").write_bytes(good)
    (bios_dir / "wrong.bin").write_bytes(b"something else")
    manifest = PlatformManifest("gb", "Game Boy", ("gb",), ("gambatte",), bios=(
        BiosFile("good.bin", hashlib.md5(good).hexdigest(), required=True),
        BiosFile("wrong.bin", hashlib.md5(good).hexdigest()),
        BiosFile("missing.bin", "0" * 32, required=True)))
    registry = CoreRegistry.discover(_settings(tmp_path, bios_dir=str(bios_dir)), services.data,
                                     manifests={"gb": manifest})
    assert [(b.file, b.state) for b in registry.bios_status("gb")] == [
        ("good.bin", "ok"), ("wrong.bin", "wrong"), ("missing.bin", "missing")]
    status = registry.platforms()[0]
    assert status.core == "gambatte" and not status.playable
    assert status.reason == "missing BIOS: missing.bin"


def test_doctor_check(services: Services) -> None:
    ok, detail = doctor_check(services)
    assert ok
    plays = re.search(r"plays ([a-z0-9, ]+)", detail)
    played = {slug.strip() for slug in plays.group(1).split(",")} if plays else set()
    assert {"a2600", "demo", "gb", "gba", "gbc", "md", "n64", "nes", "pce", "snes"} <= played, detail
    without_wheel_cores(services)
    ok, detail = doctor_check(services)
    assert ok and "plays demo, gb, gba, gbc, nes, pce, snes" in detail and "not playable: a2600" in detail
