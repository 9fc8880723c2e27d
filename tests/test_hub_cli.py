"""`kouan hub`: its config, its commands in-process, and the served hub as a real process (SIGKILL, restart)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from contract.uplink import UPLOAD_OFFSET
from edge.cli import main as kouan
from hub import accounts
from hub.cli import main
from hub.config import ConfigError, HubConfig, default_config, load_config
from hub.db.engine import Database, make_engine
from tests import hub_images
from tests.hub_harness import patch_chunk, upload_blob

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "hub.toml"
    path.write_text('[hub]\nname = "cli-hub"\n[web]\nport = 0\n' + body, encoding="utf-8")
    return path


def test_config_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[blobs]\nmax_side = -1\n[web]\nport = 70000\nfoo = 1\n[review]\nrecheck_share = 2\n'
                    '[database]\nurl = "mysql://x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    for field in ("blobs.max_side", "web.port", "web.foo", "review.recheck_share", "database"):
        assert field in message, field
    path.write_text("[hub\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.toml")
    for field in HubConfig.model_fields.values():
        assert field.description
    for section in (HubConfig().blobs, HubConfig().web, HubConfig().review, HubConfig().database):
        assert all(f.description for f in type(section).model_fields.values())


def test_config_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[blobs]\nroot = "store/blobs"\n'))
    assert config.blobs.root == tmp_path / "store" / "blobs"
    assert config.database.url == f"sqlite:///{tmp_path / 'var' / 'hub.sqlite3'}"
    assert (config.blobs.max_bytes, config.blobs.max_side, config.review.lease_s) == (256 << 20, 20000, 60.0)
    assert default_config(tmp_path).blobs.root == tmp_path / "var" / "hub-blobs"
    assert config.review_policy().recheck_share == 0.1


def test_commands_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "migrate"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert main(["--config", str(config), "user", "add", "ana", "--role", "supervisor", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["--config", str(config), "user", "add", "bo", "--role", "reviewer", "--password-stdin"]) == 1
    assert "8" in capsys.readouterr().err
    assert kouan(["hub", "--config", str(config), "edge", "add", "gate-3", "--lane", "L3", "--port", "North"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    database = Database(make_engine(load_config(config).database.url))
    try:
        with database.read_session() as s:
            assert accounts.authenticate(s, "ana", "a-long-password").role == "supervisor"  # type: ignore[union-attr]
            edge = accounts.edge_for_token(s, token)
        assert edge is not None and (edge.name, edge.lane, edge.port) == ("gate-3", "L3", "North")
        assert main(["--config", str(config), "edge", "add", "gate-3", "--lane", "L3"]) == 1
        assert "exists" in capsys.readouterr().err
        assert main(["--config", str(config), "edge", "revoke", "gate-3"]) == 0
        with database.read_session() as s:
            assert accounts.edge_for_token(s, token) is None
        capsys.readouterr()
        assert main(["--config", str(config), "verify-audit"]) == 0
        assert capsys.readouterr().out.strip() == "audit ok: 3 entries"
        with database.session() as s:
            s.execute(text("UPDATE audit_log SET detail_json = '{\"lane\": \"L9\"}' WHERE id = 2"))
        assert main(["--config", str(config), "verify-audit"]) == 1
        assert "entry 2" in capsys.readouterr().err
    finally:
        database.dispose()
    assert main(["--config", str(tmp_path / "missing.toml"), "migrate"]) == 2


@contextmanager
def served(config: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m hub --config FILE --port 0`: the process and its URL once it listens."""
    with log.open("ab") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "--port", "0"],
                                stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("review hub: http://127.0.0.1:"), (line, log.read_text()[-3000:])
            yield proc, line.split(": ", 1)[1].strip().rstrip("/")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_served_hub_survives_a_sigkill_mid_upload(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "edge", "add", "gate-1", "--lane", "L1"]) == 0
    with Database(make_engine(load_config(config).database.url)).session() as s:
        _edge, token = accounts.add_edge(s, "gate-2", "L1", "P", actor="test")
    data = hub_images.tiff(2, 200, 300)
    sha = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "hub.log"
    with served(config, log) as (proc, url), httpx.Client(base_url=url, headers=headers) as edge:
        assert edge.get("/api/v1/health").json() == {"status": "ok", "name": "cli-hub"}
        edge.post(f"/api/v1/blobs/{sha}", json={"size": len(data), "media_type": "image/tiff"})
        assert patch_chunk(edge, sha, 0, data[:100_000]).json()["offset"] == 100_000
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with served(config, log) as (proc, url), httpx.Client(base_url=url, headers=headers) as edge:
        head = edge.head(f"/api/v1/blobs/{sha}")
        assert head.headers[UPLOAD_OFFSET] == "100000"
        assert upload_blob(edge, data, "image/tiff", chunk=150_000).json()["complete"] is True
        assert edge.head(f"/api/v1/blobs/{sha}").headers[UPLOAD_OFFSET] == str(len(data))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
    text_of_log = log.read_text()
    assert "Finished server process" in text_of_log and "Traceback" not in text_of_log
