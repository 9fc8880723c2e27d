"""`[uplink]` in the edge config: optional, exactly one way to give the token, errors that name
the field, a token file relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config

BASE = '[lane]\nid = "lane-u"\n'


def write(tmp: Path, text: str) -> Path:
    path = tmp / "edge.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_no_uplink_table_means_no_uplink(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).uplink is None


def test_an_uplink_with_a_token_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hub.token").write_text("tok-0123456789abcdef\n", encoding="utf-8")
    config = load_config(write(tmp_path, '[uplink]\nhub_url = "http://hub.example:8090/"\n'
                                         'token_file = "secrets/hub.token"\nbandwidth_bytes_s = 2000000\n'))
    uplink = config.uplink
    assert uplink is not None
    assert uplink.hub_url == "http://hub.example:8090"
    assert uplink.token_file == (tmp_path / "secrets" / "hub.token").resolve()
    assert uplink.bearer() == "tok-0123456789abcdef"
    assert (uplink.chunk_bytes, uplink.bandwidth_bytes_s, uplink.backoff_base_s, uplink.backoff_cap_s,
            uplink.verdict_wait_s, uplink.parallel_uploads) == (8 * 1024 * 1024, 2_000_000, 1.0, 60.0, 25.0, 2)


@pytest.mark.parametrize(("text", "words"), [
    ('hub_url = "http://h"\n', "give exactly one of token and token_file"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\ntoken_file = "t"\n', "give exactly one"),
    ('hub_url = "ftp://h"\ntoken = "tok-0123456789abcdef"\n', "uplink.hub_url: must start with http://"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\nchunk_bytes = 9000000\n', "uplink.chunk_bytes"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\nverdict_wait_s = 31\n', "uplink.verdict_wait_s"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\nparallel_uploads = 0\n', "uplink.parallel_uploads"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\nbackoff_base_s = 5\nbackoff_cap_s = 1\n',
     "backoff_cap_s must be at least backoff_base_s"),
    ('hub_url = "http://h"\ntoken = "tok-0123456789abcdef"\nspeed = 1\n', "uplink.speed: Extra inputs"),
])
def test_a_bad_uplink_table_is_refused_naming_the_field(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[uplink]\n" + text))
    assert words in str(caught.value) and str(tmp_path / "edge.toml") in str(caught.value)


def test_an_unreadable_token_file_says_so(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[uplink]\nhub_url = "http://h"\ntoken_file = "missing.token"\n'))
    assert config.uplink is not None
    with pytest.raises(ValueError, match="missing.token cannot be read"):
        config.uplink.bearer()
