"""TreazrError -> HTTP response, in one place."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from treazr.errors import RateLimited, TreazrError, as_disk_full

__all__ = ["EXCEPTION_HANDLERS"]

log = logging.getLogger("treazr.web")


def _treazr_error(request: Request, error: TreazrError) -> Response:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if error.http_status >= 500:
        log.error("request failed", extra={"path": request.url.path, "error": str(error)})
    return Response({**error.details, "error": str(error), "status": error.http_status}, status_code=error.http_status,
                    headers=headers)


def _http_error(request: Request, error: HTTPException) -> Response:
    return Response({"error": error.detail, "status": error.status_code}, status_code=error.status_code,
                    headers=error.headers or None)


def _too_large(request: Request, error: OverflowError) -> Response:
    # an id or page past SQLite's 64-bit integers (``/api/games?page=9223372036854775808``) is a bad request
    return Response({"error": "a number in this request is too large", "status": 400}, status_code=400)


def _unexpected(request: Request, error: Exception) -> Response:
    if (full := as_disk_full(error)) is not None:  # a sign-in, an upload, a save on a full disk: say so
        return _treazr_error(request, full)
    log.exception("unexpected error", extra={"path": request.url.path})
    return Response({"error": "Something went wrong on the server; it has been logged.", "status": 500},
                    status_code=HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS = {TreazrError: _treazr_error, HTTPException: _http_error, OverflowError: _too_large,
                      Exception: _unexpected}
