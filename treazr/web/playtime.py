"""Play time moved to the play-history subsystem, :mod:`treazr.streaming.playtime`.

Kept only so ``treazr.web.routes.saves`` (which imports ``play_stats`` from here) goes on working until
it imports from there.
"""

from __future__ import annotations

from treazr.streaming.playtime import play_stats

__all__ = ["play_stats"]
