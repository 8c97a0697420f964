"""``treazr run``: run content headless, for tests, debugging and thumbnails."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from treazr import errors
from treazr.cli import CliContext, pass_cli
from treazr.errors import CoreCrashed, InvalidContent, InvalidInput
from treazr.lifeline import die_with_parent

__all__ = ["COMMANDS"]


def _choose_core(cli: CliContext, rom: Path | None, core: str | None, core_dirs: list[str]) -> Path:
    from treazr.emulation.headless import content_extension, find_core

    if core:
        return find_core(core, core_dirs)
    if rom is None:
        return find_core("demo", core_dirs)
    # the registry's choice: the platform its manifests give the extension, that platform's preferred core
    with cli.services() as services:
        registry = services.cores
        return Path(registry.core_for_content(content_extension(rom, registry.content_extensions)).path)


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--option wants KEY=VALUE, got {pair!r}")
        options[key] = value
    return options


def _read_state(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InvalidContent(f"cannot read the state {path}: {error}") from error


def _human(report: dict[str, Any]) -> None:
    click.echo(f"{report['core']} {report['core_version']}: {report['frames']} frames in {report['seconds']} s"
               f" ({report['fps']} fps), {report['width']}x{report['height']}, last frame {report['frame_hash']}")
    for index, digest in enumerate(report.get("frame_hashes") or []):
        click.echo(f"{index} {digest}")
    if report.get("screenshot"):
        click.echo(f"screenshot: {report['screenshot']}")


@click.command("run")
@click.argument("rom", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--core", "core", help="Core name (mgba, nestopia, demo ...) or path to a *_libretro.so.")
@click.option("--frames", default=60, show_default=True, type=click.IntRange(min=0), help="Frames to run.")
@click.option("--input", "input_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Input recording (JSON events) to play.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False), help="Load this save state first.")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), help="Write the last frame as PNG.")
@click.option("--frame-hashes", is_flag=True, help="Report a hash of every frame.")
@click.option("--realtime", is_flag=True, help="Pace to the core's frame rate instead of running flat out.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Record the input played to FILE.")
@click.option("--save-state", type=click.Path(dir_okay=False, path_type=Path), help="Write the final state here.")
@click.option("--save-ram", type=click.Path(dir_okay=False, path_type=Path),
              help="Load battery save RAM from FILE if it exists, and write it back at the end.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="Override a core option.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def run_command(cli: CliContext, rom: Path | None, core: str | None, frames: int, input_file: Path | None,
                state_file: str | None, screenshot: Path | None, frame_hashes: bool, realtime: bool,
                record: Path | None, save_state: Path | None, save_ram: Path | None, option_pairs: tuple[str, ...],
                as_json: bool) -> None:
    """Run ROM headless (without ROM: the demo core), as fast as the core goes."""
    from treazr.emulation.headless import HeadlessRun, run_headless
    from treazr.emulation.registry import core_options, load_manifests
    from treazr.emulation.replay import InputLog
    from treazr.paths import DataDir

    settings = cli.settings()
    data = DataDir(settings.data_path).ensure()
    core_path = _choose_core(cli, rom, core, list(settings.emulation.core_dirs))
    with tempfile.TemporaryDirectory(prefix="treazr-run-", dir=data.tmp) as scratch:
        job = HeadlessRun(
            rom=rom, core=core_path, frames=frames, input_log=InputLog.load(input_file) if input_file else None,
            state=_read_state(state_file), screenshot=screenshot, frame_hashes=frame_hashes, realtime=realtime,
            record=record, save_state=save_state, save_ram=save_ram, options={
                **core_options(load_manifests(), core_path.name.removesuffix(".so").removesuffix("_libretro")),
                **_parse_options(option_pairs),
            },
            system_dir=Path(settings.emulation.bios_dir) if settings.emulation.bios_dir else data.bios,
            temp_dir=Path(scratch),
        )
        report = _in_child(lambda: run_headless(job), f"{core_path.name} running {rom or 'no content'}")
    cli.json = cli.json or as_json
    cli.emit(report, lambda: _human(report))


def _in_child(run: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    """``run()`` in a forked child, so a core that crashes (a truncated ROM can make some segfault) is
    reported in one line instead of killing this process without a word. Treazr's own errors come back
    as themselves."""
    reader, writer = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into the CLI
        die_with_parent(parent)  # a killed `treazr run` must not leave a hung core behind
        os.close(reader)
        code = 0
        try:
            answer: dict[str, Any] = {"report": run()}
        except errors.TreazrError as error:
            answer = {"error": type(error).__name__, "message": str(error)}
        except BaseException as unexpected:  # reported by the parent as one line
            answer, code = {"error": "CoreError", "message": f"{type(unexpected).__name__}: {unexpected}"}, 1
        with os.fdopen(writer, "w") as out:
            json.dump(answer, out)
        os._exit(code)
    os.close(writer)
    with os.fdopen(reader) as answers:
        raw = answers.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise CoreCrashed(f"the core crashed ({name}) {what}")
    answer = json.loads(raw) if raw else {"error": "CoreError", "message": f"the run stopped without a report ({what})"}
    if "error" in answer:
        kind = getattr(errors, str(answer["error"]), errors.CoreError)
        try:
            failure = kind(str(answer["message"]))
        except TypeError:  # an error type that takes more than its message
            failure = errors.CoreError(str(answer["message"]))
        raise failure
    report: dict[str, Any] = answer["report"]
    return report


COMMANDS = [run_command]
