from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from treazr import __version__
from treazr.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert __version__ in result.output


def test_doctor_reports_data_dir_database_tls_and_ports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["--json", "--data-dir", str(data), "doctor"])
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert {"data directory", "database", "tls", "ports", "cores"} <= set(checks)
    assert checks["data directory"]["ok"] and str(data) in checks["data directory"]["detail"]
    assert checks["database"]["ok"]
    assert (data / "treazr.db").exists()
    assert (data.stat().st_mode & 0o777) == 0o700


def test_doctor_reports_the_home_ca_and_replaces_it_on_request(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = CliRunner().invoke(main, ["--json", "--data-dir", str(data), "doctor"])
    assert "made on first start" in {c["name"]: c for c in json.loads(first.output)}["tls"]["detail"]
    made = CliRunner().invoke(main, ["--json", "--data-dir", str(data), "doctor", "--new-ca"])
    tls = {c["name"]: c for c in json.loads(made.stdout)}["tls"]
    assert tls["ok"] and "name-constrained, until" in tls["detail"], tls
    assert "trust it" in made.stderr and (data / "certificates" / "ca.pem").is_file()


def test_db_backup_makes_a_readable_copy(tmp_path: Path) -> None:
    target = tmp_path / "backups" / "treazr.db"
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "db", "backup", str(target)])
    assert result.exit_code == 0, result.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] >= 0
    finally:
        copy.close()


def test_a_wrong_setting_is_one_line_and_exit_2_without_traceback(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "treazr", "--data-dir", str(tmp_path), "doctor"],
        env={"TREAZR_SERVER_PORT": "70000", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert process.returncode == 2
    assert process.stderr.strip() == (
        "Error: server.port = 70000 is not allowed; use a port number from 1 to 65535")
    assert "Traceback" not in process.stdout + process.stderr


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "doctor"])
    assert result.exit_code == 2
    assert "config file" in result.output and "does not exist" in result.output


def test_serve_on_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "serve", "--host", "127.0.0.1",
                                           "--port", str(port), "--tls", "off"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: port {port} on 127.0.0.1 is in use (is Treazr already running?); "
        "choose another with server.port or --port")
