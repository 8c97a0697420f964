"""``treazr doctor``: what a hobbyist needs to know before (or while) running the server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass

import click

from treazr.cli import CliContext, pass_cli
from treazr.services import Services
from treazr.web.server import port_free

__all__ = ["COMMANDS", "Check", "run_checks"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _check_data(services: Services) -> Check:
    root = services.data.root
    mode = root.stat().st_mode & 0o777
    return Check("data directory", mode & 0o077 == 0, f"{root} (permissions {mode:o})")


def _check_database(services: Services) -> Check:
    ok = services.db.check()
    applied = services.db.query("SELECT count(*) AS n FROM _sqlite_migrations")[0]["n"]
    return Check("database", ok, f"{services.data.database} ({applied} migrations applied, "
                                 f"{'integrity ok' if ok else 'FAILED quick_check'})")


def _check_tls(services: Services) -> Check:
    server = services.settings.server
    if server.tls == "off":
        return Check("tls", True, "off: plain HTTP (only behind a reverse proxy that adds HTTPS)")
    if server.tls == "custom":
        from pathlib import Path

        ok = Path(server.tls_cert).is_file() and Path(server.tls_key).is_file()
        return Check("tls", ok, f"custom certificate {server.tls_cert}")
    from treazr.auth.tls import CA_WARN_DAYS, ca_expires

    found = ca_expires(services.data.certificates)
    if found is None:
        return Check("tls", True, "automatic: the home CA is made on first start")
    ends, fenced = found
    days = (ends - dt.datetime.now(dt.UTC)).days
    where = services.data.certificates / "ca.pem"
    if days < CA_WARN_DAYS:
        return Check("tls", False, f"the home CA {where} ends in {max(days, 0)} days: run `treazr doctor --new-ca`, "
                                   "then trust the new one on each device (/certificate)")
    if not fenced:
        return Check("tls", True, f"automatic: {where} until {ends:%Y-%m-%d}, made by an older Treazr without name "
                                  "constraints; `treazr doctor --new-ca` makes a fenced one (each device then "
                                  "trusts it once more)")
    return Check("tls", True, f"automatic: {where}, name-constrained, until {ends:%Y-%m-%d}")


def _check_ports(services: Services) -> Check:
    server = services.settings.server
    busy = [p for p in (server.port, server.http_port) if p and not port_free(server.host, p)]
    if busy:
        return Check("ports", False, f"in use on {server.host}: {', '.join(map(str, busy))} "
                                     "(another Treazr, or set server.port)")
    return Check("ports", True, f"{server.port} (https) and {server.http_port} (http) are free on {server.host}")


def _check_cores(services: Services) -> Check:
    try:
        from treazr.emulation.registry import doctor_check
    except ImportError:
        return Check("cores", False, "the emulation engine is not built yet")
    ok, detail = doctor_check(services)
    return Check("cores", ok, detail)


CHECKS: list[Callable[[Services], Check]] = [_check_data, _check_database, _check_tls, _check_ports, _check_cores]


def run_checks(services: Services) -> list[Check]:
    return [check(services) for check in CHECKS]


@click.command("doctor")
@click.option("--new-ca", is_flag=True, help="Replace the home certificate authority (automatic TLS) with a new "
              "one; every device must then trust it again.")
@pass_cli
def doctor_command(cli: CliContext, new_ca: bool) -> None:
    """Check the data directory, database, cores, certificates and ports."""
    with cli.services() as services:
        if new_ca:
            from treazr.auth.tls import new_ca as make_new_ca

            if services.settings.server.tls != "auto":
                raise click.ClickException("server.tls is not 'auto': Treazr has no CA of its own to replace")
            path = make_new_ca(services.data.certificates, services.settings.server.host)
            click.echo(f"A new home CA is at {path}. Restart Treazr, then open /certificate on each device "
                       "to trust it.", err=True)
        checks = run_checks(services)

    def human() -> None:
        for check in checks:
            mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark} {check.name:<15} {check.detail}")

    cli.emit([asdict(c) for c in checks], human)
    if not all(c.ok for c in checks):
        raise SystemExit(1)


COMMANDS = [doctor_command]
