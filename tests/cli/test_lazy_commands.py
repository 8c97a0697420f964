"""Command modules load on demand (every start of the one-file executable pays for its imports)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from treazr.cli import _COMMAND_MODULES, _MODULES, main

_PROBE = """
import json, sys
from treazr.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("treazr.cli.", "treazr.web", "litestar", "uvicorn")))))
"""


def _modules_after(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return list(json.loads(out.splitlines()[-1]))


def test_version_imports_no_command_module() -> None:
    assert _modules_after("--version") == []


def test_a_command_imports_only_its_own_module() -> None:
    loaded = _modules_after("db", "--help")
    assert "treazr.cli.db" in loaded
    assert not {"treazr.cli.serve", "treazr.cli.library", "treazr.web.app"} & set(loaded)


def test_help_lists_every_command_of_every_module() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in _COMMAND_MODULES:
        if name != "worker":  # hidden
            assert f"  {name} " in result.output
    assert set(_COMMAND_MODULES.values()) == set(_MODULES)


def test_unknown_command_is_one_clear_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output
