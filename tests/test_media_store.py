"""Content-addressed media on disk: stored once by SHA-256, refused when the hash lies, whole or absent."""

from __future__ import annotations

import hashlib
import os
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
