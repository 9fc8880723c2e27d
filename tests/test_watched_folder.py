"""The watched folder hands over complete files only, once each, and survives the folder vanishing."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from drivers.watched_folder import WatchedFolder


class Recorder:
    """Collects handed paths and link states (thread-safe)."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.states: list[tuple[bool, str]] = []
        self.lock = threading.Lock()

    def file(self, path: Path) -> None:
        with self.lock:
            self.paths.append(path)

    def state(self, connected: bool, reason: str) -> None:
        with self.lock:
            self.states.append((connected, reason))


def watcher(folder: Path, rec: Recorder, **kwargs: object) -> WatchedFolder:
    return WatchedFolder(folder, rec.file, rec.state, **kwargs)  # type: ignore[arg-type]


def test_half_written_file_waits_until_stable(tmp_path: Path) -> None:
    rec = Recorder()
    w = watcher(tmp_path, rec)
    with open(tmp_path / "scan1.tif", "wb") as f:
        f.write(b"x" * 1000)
        f.flush()
        assert w.poll_once() == []  # first sight: never handed at once
        f.write(b"y" * 1000)
        f.flush()
        assert w.poll_once() == []  # grew since the last poll: still being written
        f.write(b"z" * 10)
        f.flush()
        assert w.poll_once() == []
    assert w.poll_once() == [tmp_path / "scan1.tif"]  # unchanged over two polls
    assert (tmp_path / "scan1.tif").stat().st_size == 2010
    assert w.poll_once() == []  # once only
    s = w.stats()
    assert (s.files_seen, s.files_handed, s.errors) == (1, 1, 0)


def test_part_file_is_never_handed_and_rename_hands_at_once(tmp_path: Path) -> None:
    rec = Recorder()
    w = watcher(tmp_path, rec)
    part = tmp_path / "scan2.png.part"
    part.write_bytes(b"half")
    for _ in range(3):
        assert w.poll_once() == []  # a .part is stable here, and still never handed
    part.rename(tmp_path / "scan2.png")
    assert w.poll_once() == [tmp_path / "scan2.png"]  # renamed into place: no second poll needed
    assert w.stats().files_seen == 1


def test_hidden_dirs_and_symlinks_ignored_replaced_file_handed_again(tmp_path: Path) -> None:
    rec = Recorder()
    w = watcher(tmp_path, rec)
    (tmp_path / ".hidden.tif").write_bytes(b"h")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tif").symlink_to("/etc/hostname")
    (tmp_path / "a.tif").write_bytes(b"one")
    w.poll_once()
    assert w.poll_once() == [tmp_path / "a.tif"]
    (tmp_path / "a.tif.part").write_bytes(b"two, longer")
    w.poll_once()
    os.replace(tmp_path / "a.tif.part", tmp_path / "a.tif")
    assert w.poll_once() == [tmp_path / "a.tif"]  # a new file under the same name
    assert w.stats().files_handed == 2


def test_folder_removed_and_recreated(tmp_path: Path) -> None:
    rec = Recorder()
    folder = tmp_path / "incoming"
    folder.mkdir()
    w = watcher(folder, rec, period_s=0.05)
    w.start()
    try:
        (folder / "before.dcm").write_bytes(b"d" * 100)
        _wait(lambda: len(rec.paths) == 1)
        shutil.rmtree(folder)
        _wait(lambda: not w.connected)
        time.sleep(0.2)  # several polls of a missing folder: one outage, polling goes on
        folder.mkdir()
        (folder / "after.dcm.part").write_bytes(b"e" * 100)
        _wait(lambda: w.connected)
        os.rename(folder / "after.dcm.part", folder / "after.dcm")
        _wait(lambda: len(rec.paths) == 2)
    finally:
        w.stop()
    assert [p.name for p in rec.paths] == ["before.dcm", "after.dcm"]
    assert rec.states[0] == (True, f"watching {folder}")
    assert rec.states[1][0] is False and "No such file or directory" in rec.states[1][1]
    assert rec.states[2] == (True, f"watching {folder}")
    assert rec.states[-1] == (False, "stopped")
    s = w.stats()
    assert s.outages == 1 and s.files_handed == 2 and s.polls > 5


def test_missing_at_start_reports_down_then_up(tmp_path: Path) -> None:
    rec = Recorder()
    w = watcher(tmp_path / "later", rec)
    assert w.poll_once() == []
    assert rec.states == [(False, rec.states[0][1])] and "later" in rec.states[0][1]
    (tmp_path / "later").mkdir()
    w.poll_once()
    assert rec.states[-1][0] is True


def test_bounded_tracking_and_failing_callback(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"f{i}.tif").write_bytes(b"x")
    handed: list[Path] = []

    def boom(path: Path) -> None:
        handed.append(path)
        raise RuntimeError("consumer bug")

    w = WatchedFolder(tmp_path, boom, max_files=4)
    w.poll_once()
    got = w.poll_once()
    s = w.stats()
    assert len(got) == 4 and s.tracked == 4 and s.over_limit == 12
    assert s.errors == 4 and s.files_handed == 0  # counted, not retried
    assert w.poll_once() == []
    for path in got:  # the consumer takes files away: room for the rest
        path.unlink()
    w.poll_once()
    assert len(w.poll_once()) == 4


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        WatchedFolder("/tmp", lambda p: None, period_s=0)


def _wait(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
