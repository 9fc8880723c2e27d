"""A device's lane model store on disk (`edge/normal/lane_models.py`): pruning keeps what a rollback
goes back to, an adoption is noted before `current` moves, a torn history line costs only itself,
and a killed refit's candidate folder does not stay forever."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.normal.lane_models import HISTORY, LaneModelPointer, LaneModels

ROOT = Path(__file__).resolve().parents[1]


def adopt(models: LaneModels, keep: int = 5) -> str:
    """The next version adopted as a refit would, under the lock (a placeholder graph)."""
    with models.locked():
        candidate = models.candidate_folder()
        version = models.next_version()
        (candidate / "model.onnx").write_bytes(f"onnx {version}".encode())
        models.adopt(candidate, version, {"adopted": True, "version": version}, keep)
    return version


def test_after_rollbacks_the_next_adoption_keeps_the_model_it_replaced(tmp_path: Path) -> None:
    models = LaneModels(tmp_path / "uv1")
    for _ in range(5):
        adopt(models)
    for _ in range(4):
        models.rollback(by="supervisor sup-1", reason="drift")
    assert models.current_version() == "v1"
    assert adopt(models) == "v6"
    assert "v1" in models.versions() and len(models.versions()) == 5
    assert models.rollback_target() == "v1"
    assert models.rollback() == ("v6", "v1")
    assert LaneModelPointer(models.root).resolve() == (str(models.root / "v1"), "lane:v1")


def test_pruning_deletes_rolled_back_versions_before_those_a_rollback_goes_back_to(tmp_path: Path) -> None:
    models = LaneModels(tmp_path / "uv1")
    for _ in range(3):
        adopt(models, keep=2)
    assert models.versions() == ["v2", "v3"]
    assert models.rollback() == ("v3", "v2")
    adopt(models, keep=2)  # v4 over v2: v3 was rolled back from, it goes first
    assert models.versions() == ["v2", "v4"] and models.rollback_target() == "v2"
    for _ in range(3):
        adopt(models, keep=3)
    assert models.versions() == ["v5", "v6", "v7"]  # no rollbacks since: the newest three
    assert models.rollback() == ("v7", "v6") and models.rollback() == ("v6", "v5")


def test_a_failed_adoption_note_leaves_the_current_model_and_its_rollback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = LaneModels(tmp_path / "uv1")
    adopt(models)
    adopt(models)
    real = LaneModels._note

    def disk_full(self: LaneModels, entry: dict[str, Any]) -> None:
        if entry.get("action") == "adopted":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, entry)

    monkeypatch.setattr(LaneModels, "_note", disk_full)
    with pytest.raises(OSError, match="No space left"):
        adopt(models)
    monkeypatch.undo()
    assert models.current_version() == "v2" and models.versions() == ["v1", "v2"]
    assert not list(models.root.glob(".candidate-*"))
    assert models.rollback_target() == "v1"
    assert adopt(models) == "v3" and models.rollback_target() == "v2"


def test_an_adoption_noted_whose_pointer_never_moved_keeps_the_rollbacks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = LaneModels(tmp_path / "uv1")
    adopt(models)
    adopt(models)

    def killed(self: LaneModels, version: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LaneModels, "_point", killed)
    with pytest.raises(OSError):
        adopt(models)
    monkeypatch.undo()
    assert models.current_version() == "v2" and models.rollback_target() == "v1"
    assert adopt(models) == "v4"
    assert models.rollback() == ("v4", "v2") and models.rollback() == ("v2", "v1")


def test_a_torn_history_line_loses_only_itself(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    models = LaneModels(tmp_path / "uv1")
    adopt(models)
    adopt(models)
    with (models.root / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write('{"at": 1, "action": "refu')  # killed mid-write
    adopt(models)
    with caplog.at_level(logging.WARNING, logger="edge.normal.lane_models"):
        history = models.history()
    assert [e["version"] for e in history] == ["v1", "v2", "v3"]
    assert "line 3 does not parse" in caplog.text
    assert models.current_version() == "v3" and models.rollback_target() == "v2"


def test_a_killed_refits_candidate_folder_is_removed_by_the_next_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "uv1"
    child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from pathlib import Path
from edge.normal.lane_models import LaneModels
models = LaneModels(Path({str(root)!r}))
with models.locked():
    (models.candidate_folder() / "model.onnx").write_bytes(b"x" * 100_000)  # a fit in progress
    print("fitting", flush=True)
    time.sleep(60)
"""], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "fitting"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    [left] = list(root.glob(".candidate-*"))
    models = LaneModels(root)
    with caplog.at_level(logging.WARNING, logger="edge.normal.lane_models"):
        assert adopt(models) == "v1"
    assert not left.exists() and not list(root.glob(".candidate-*"))
    assert f"{left.name}, left by a refit that did not finish, removed" in caplog.text
