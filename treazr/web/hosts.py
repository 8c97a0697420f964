"""Which names this server answers to: a guard against DNS rebinding.

A page on another site can point its own domain name at this server's LAN address and then talk to
it as "same origin". The browser still sends that foreign name in ``Host``, so the server answers
only the names a home server is reached by: an IP address, ``localhost``, this machine's own names,
a single-label name or one under a home-network suffix (``nas``, ``nas.local``, ``nas.home.arpa``),
the host of ``server.public_url``, and any listed in ``server.allowed_hosts``. Any other name gets a
421 that says which setting to change.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

__all__ = ["HOME_SUFFIXES", "KnownHosts"]

#: Suffixes that resolve only inside a home network (RFC 6762 .local, RFC 8375 .home.arpa, and the
#: ones common routers hand out).
HOME_SUFFIXES = (".local", ".home.arpa", ".lan", ".home", ".internal", ".localdomain", ".localhost")


class KnownHosts:
    def __init__(self, extra: Iterable[str]) -> None:
        names = {"localhost"}
        for name in (socket.gethostname(), socket.getfqdn()):
            if name:
                names.add(name.lower().rstrip("."))
        self._names = names | {name.strip().lower().rstrip(".") for name in extra if name.strip()}

    def allows(self, host: str) -> bool:
        """``host``: a Host header's name, without its port (IPv6 in brackets or not)."""
        name = host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
        if not name:
            return False
        try:
            ipaddress.ip_address(name)
            return True  # the browser was pointed at an address, not at someone else's name
        except ValueError:
            pass
        return name in self._names or "." not in name or name.endswith(HOME_SUFFIXES)
