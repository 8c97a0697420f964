"""``treazr serve``: run the server in this process until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import Any

import click

from treazr.cli import CliContext, pass_cli
from treazr.composition import open_treazr
from treazr.web.logs import configure_logging
from treazr.web.server import plan_server, run_server

__all__ = ["COMMANDS"]


@click.command("serve")
@click.option("--host", help="Address to listen on (default 0.0.0.0: the whole LAN).")
@click.option("--port", type=int, help="HTTPS port (default 8443).")
@click.option("--http-port", type=int, help="Plain-HTTP port that redirects to HTTPS (0 turns it off).")
@click.option("--tls", type=click.Choice(["auto", "custom", "off"]), help="Certificate mode.")
@pass_cli
def serve_command(cli: CliContext, host: str | None, port: int | None, http_port: int | None,
                  tls: str | None) -> None:
    """Run the Treazr server."""
    server: dict[str, Any] = {k: v for k, v in
                              {"host": host, "port": port, "http_port": http_port, "tls": tls}.items()
                              if v is not None}
    if server:
        cli.overrides["server"] = server
    settings = cli.settings()
    services = open_treazr(settings)
    configure_logging(settings.server.log_level, services.data.logs)
    try:
        plan = plan_server(services)
        messages = startup_messages(services, plan)

        def ready() -> None:
            for line in messages:
                click.echo(line, err=True)

        run_server(services, plan, on_ready=ready)
    finally:
        services.close()


def startup_messages(services: Any, plan: Any) -> list[str]:
    """What a hobbyist sees when the server is up: where to point the browser, and how to get in."""
    lines = [f"Treazr is running at {plan.url()}  (data: {services.data.root})"]
    try:
        from treazr.auth.bootstrap import first_start_lines
    except ImportError:
        return lines
    return lines + first_start_lines(services, plan)


COMMANDS = [serve_command]
