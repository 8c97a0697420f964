from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from treazr.auth.tls import (
    ca_certificate_path,
    certificate_names,
    ensure_server_certificate,
    lan_addresses,
    spki_sha256_base64,
)


def _sans(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def test_server_certificate_covers_local_names_and_chains_to_the_ca(tmp_path: Path) -> None:
    cert, key = ensure_server_certificate(tmp_path / "certs", "0.0.0.0")
    names, addresses = _sans(cert)
    assert "localhost" in names
    assert {"127.0.0.1", "::1"} <= addresses
    assert {str(a) for a in lan_addresses()} <= addresses
    assert not any(ipaddress.ip_address(a).is_unspecified for a in addresses)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # a real TLS stack accepts the chain with the CA as the only trust anchor
    context = ssl.create_default_context(cafile=str(ca_certificate_path(tmp_path / "certs")))
    context.load_cert_chain(cert, key)
    ca = x509.load_pem_x509_certificate(ca_certificate_path(tmp_path / "certs").read_bytes())
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_certificate_is_kept_while_valid_and_reissued_when_names_change(tmp_path: Path) -> None:
    cert, _ = ensure_server_certificate(tmp_path, "0.0.0.0")
    first_ca = ca_certificate_path(tmp_path).read_bytes()
    first = cert.read_bytes()
    ensure_server_certificate(tmp_path, "0.0.0.0")
    assert cert.read_bytes() == first  # nothing changed: same certificate
    ensure_server_certificate(tmp_path, "treazr.home")  # a new name to cover
    assert cert.read_bytes() != first
    assert "treazr.home" in _sans(cert)[0]
    assert ca_certificate_path(tmp_path).read_bytes() == first_ca  # devices keep trusting the same CA
    assert spki_sha256_base64(first_ca) == spki_sha256_base64(first_ca) and len(spki_sha256_base64(first_ca)) == 44


def test_listen_address_is_included(tmp_path: Path) -> None:
    names, addresses = certificate_names("127.0.0.2")
    assert ipaddress.ip_address("127.0.0.2") in addresses and "localhost" in names
