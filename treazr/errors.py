"""Treazr's exceptions, mapped once to HTTP responses (``treazr.web.errors``) and once to CLI
messages (``treazr.cli``).

    TreazrError                  a user-facing problem: one clear line, never a traceback
    ├── ConfigError              a setting has a value that is not allowed (exit 2)
    ├── NotFound                 the thing asked for does not exist, or is not yours (404)
    ├── AuthenticationError      who is asking is unknown: bad signature, expired session (401)
    ├── PermissionDenied         who is asking may not do this (403)
    ├── Conflict                 the request clashes with the current state (409)
    ├── RateLimited              too many requests; carries ``retry_after`` seconds (429)
    ├── TooSlow                  a read ran past its time limit and was stopped (503)
    ├── DiskFull                 the data directory's disk (or the database) is full (507)
    ├── InvalidInput             a request or file is malformed (400)
    │   └── InvalidContent       a ROM, archive, save or state is unusable (422)
    │       └── HostileArchive   an archive that tries to escape, bomb or link (422)
    └── CoreError                a libretro core failed to load or run (500 to the player, clearly)
        └── CoreCrashed          the worker process died or stopped producing frames
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "Conflict",
    "CoreCrashed",
    "CoreError",
    "DiskFull",
    "HostileArchive",
    "InvalidContent",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "TooSlow",
    "TreazrError",
    "as_disk_full",
]


class TreazrError(Exception):
    """A problem the user can understand and act on; ``str(error)`` is the one line they see."""

    http_status = 500
    exit_code = 1
    #: extra fields for the web's JSON answer (e.g. which session to end to make room)
    details: dict[str, Any] = {}  # never changed in place; an error with details sets its own


class ConfigError(TreazrError):
    http_status = 500
    exit_code = 2


class NotFound(TreazrError):
    http_status = 404


class AuthenticationError(TreazrError):
    http_status = 401


class PermissionDenied(TreazrError):
    http_status = 403


class Conflict(TreazrError):
    http_status = 409

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class RateLimited(TreazrError):
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooSlow(TreazrError):
    http_status = 503


class DiskFull(TreazrError):
    http_status = 507


def as_disk_full(error: BaseException) -> DiskFull | None:
    """The :class:`DiskFull` an ``OSError`` (ENOSPC, EDQUOT) or SQLite's "database or disk is full" means;
    None for every other error. Nothing was half-written: files are replaced atomically and SQLite rolls
    the transaction back, so what was on disk before is still there."""
    import errno
    import sqlite3

    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" ({error.filename})" if error.filename else ""
        return DiskFull(f"the server's disk is full{where}: nothing was changed; free some space and try again")
    if isinstance(error, sqlite3.OperationalError) and "full" in str(error).lower():
        return DiskFull("the server's disk is full (the database could not grow): nothing was changed; "
                        "free some space and try again")
    return None


class InvalidInput(TreazrError):
    http_status = 400


class InvalidContent(InvalidInput):
    http_status = 422


class HostileArchive(InvalidContent):
    pass


class CoreError(TreazrError):
    http_status = 500


class CoreCrashed(CoreError):
    pass
