"""Games that ended while their player was away, kept for a while so the home page can say so.

A game nobody watches is saved and ended after the idle timeout, or at once when its owner starts
another game; the person was not there to see it, so the home page tells them the next time they
look ("Zelda was saved and ended: you started another game. Continue"). Kept in memory: a server
restart ends every game anyway, and says so in the history.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from treazr.streaming.sessions import SessionInfo

__all__ = ["AwayEnding", "AwayEndings"]

KEEP_S = 12 * 3600.0
KEEP_PER_USER = 5


@dataclass(frozen=True)
class AwayEnding:
    game_id: int
    title: str
    why: str  # "you started another game", "nobody watched it for 10 minutes"
    warning: str | None  # what could not be saved, when something could not
    at: float = field(default_factory=time.time)

    def message(self) -> str:
        if self.warning:
            return f"{self.title} was ended because {self.why}, but {self.warning}."
        return f"{self.title} was saved and ended because {self.why}; Continue picks it up."


class AwayEndings:
    def __init__(self) -> None:
        self._by_user: dict[int, deque[AwayEnding]] = {}

    def record(self, user_id: int, info: SessionInfo, why: str, warning: str | None) -> None:
        kept = self._by_user.setdefault(user_id, deque(maxlen=KEEP_PER_USER))
        self.forget(user_id, info.game_id)
        kept.append(AwayEnding(info.game_id, info.title, why, warning))

    def forget(self, user_id: int, game_id: int) -> None:
        """The person started the game again: nothing left to tell."""
        kept = self._by_user.get(user_id)
        if kept:
            for ending in [e for e in kept if e.game_id == game_id]:
                kept.remove(ending)

    def of(self, user_id: int, now: float | None = None) -> list[AwayEnding]:
        """Newest first, the last :data:`KEEP_S` seconds only."""
        now = time.time() if now is None else now
        return [e for e in reversed(self._by_user.get(user_id, ())) if now - e.at < KEEP_S]
