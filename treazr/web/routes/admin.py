"""Admin routes (filled in by the issue that owns them)."""

from __future__ import annotations

from typing import Any

__all__ = ["ROUTES"]

ROUTES: list[Any] = []
