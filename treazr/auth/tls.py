"""HTTPS on the home network: a local certificate authority and a server certificate signed by it.

Browsers only offer WebCrypto and WebCodecs in a secure context, and ``http://192.168.1.20`` is not
one. On first start we make a CA (kept in the data directory, owner-only) and a server certificate
for this machine's names and LAN addresses; each device trusts the CA once (the guide page at
``/certificate`` explains how). The server certificate is reissued, without touching the CA, when the
machine's addresses change or it nears expiry, so devices do not have to trust anything again while
the CA lasts.

Because every device trusts it, the CA is fenced in: it lives three years, not ten, and carries name
constraints, so even a stolen CA key cannot vouch for a bank's site: it signs only for home names
(``localhost``, ``.local``, ``.lan``, ``.home.arpa``, ``.home``, ``.internal``, this machine's names)
and private, loopback and link-local addresses (plus the addresses the machine had when it was made).
A server certificate covers only the names and addresses its CA may sign for. ``treazr doctor``
warns 60 days before the CA ends; ``new_ca`` (``treazr doctor --new-ca``) makes a fresh one, which
each device then trusts once more.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from treazr.atomic import atomic_write

__all__ = [
    "CA_CERT",
    "CA_WARN_DAYS",
    "ca_certificate_path",
    "ca_expires",
    "certificate_names",
    "ensure_server_certificate",
    "lan_addresses",
    "new_ca",
    "spki_sha256_base64",
]

CA_CERT = "ca.pem"
_CA_KEY, _SERVER_CERT, _SERVER_KEY = "ca.key", "server.crt", "server.key"
_SERVER_DAYS, _RENEW_DAYS, _CA_DAYS = 397, 30, 3 * 365
CA_WARN_DAYS = 60
_HOME_DNS = ("localhost", "local", "lan", "home.arpa", "home", "internal")
_HOME_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128"))
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ca_certificate_path(cert_dir: Path) -> Path:
    return Path(cert_dir) / CA_CERT


def _interface_ipv4() -> set[IPAddress]:
    """IPv4 addresses of every interface (Linux ioctl; silently nothing elsewhere)."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError, AttributeError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
                found.add(ipaddress.IPv4Address(packed[20:24]))
    return found


def _routed_addresses() -> set[IPAddress]:
    """The source address the OS would use to reach the LAN (a UDP 'connect' sends no packet)."""
    found: set[IPAddress] = set()
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((target, 9))
            found.add(ipaddress.ip_address(sock.getsockname()[0].split("%")[0]))
    return found


def lan_addresses() -> set[IPAddress]:
    """This machine's addresses that other devices at home could use (no loopback or link-local)."""
    found = _interface_ipv4() | _routed_addresses()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    return {a for a in found if not (a.is_loopback or a.is_link_local or a.is_unspecified or a.is_multicast)}


def certificate_names(host: str) -> tuple[set[str], set[IPAddress]]:
    """The DNS names and IP addresses the server certificate must cover."""
    hostname = socket.gethostname().strip().lower()
    names = {"localhost"} | ({hostname, f"{hostname}.local"} if hostname else set())
    addresses: set[IPAddress] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"), *lan_addresses()}
    try:
        listen = ipaddress.ip_address(host)
        if not listen.is_unspecified:
            addresses.add(listen)
    except ValueError:
        if host:
            names.add(host.lower())
    return names, addresses


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    atomic_write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    path.chmod(0o600)


def _load_ca(cert_dir: Path, host: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = cert_dir / CA_CERT, cert_dir / _CA_KEY
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        # kept until it ends: a new CA means trusting it again on every device, so it is the admin's call
        # (``new_ca``) while the old one still works
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > _now() + dt.timedelta(days=1):
            return cert, key
    return _make_ca(cert_dir, host)


def ca_expires(cert_dir: Path) -> tuple[dt.datetime, bool] | None:
    """When the home CA stops working and whether it is fenced by name constraints (None: no CA yet)."""
    try:
        ca = x509.load_pem_x509_certificate((Path(cert_dir) / CA_CERT).read_bytes())
    except (OSError, ValueError):
        return None
    return ca.not_valid_after_utc, _fence(ca) is not None


def _fence(ca: x509.Certificate) -> x509.NameConstraints | None:
    """The CA's name constraints (None for a CA made before they were added)."""
    try:
        return ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def new_ca(cert_dir: Path, host: str) -> Path:
    """A fresh CA (and server certificate) in place of the old one; returns the new CA certificate's path.
    Every device must then trust the new CA (``/certificate``)."""
    cert_dir = Path(cert_dir)
    cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _make_ca(cert_dir, host)
    ensure_server_certificate(cert_dir, host)
    return cert_dir / CA_CERT


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name_constraints(host: str) -> x509.NameConstraints:
    names, addresses = certificate_names(host)
    dns = sorted(set(_HOME_DNS) | {n for n in names if not _home_name(n)})
    networks = set(_HOME_NETWORKS) | {ipaddress.ip_network(a) for a in addresses if not _home_address(a)}
    subtrees: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    subtrees += [x509.IPAddress(n) for n in sorted(networks, key=lambda n: (n.version, str(n)))]
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)


def _under(name: str, domains: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``domains`` or inside one (the rule of DNS name constraints)."""
    return any(name == domain or name.endswith(f".{domain}") for domain in domains)


def _home_name(name: str) -> bool:
    return _under(name, _HOME_DNS)


def _home_address(address: IPAddress) -> bool:
    return any(address in network for network in _HOME_NETWORKS)


def _permitted(ca: x509.Certificate, names: set[str], addresses: set[IPAddress]) -> tuple[set[str], set[IPAddress]]:
    """The names and addresses this CA may sign for (all of them for a CA made before name constraints)."""
    fence = _fence(ca)
    if fence is None:
        return names, addresses
    dns = [g.value for g in fence.permitted_subtrees or [] if isinstance(g, x509.DNSName)]
    nets = [g.value for g in fence.permitted_subtrees or []
            if isinstance(g, x509.IPAddress) and isinstance(g.value, ipaddress.IPv4Network | ipaddress.IPv6Network)]
    return ({n for n in names if _under(n, dns)},
            {a for a in addresses if any(a.version == net.version and a in net for net in nets)})


def _make_ca(cert_dir: Path, host: str = "") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    label = socket.gethostname() or "home"
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Treazr"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Treazr home CA ({label})"[:64])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1)).not_valid_after(_now() + dt.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_name_constraints(host), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(cert_dir / _CA_KEY, key)
    atomic_write(cert_dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    (cert_dir / _SERVER_CERT).unlink(missing_ok=True)  # signed by the old CA, if any
    return cert, key


def _covers(cert_path: Path, ca: x509.Certificate, names: set[str], addresses: set[IPAddress]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return (cert.issuer == ca.subject
            and cert.not_valid_after_utc > _now() + dt.timedelta(days=_RENEW_DAYS)
            and set(san.get_values_for_type(x509.DNSName)) == names
            and set(san.get_values_for_type(x509.IPAddress)) == addresses)


def _issue_server(cert_dir: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                  names: set[str], addresses: set[IPAddress]) -> None:
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Treazr"),
                         x509.NameAttribute(NameOID.COMMON_NAME, sorted(names)[0])])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(names)]
    sans += [x509.IPAddress(a) for a in sorted(addresses, key=str)]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(min(_now() + dt.timedelta(days=_SERVER_DAYS), ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(cert_dir / _SERVER_KEY, key)
    atomic_write(cert_dir / _SERVER_CERT, cert.public_bytes(serialization.Encoding.PEM)
                 + ca.public_bytes(serialization.Encoding.PEM))


def ensure_server_certificate(cert_dir: Path, host: str) -> tuple[Path, Path]:
    """Make (or keep) the CA and a server certificate for this machine; returns (cert chain, key) paths."""
    cert_dir = Path(cert_dir)
    cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, ca_key = _load_ca(cert_dir, host)
    names, addresses = _permitted(ca, *certificate_names(host))
    cert_path, key_path = cert_dir / _SERVER_CERT, cert_dir / _SERVER_KEY
    if not (key_path.is_file() and _covers(cert_path, ca, names, addresses)):
        _issue_server(cert_dir, ca, ca_key, names, addresses)
    return cert_path, key_path


def spki_sha256_base64(cert_pem: bytes) -> str:
    """Base64 SHA-256 of a certificate's public key (what Chromium's SPKI allow-list takes)."""
    import base64

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode("ascii")
