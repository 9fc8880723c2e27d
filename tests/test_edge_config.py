"""The edge config file: valid files load, bad ones name the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from edge.kinds import KINDS

GOOD = """
[lane]
id = "lane-03"
name = "Lane 3 inbound"

[store]
path = "data/edge.sqlite3"

[mqtt]
url = "mqtt://127.0.0.1:1883"

[kinds.smart_lock]
offline_after_s = 30

[[devices]]
id = "lock-a"
kind = "smart_lock"
transport = "serial"
address = "/tmp/kouan-lock-a"

[[devices]]
id = "lock-b"
kind = "smart_lock"
transport = "mqtt"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_and_resolves_store_path(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.lane.id == "lane-03"
    assert config.store.path == (tmp_path / "data/edge.sqlite3").resolve()
    assert config.store.media_dir == (tmp_path / "data/media").resolve(), "media beside the database by default"
    assert [d.id for d in config.devices] == ["lock-a", "lock-b"]
    assert config.mqtt_client_id == "kouan-edge-lane-03"
    defaults = config.kind_defaults("smart_lock")
    assert defaults.offline_after_s == 30, "the site's [kinds.smart_lock] value"
    assert defaults.low_battery_pct == KINDS["smart_lock"].defaults_model().low_battery_pct, "the kind's default"


@pytest.mark.parametrize(
    ("edit", "field", "reason"),
    [
        (('transport = "serial"', 'transport = "usb"'), "devices[0].transport", "'serial' or 'mqtt'"),
        (('kind = "smart_lock"\ntransport = "mqtt"', 'kind = "toaster"\ntransport = "mqtt"'), "devices[1].kind", "unknown kind 'toaster'"),
        (('id = "lane-03"', 'id = "lane 03!"'), "lane.id", "must be 1-64"),
        (('url = "mqtt://127.0.0.1:1883"', 'url = "http://x"'), "mqtt.url", "must start with mqtt://"),
        (('offline_after_s = 30', 'offline_after_s = -1'), "kinds.smart_lock.offline_after_s", "greater than 0"),
        (('address = "/tmp/kouan-lock-a"', 'adress = "/tmp/kouan-lock-a"'), "devices[0].adress", "Extra inputs are not permitted"),
        (('id = "lock-b"', 'id = "lock-a"'), "devices", "used twice"),
        (('id = "lock-b"', 'id = "events"'), "devices[1].id", "'events' is reserved"),
        (('id = "lane-03"', 'id = "-lane"'), "lane.id", "must be 1-64"),
        (('address = "/tmp/kouan-lock-a"\n', ''), "devices[0]", "a serial device needs an address"),
    ],
)
def test_bad_config_names_file_field_and_reason(tmp_path: Path, edit: tuple[str, str], field: str, reason: str) -> None:
    """The file, the field, our reason; and not pydantic's 'Value error, ' before a validator's reason."""
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"config error in {path}:")
    assert f"  {field}: " in message
    assert reason in message
    assert "Value error" not in message


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[[devices]\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(b'[lane]\nid = "\xff"\n')
    with pytest.raises(ConfigError, match=rf"{not_utf8}: cannot be read: .*utf-8"):
        load_config(not_utf8)
    with pytest.raises(ConfigError, match=rf"{tmp_path}: cannot be read"):
        load_config(tmp_path)  # a folder


def test_a_device_of_an_unknown_kind_or_none_names_the_kinds_there_are(tmp_path: Path) -> None:
    known = ", ".join(sorted(KINDS))
    path = write(tmp_path, GOOD.replace('kind = "smart_lock"\ntransport = "mqtt"', 'kind = "toaster"\ntransport = "mqtt"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"  devices[1].kind: unknown kind 'toaster' (known: {known})" in str(info.value)
    path = write(tmp_path, GOOD.replace('kind = "smart_lock"\ntransport = "mqtt"', 'transport = "mqtt"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"  devices[1].kind: missing (known kinds: {known})" in str(info.value)


def test_relative_media_folder_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace("[store]\n", '[store]\nmedia = "pictures"\n', 1)))
    assert config.store.media_dir == (tmp_path / "pictures").resolve()
    elsewhere = tmp_path / "abs-media"
    config = load_config(write(tmp_path, GOOD.replace("[store]\n", f'[store]\nmedia = "{elsewhere}"\n', 1)))
    assert config.store.media_dir == elsewhere


def test_unknown_kind_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[kinds.no_such_kind]\noffline_after_s = 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert f"  kinds: unknown kind 'no_such_kind' (known: {', '.join(sorted(KINDS))})" in message


def test_one_error_line_per_bad_field(tmp_path: Path) -> None:
    text = GOOD.replace('url = "mqtt://127.0.0.1:1883"', 'url = "http://x"').replace('transport = "serial"', 'transport = "usb"')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"config error in {path}:"
    assert sorted(line.split(":")[0] for line in lines[1:]) == ["  devices[0].transport", "  mqtt.url"]
