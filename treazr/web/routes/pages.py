"""Pages rendered on the server."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template

__all__ = ["ROUTES"]


@get("/", sync_to_thread=False, opt={"public": True})
def start_page() -> Template:
    """Anyone: the start page (the library once signed in)."""
    return Template(template_name="start.html")


ROUTES: list[Any] = [start_page]
