"""``treazr worker``: the hidden entry point of an emulation worker process (filled in by the engine)."""

from __future__ import annotations

__all__ = ["COMMANDS"]

COMMANDS: list = []
