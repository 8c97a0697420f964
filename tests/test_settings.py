from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from treazr.errors import ConfigError
from treazr.settings import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_every_setting_is_documented_in_config_example_with_its_default() -> None:
    text = EXAMPLE.read_text()
    example = tomllib.loads(text)
    defaults = Settings()
    assert example["data_dir"] == defaults.data_dir
    for section in (f for f in dataclasses.fields(Settings) if f.name != "data_dir"):
        documented = example.get(section.name)
        assert documented is not None, f"[{section.name}] is missing from config.example.toml"
        for key in dataclasses.fields(getattr(defaults, section.name)):
            assert key.name in documented, f"{section.name}.{key.name} is missing from config.example.toml"
            assert documented[key.name] == getattr(getattr(defaults, section.name), key.name), (
                f"{section.name}.{key.name}: config.example.toml shows another default")
            line = next(i for i, ln in enumerate(text.splitlines()) if ln.startswith(f"{key.name} ="))
            assert text.splitlines()[line - 1].startswith("#"), f"{section.name}.{key.name} has no comment"
        extra = set(documented) - {k.name for k in dataclasses.fields(getattr(defaults, section.name))}
        assert not extra, f"config.example.toml documents settings that do not exist: {extra}"


def test_the_example_file_loads_as_is() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.server.port == 8443


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[server]\nport = 9000\nhttp_port = 9001\nlog_level = "debug"\n')
    environ = {"TREAZR_SERVER_PORT": "9100", "TREAZR_SERVER_HTTP_PORT": "9101"}
    settings = load_settings(config, overrides={"server": {"port": 9200}}, environ=environ)
    assert settings.server.port == 9200  # flag beats environment
    assert settings.server.http_port == 9101  # environment beats file
    assert settings.server.log_level == "debug"  # file beats default
    assert settings.server.tls == "auto"  # default


def test_config_toml_in_the_data_dir_is_read_when_no_file_is_given(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[library]\nhash_workers = 3\n")
    settings = load_settings(environ={"TREAZR_DATA_DIR": str(tmp_path)})
    assert settings.library.hash_workers == 3
    assert settings.data_path == tmp_path.resolve()


def test_environment_lists_and_booleans() -> None:
    settings = load_settings(environ={"TREAZR_LIBRARY_ROOTS": "/a, /b", "TREAZR_LIBRARY_MEMBER_UPLOADS": "no"})
    assert settings.library.roots == ["/a", "/b"]
    assert settings.library.member_uploads is False


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"TREAZR_SERVER_PORT": "99999"}, "server.port = 99999 is not allowed"),
        ({"TREAZR_SERVER_TLS": "maybe"}, "server.tls = 'maybe' is not allowed; use one of: 'auto', 'custom', 'off'"),
        ({"TREAZR_SERVER_PORT": "eighty"}, "server.port = 'eighty' is not allowed; use an int"),
        ({"TREAZR_LIBRARY_MEMBER_UPLOADS": "perhaps"}, "library.member_uploads = 'perhaps' is not allowed"),
        ({"TREAZR_STREAMING_CHROMA": "422"}, "streaming.chroma = '422' is not allowed"),
    ],
)
def test_a_wrong_value_names_the_key_and_what_is_allowed(source: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=source)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unknown_keys_and_bad_toml_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"server\.prot in .* is not a setting"):
        load_settings(config, environ={})
    config.write_text("[server\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
