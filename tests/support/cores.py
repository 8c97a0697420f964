"""A core registry with only Debian's cores and ours: this machine as it would be without the
``stable-retro`` wheel, so a test can show a platform that no installed core plays."""

from __future__ import annotations

from treazr.emulation.registry import DEBIAN_CORE_DIR, CoreRegistry
from treazr.paths import native_dir
from treazr.services import Services


def without_wheel_cores(services: Services) -> CoreRegistry:
    """Replace ``services.cores`` (a cached property) with the Debian-and-ours registry and return it."""
    registry = CoreRegistry.discover(services.settings, services.data, dirs=[native_dir(), DEBIAN_CORE_DIR])
    services.cores = registry  # type: ignore[misc]
    return registry
