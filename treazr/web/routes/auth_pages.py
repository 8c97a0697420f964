"""Sign-in pages: sign in, accept an invite, your devices, the certificate guide, and the secure-context help.

The pages carry no secrets: the invite token stays in the URL fragment and is read by ``auth.js``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Template

from treazr.auth.tls import ca_certificate_path, spki_sha256_base64
from treazr.web.routes._common import attachment
from treazr.web.security import auth_runtime, current_user, request_origin

__all__ = ["PAGE_ROUTES"]


def _safe_next(value: str | None) -> str:
    """Only same-site paths, so a crafted link cannot bounce someone to another site after signing in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


@get("/signin", opt={"public": True}, sync_to_thread=False)
def signin_page(request: Request[Any, Any, State], next: FromQuery[str | None] = None) -> Template:
    """Anyone: the sign-in page (signs in automatically when this browser holds an enrolled key)."""
    return Template(template_name="auth/signin.html", context={"next": _safe_next(next),
                                                               "signed_in": request.scope.get("user")})


@get("/invite", opt={"public": True}, sync_to_thread=False)
def invite_page() -> Template:
    """Anyone: accept an invite (the token is in the URL fragment and never reaches the server here)."""
    return Template(template_name="auth/invite.html")


@get("/devices", sync_to_thread=False)
def devices_page(request: Request[Any, Any, State]) -> Template:
    """Any signed-in user: their own devices, and a link + QR code to add another one."""
    return Template(template_name="auth/devices.html", context={"me": current_user(request)})


def _ca_pem(request: Request[Any, Any, State]) -> bytes | None:
    path = ca_certificate_path(request.app.state.services.data.certificates)
    return path.read_bytes() if path.is_file() else None


@get("/certificate", opt={"public": True}, sync_to_thread=False)
def certificate_page(request: Request[Any, Any, State]) -> Template:
    """Anyone: how to make each kind of device trust this Treazr (the CA certificate is public)."""
    pem = _ca_pem(request)
    fingerprint = ""
    if pem:
        cert = x509.load_pem_x509_certificate(pem)
        fingerprint = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    origin = request_origin(request.scope, auth_runtime(request.app))
    return Template(template_name="auth/certificate.html",
                    context={"has_ca": pem is not None, "fingerprint": fingerprint, "origin": origin,
                             "spki": spki_sha256_base64(pem) if pem else ""})


@get("/certificate/treazr-ca.crt", opt={"public": True}, sync_to_thread=False)
def certificate_download(request: Request[Any, Any, State], der: FromQuery[bool] = False) -> Response[bytes]:
    """Anyone: the home CA certificate (public by nature), PEM or ``?der=true`` for older devices."""
    pem = _ca_pem(request)
    if pem is None:
        raise NotFoundException("This Treazr does not use its own certificate authority.")
    body = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER) if der else pem
    return Response(body, media_type="application/x-x509-ca-cert",
                    headers=attachment("treazr-ca.crt"))


@get("/secure-context", opt={"public": True}, sync_to_thread=False)
def secure_context_page(request: Request[Any, Any, State]) -> Template:
    """Anyone: what to do when the browser says this page is not secure (plain words, no jargon)."""
    origin = request_origin(request.scope, auth_runtime(request.app))
    return Template(template_name="auth/secure_context.html", context={"origin": origin,
                                                                       "has_ca": _ca_pem(request) is not None})


PAGE_ROUTES: list[Any] = [signin_page, invite_page, devices_page, certificate_page, certificate_download,
                          secure_context_page]
