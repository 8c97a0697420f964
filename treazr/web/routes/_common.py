"""Small helpers the web app's route modules share."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.response import Template

from treazr.errors import PermissionDenied, TreazrError
from treazr.services import Services
from treazr.web.security import AuthUser, current_user

__all__ = ["attachment", "check_may_upload", "error_page", "iso_time", "services_of", "user_and_services"]

_HEADINGS = {403: "Not for this account", 404: "Not here", 409: "Not right now"}


def error_page(connection: ASGIConnection[Any, Any, Any, Any], error: TreazrError) -> Template:
    """A page (not JSON) for a person who followed a link they may not open, or one that is gone."""
    user = connection.scope.get("user")
    return Template(template_name="error.html", status_code=error.http_status,
                    context={"me": user if isinstance(user, AuthUser) else None, "message": str(error),
                             "heading": _HEADINGS.get(error.http_status, "Something went wrong")})


def attachment(filename: str) -> dict[str, str]:
    """A download's ``Content-Disposition`` for any title (RFC 6266): an ASCII name for old clients and
    the real one, UTF-8 and percent-encoded, for every browser since 2011."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = "".join(ch if ch.isalnum() or ch in " -_().," else "_" for ch in plain).strip() or "download"
    return {"Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"}


def iso_time(value: float | str | None) -> str | None:
    """A time for pages and JSON: ISO 8601 in UTC (running sessions keep theirs as epoch seconds)."""
    if value is None or isinstance(value, str):
        return value
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services


def user_and_services(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[AuthUser, Services]:
    return current_user(connection), services_of(connection)


def check_may_upload(user: AuthUser, services: Services) -> None:
    """Admins always; members when ``library.member_uploads``; children never."""
    if user.role == "child":
        raise PermissionDenied("Ask a grown-up: children's accounts cannot upload.")
    if user.role == "member" and not services.settings.library.member_uploads:
        raise PermissionDenied("Only admins may upload games on this Treazr.")
