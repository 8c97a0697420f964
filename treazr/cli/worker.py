"""``treazr worker``: the hidden entry point of an emulation worker process (and the core probe)."""

from __future__ import annotations

import logging
import sys

import click

__all__ = ["COMMANDS"]


@click.command("worker", hidden=True)
@click.option("--fd", type=int, help="Socket to the web process (one play session).")
@click.option("--probe", "probe_path", type=click.Path(dir_okay=False), help="Print a core's system info as JSON.")
def worker_command(fd: int | None, probe_path: str | None) -> None:
    """Run one emulation session for the web process (not for people)."""
    if probe_path:
        from treazr.emulation.probe import main as probe_main

        sys.exit(probe_main([probe_path]))
    if fd is None:
        raise click.UsageError("treazr worker is started by the server; it needs --fd")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from treazr.emulation.runner import run_worker

    sys.exit(run_worker(fd))


COMMANDS = [worker_command]
