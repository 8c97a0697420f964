from __future__ import annotations

from treazr.errors import NotBuiltYet


def not_built(what: str) -> None:
    raise NotBuiltYet(f"'{what}' is not built yet in this version of Treazr")
