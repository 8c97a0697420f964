from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from treazr.auth.tls import (
    ca_certificate_path,
    ca_expires,
    certificate_names,
    ensure_server_certificate,
    lan_addresses,
    new_ca,
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


def _leaf_for(ca_dir: Path, name: str) -> x509.Certificate:
    """What a thief holding the CA key could make: a server certificate for any name."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(ca_certificate_path(ca_dir).read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _verify(ca_dir: Path, leaf: x509.Certificate, name: str) -> None:
    from cryptography.x509.verification import PolicyBuilder, Store

    store = Store([x509.load_pem_x509_certificate(ca_certificate_path(ca_dir).read_bytes())])
    PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name)).verify(leaf, [])


def test_the_home_ca_is_fenced_to_home_names_and_lives_three_years(tmp_path: Path) -> None:
    cert, _ = ensure_server_certificate(tmp_path, "0.0.0.0")
    ca = x509.load_pem_x509_certificate(ca_certificate_path(tmp_path).read_bytes())
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= dt.timedelta(days=3 * 365 + 1)
    assert ca.extensions.get_extension_for_class(x509.NameConstraints).critical
    from cryptography.x509.verification import VerificationError

    # a real verifier (RFC 5280 path validation): the server's own certificate passes for each of its names
    served = x509.load_pem_x509_certificate(cert.read_bytes())
    for name in _sans(cert)[0]:
        _verify(tmp_path, served, name)
    _verify(tmp_path, _leaf_for(tmp_path, "nas.home.arpa"), "nas.home.arpa")
    for foreign in ("bank.example.com", "accounts.google.com"):
        with pytest.raises(VerificationError):
            _verify(tmp_path, _leaf_for(tmp_path, foreign), foreign)
    ends, fenced = ca_expires(tmp_path)  # type: ignore[misc]
    assert fenced and ends == ca.not_valid_after_utc


def test_a_new_ca_replaces_the_old_one_on_request_only(tmp_path: Path) -> None:
    ensure_server_certificate(tmp_path, "0.0.0.0")
    first = ca_certificate_path(tmp_path).read_bytes()
    ensure_server_certificate(tmp_path, "0.0.0.0")
    assert ca_certificate_path(tmp_path).read_bytes() == first
    new_ca(tmp_path, "0.0.0.0")
    assert ca_certificate_path(tmp_path).read_bytes() != first
    leaf = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_certificate_path(tmp_path).read_bytes()))
