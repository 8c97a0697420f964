"""One declarative settings object.

Precedence, lowest first: the defaults below -> the TOML file (``--config`` or ``TREAZR_CONFIG``, else
``config.toml`` in the data directory when present) -> ``TREAZR_*`` environment variables
(``TREAZR_DATA_DIR``, ``TREAZR_SERVER_PORT``, ``TREAZR_LIBRARY_HASH_WORKERS``, ...) -> command-line flags.

Every key is documented in ``config.example.toml``; ``tests/test_settings.py`` fails when one is missing.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treazr.errors import ConfigError

__all__ = [
    "AuthSettings",
    "EmulationSettings",
    "LibrarySettings",
    "ServerSettings",
    "Settings",
    "StreamingSettings",
    "load_settings",
]


def _choice(key: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r} is not allowed; use one of: {', '.join(map(repr, allowed))}")


def _at_least(key: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ConfigError(f"{key} = {value!r} is not allowed; use a number >= {minimum}")


def _port(key: str, value: int, *, zero_ok: bool = False) -> None:
    if not (0 if zero_ok else 1) <= value <= 65535:
        raise ConfigError(f"{key} = {value!r} is not allowed; use a port number from 1 to 65535"
                          + (" (0 turns it off)" if zero_ok else ""))


@dataclass
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8443
    http_port: int = 8080
    tls: str = "auto"
    tls_cert: str = ""
    tls_key: str = ""
    trusted_proxies: list[str] = field(default_factory=list)
    public_url: str = ""
    allowed_hosts: list[str] = field(default_factory=list)
    anonymous_per_minute: int = 600
    log_level: str = "info"
    max_request_kb: int = 1024
    read_time_limit_s: float = 2.0

    def __post_init__(self) -> None:
        _port("server.port", self.port)
        _port("server.http_port", self.http_port, zero_ok=True)
        _choice("server.tls", self.tls, ("auto", "custom", "off"))
        _choice("server.log_level", self.log_level, ("debug", "info", "warning", "error"))
        _at_least("server.max_request_kb", self.max_request_kb, 1)
        _at_least("server.read_time_limit_s", self.read_time_limit_s, 0.1)
        _at_least("server.anonymous_per_minute", self.anonymous_per_minute, 10)
        if self.tls == "custom" and not (self.tls_cert and self.tls_key):
            raise ConfigError("server.tls = 'custom' needs server.tls_cert and server.tls_key")


@dataclass
class LibrarySettings:
    roots: list[str] = field(default_factory=list)
    hash_workers: int = 0
    member_uploads: bool = True
    max_upload_mb: int = 1024
    archive_max_total_mb: int = 4096
    archive_max_ratio: int = 100
    archive_max_members: int = 1000
    scan_hook: str = ""
    auto_covers: bool = True

    def __post_init__(self) -> None:
        _at_least("library.hash_workers", self.hash_workers, 0)
        _at_least("library.max_upload_mb", self.max_upload_mb, 1)
        _at_least("library.archive_max_total_mb", self.archive_max_total_mb, 1)
        _at_least("library.archive_max_ratio", self.archive_max_ratio, 1)
        _at_least("library.archive_max_members", self.archive_max_members, 1)


@dataclass
class AuthSettings:
    invite_ttl_hours: int = 24
    session_days: int = 30
    challenge_ttl_s: int = 60
    rate_limit_per_minute: int = 30
    invites_per_user: int = 5

    def __post_init__(self) -> None:
        _at_least("auth.invite_ttl_hours", self.invite_ttl_hours, 1)
        _at_least("auth.invites_per_user", self.invites_per_user, 1)
        _at_least("auth.session_days", self.session_days, 1)
        _at_least("auth.challenge_ttl_s", self.challenge_ttl_s, 5)
        _at_least("auth.rate_limit_per_minute", self.rate_limit_per_minute, 1)


@dataclass
class EmulationSettings:
    core_dirs: list[str] = field(default_factory=list)
    bios_dir: str = ""
    saveram_flush_s: float = 10.0
    hang_timeout_s: float = 5.0
    max_sessions: int = 8
    max_sessions_per_user: int = 2
    cover_runs: int = 2
    cover_runs_per_user: int = 1
    idle_timeout_min: float = 10.0
    save_point_min: float = 2.0
    save_points_kept: int = 10
    state_versions_kept: int = 10
    state_versions_days: float = 90.0

    def __post_init__(self) -> None:
        _at_least("emulation.saveram_flush_s", self.saveram_flush_s, 0.5)
        _at_least("emulation.hang_timeout_s", self.hang_timeout_s, 1)
        _at_least("emulation.max_sessions", self.max_sessions, 1)
        _at_least("emulation.max_sessions_per_user", self.max_sessions_per_user, 1)
        _at_least("emulation.cover_runs", self.cover_runs, 1)
        _at_least("emulation.cover_runs_per_user", self.cover_runs_per_user, 1)
        _at_least("emulation.idle_timeout_min", self.idle_timeout_min, 0.1)
        _at_least("emulation.save_point_min", self.save_point_min, 0.1)
        _at_least("emulation.save_points_kept", self.save_points_kept, 1)
        _at_least("emulation.state_versions_kept", self.state_versions_kept, 1)
        _at_least("emulation.state_versions_days", self.state_versions_days, 1)


@dataclass
class StreamingSettings:
    video_bitrate_kbps: int = 3000
    audio_bitrate_kbps: int = 96
    chroma: str = "auto"
    max_viewers_per_session: int = 16
    max_viewers_per_user: int = 8

    def __post_init__(self) -> None:
        _at_least("streaming.max_viewers_per_session", self.max_viewers_per_session, 1)
        _at_least("streaming.max_viewers_per_user", self.max_viewers_per_user, 1)
        _at_least("streaming.video_bitrate_kbps", self.video_bitrate_kbps, 100)
        _at_least("streaming.audio_bitrate_kbps", self.audio_bitrate_kbps, 16)
        _choice("streaming.chroma", self.chroma, ("auto", "444", "420"))


@dataclass
class Settings:
    data_dir: str = ""
    server: ServerSettings = field(default_factory=ServerSettings)
    library: LibrarySettings = field(default_factory=LibrarySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    emulation: EmulationSettings = field(default_factory=EmulationSettings)
    streaming: StreamingSettings = field(default_factory=StreamingSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(hints[f.name])}


def _coerce(key: str, raw: Any, annotation: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or say which key is wrong."""
    from_env = isinstance(raw, str)
    origin = typing.get_origin(annotation)
    try:
        if origin is list:
            if from_env:
                return [part.strip() for part in raw.split(",") if part.strip()]
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise TypeError
            return list(raw)
        if annotation is bool:
            if from_env:
                lowered = raw.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                return lowered in ("1", "true", "yes", "on")
            if not isinstance(raw, bool):
                raise TypeError
            return raw
        if annotation is int:
            if isinstance(raw, (bool, float)):
                raise TypeError
            return int(raw)
        if annotation is float:
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if annotation is str:
            if not isinstance(raw, str):
                raise TypeError
            return raw
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"unsupported setting type for {key}: {annotation}")
    kind = "a list of strings" if origin is list else getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{key} = {raw!r} is not allowed; use {'an' if kind[0] in 'aeiou' else 'a'} {kind}")


def _merge(values: dict[str, dict[str, Any]], top: dict[str, Any], source: Mapping[str, Any], origin: str) -> None:
    sections = _section_types()
    for name, value in source.items():
        if name in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] in {origin} must be a table of settings")
            hints = typing.get_type_hints(sections[name])
            for key, raw in value.items():
                if key not in hints:
                    raise ConfigError(f"{name}.{key} in {origin} is not a setting; see config.example.toml")
                values[name][key] = _coerce(f"{name}.{key}", raw, hints[key])
        elif name == "data_dir":
            top["data_dir"] = _coerce("data_dir", value, str)
        else:
            raise ConfigError(f"{name} in {origin} is not a setting; see config.example.toml")


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sections = _section_types()
    for name, cls in sections.items():
        for key in typing.get_type_hints(cls):
            env = f"TREAZR_{name}_{key}".upper()
            if env in environ:
                out.setdefault(name, {})[key] = environ[env]
    if "TREAZR_DATA_DIR" in environ:
        out["data_dir"] = environ["TREAZR_DATA_DIR"]
    return out


def default_data_dir() -> Path:
    """A source checkout keeps its data in ``./treazr-data``; the executable follows XDG."""
    from treazr.paths import is_frozen

    if is_frozen():
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "treazr"
    return Path.cwd() / "treazr-data"


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from every source in order of precedence.

    ``overrides`` are command-line values: ``{"data_dir": ..., "server": {"port": ...}}``.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    env_values = _from_environment(environ)
    values: dict[str, dict[str, Any]] = {name: {} for name in _section_types()}
    top: dict[str, Any] = {}

    data_dir = overrides.get("data_dir") or env_values.get("data_dir")
    path = config_file or environ.get("TREAZR_CONFIG")
    if path is None:
        candidate = Path(data_dir or default_data_dir()) / "config.toml"
        path = candidate if candidate.is_file() else None
    if path is not None:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
        _merge(values, top, document, str(path))
    _merge(values, top, env_values, "the environment")
    _merge(values, top, overrides, "the command line")

    top.setdefault("data_dir", str(default_data_dir()))
    sections = {name: cls(**values[name]) for name, cls in _section_types().items()}
    return Settings(data_dir=top["data_dir"], **sections)

