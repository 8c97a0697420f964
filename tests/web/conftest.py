"""Fixtures for the web app's tests: an app over a library of the shared ROMs, and a signed-in family."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.web._webapp import Family, import_roms, sign_up_family
from treazr.services import Services
from treazr.web.app import create_app


@pytest.fixture
async def client(services: Services, roms: Path) -> AsyncIterator[AsyncTestClient]:
    """The app with the shared ROMs imported (a module may define its own ``client`` instead)."""
    import_roms(services, roms)
    async with AsyncTestClient(app=create_app(services)) as test_client:
        yield test_client


@pytest.fixture
async def family(client: AsyncTestClient, services: Services) -> Family:
    return await sign_up_family(client, services)
