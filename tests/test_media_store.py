"""Content-addressed media on disk: stored once by SHA-256, refused when the hash lies, whole or absent;
what a killed copy leaves behind is removed at the next start."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.media import MediaError, MediaStore, copy_out


def test_stored_once_by_hash_and_read_back(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    data = os.urandom(3 * 1024 * 1024 + 17)  # over several chunks
    digest = hashlib.sha256(data).hexdigest()
    first = store.put_bytes(data, digest)
    again = store.put_bytes(data)
    assert (first.sha256, first.size, first.new) == (digest, len(data), True)
    assert (again.sha256, again.new) == (digest, False)
    assert store.path(digest) == tmp_path / "media" / digest[:2] / digest[2:4] / digest
    with store.open(digest, verify=True) as handle:
        assert handle.read() == data
    assert list((tmp_path / "media" / "tmp").iterdir()) == [], "no temporary file left behind"


def test_a_file_is_hashed_while_copied(tmp_path: Path) -> None:
    source = tmp_path / "scan.tiff"
    source.write_bytes(b"II*\x00" + os.urandom(100_000))
    store = MediaStore(tmp_path / "media")
    stored = store.put_file(source, hashlib.sha256(source.read_bytes()).hexdigest().upper())
    copy_out(store, stored.sha256, tmp_path / "out.tiff")
    assert (tmp_path / "out.tiff").read_bytes() == source.read_bytes()


def test_bytes_that_are_not_what_they_claim_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=1000)
    with pytest.raises(MediaError, match="not the"):
        store.put_bytes(b"image", hashlib.sha256(b"other").hexdigest())
    with pytest.raises(MediaError, match="over the limit of 1000"):
        store.put_bytes(b"x" * 1001)
    with pytest.raises(MediaError, match="not a SHA-256"):
        store.put_bytes(b"x", "../../etc/passwd")
    stored_files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert stored_files == []


def test_a_corrupted_stored_file_is_found_on_a_verified_read(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    stored = store.put_bytes(b"evidence")
    store.path(stored.sha256).write_bytes(b"tampered")
    with pytest.raises(MediaError, match="corrupt"):
        store.open(stored.sha256, verify=True)
    with pytest.raises(MediaError, match="no stored file"):
        store.open("0" * 64)


def test_a_copy_cut_off_by_a_kill_is_removed_at_the_next_start_a_copy_in_progress_is_not(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from edge.media import MediaStore\n"
        "def slow():\n    while True:\n        yield b'x' * 65536\n        time.sleep(0.01)\n"
        "MediaStore(Path(sys.argv[1]))._put(slow(), None)"), str(tmp_path / "media")],
        cwd=Path(__file__).resolve().parents[1])
    tmp = tmp_path / "media" / "tmp"
    deadline = time.monotonic() + 20
    while not [p for p in tmp.glob("incoming-*") if p.stat().st_size > 100_000] and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    (left,) = tmp.glob("incoming-*")  # the finally never ran
    store = MediaStore(tmp_path / "media")
    in_progress = tmp / "incoming-now"
    in_progress.write_bytes(b"another process is writing this")
    assert store.remove_leftovers() == (0, 0)  # both too fresh to tell from a copy being written
    old = time.time() - 7200
    os.utime(left, (old, old))
    size = left.stat().st_size
    assert store.remove_leftovers() == (1, size)
    assert not left.exists() and in_progress.exists()
