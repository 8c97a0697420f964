"""Fixtures shared by every test: a settings object on a temporary data dir, opened services, ROM paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from treazr.services import Services, open_services
from treazr.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
ROMS = REPO.parent / "shared" / "roms"


@pytest.fixture
def roms() -> Path:
    assert ROMS.is_dir(), f"the shared test ROMs are missing at {ROMS}"
    return ROMS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(overrides={"data_dir": str(tmp_path / "data"),
                                    "server": {"host": "127.0.0.1", "tls": "off"}}, environ={})


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    opened = open_services(settings)
    try:
        yield opened
    finally:
        opened.close()
