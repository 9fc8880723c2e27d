"""Resumable image uploads against a real hub over HTTP: resume, refusals, re-sends, restarts, races."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from contract.uplink import MAX_CHUNK, UPLOAD_LENGTH, UPLOAD_OFFSET, BlobStatus, Refusal
from hub import accounts, ingest
from hub import uploads as uploads_module
from hub.accounts import EdgeInfo
from hub.blobs import DiskBlobStore
from hub.db.engine import Database
from hub.db.models import Upload
from hub.metrics import HubMetrics
from hub.uploads import UploadLimits, UploadRefused, Uploads, UploadState
from tests import hub_images
from tests.hub_db import hub_db  # noqa: F401  (fixture)
from tests.hub_harness import Hub, hub, patch_chunk, upload_blob  # noqa: F401  (hub: fixture)

BLOB = "/api/v1/blobs/{}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def held(hub: Hub, digest: str) -> bool:
    with hub.database.read_session() as s:
        return digest in ingest.held_blobs(s, [digest])


def partial_files(hub: Hub, digest: str) -> list[Path | str]:
    """The upload's files in the partial folder, and "row" while its `uploads` row exists."""
    files: list[Path | str] = sorted(p for p in (hub.config.blobs.root / "partial").iterdir()
                                     if p.name.startswith(digest))
    with hub.database.read_session() as s:
        return files + (["row"] if s.get(Upload, digest) is not None else [])


def refused_count(hub: Hub, code: str) -> float:
    value = hub.app.state.hub.metrics.registry.get_sample_value("kouan_hub_uploads_refused_total", {"code": code})
    return value or 0.0


def test_chunked_upload_breaks_and_resumes_from_head(hub: Hub) -> None:
    data = hub_images.tiff(2, 120, 200)
    digest = sha(data)
    assert hub.edge.head(BLOB.format(digest)).status_code == 404
    opened = hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/tiff"})
    assert BlobStatus.model_validate(opened.json()) == BlobStatus(sha256=digest, size=len(data), offset=0, complete=False)
    assert patch_chunk(hub.edge, digest, 0, data[:5000]).json()["offset"] == 5000
    # the connection broke after the hub stored the second chunk: the edge resends it from its own offset
    assert patch_chunk(hub.edge, digest, 5000, data[5000:12000]).status_code == 200
    stale = patch_chunk(hub.edge, digest, 5000, data[5000:12000])
    assert stale.status_code == 409
    assert stale.headers[UPLOAD_OFFSET] == "12000"
    assert Refusal.model_validate(stale.json()).code == "offset_mismatch"
    head = hub.edge.head(BLOB.format(digest))
    assert (head.status_code, head.headers[UPLOAD_OFFSET], head.headers[UPLOAD_LENGTH]) == (200, "12000", str(len(data)))
    assert not held(hub, digest)
    assert partial_files(hub, digest) == [hub.config.blobs.root / "partial" / f"{digest}.lock",
                                          hub.config.blobs.root / "partial" / f"{digest}.part", "row"]
    done = upload_blob(hub.edge, data, "image/tiff", chunk=7000)
    assert done.json() == {"sha256": digest, "size": len(data), "offset": len(data), "complete": True}
    head = hub.edge.head(BLOB.format(digest))
    assert head.headers[UPLOAD_OFFSET] == head.headers[UPLOAD_LENGTH] == str(len(data))
    assert held(hub, digest)
    assert partial_files(hub, digest) == []
    with hub.app.state.hub.blobs.open(digest) as stored:
        assert stored.read() == data


def test_a_chunk_written_but_not_recorded_is_trimmed(hub: Hub) -> None:
    """A hub killed after writing a chunk but before recording its offset: HEAD gives the recorded one."""
    data = hub_images.png16(60, 90, seed=11)
    digest = sha(data)
    hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    patch_chunk(hub.edge, digest, 0, data[:1000])
    part = hub.config.blobs.root / "partial" / f"{digest}.part"
    with part.open("ab") as out:
        out.write(b"\xff" * 700)  # bytes past the recorded offset (never acknowledged)
    assert hub.edge.head(BLOB.format(digest)).headers[UPLOAD_OFFSET] == "1000"
    assert part.stat().st_size == 1000
    assert upload_blob(hub.edge, data, "image/png", chunk=999).json()["complete"] is True
    with hub.app.state.hub.blobs.open(digest) as stored:
        assert sha(stored.read()) == digest


@pytest.mark.parametrize(("name", "data", "claimed", "code"), [
    ("wrong hash", hub_images.png16(seed=21), "image/png", "hash_mismatch"),
    ("wrong magic", hub_images.png16(seed=22), "image/jpeg", "bad_magic"),
    ("bomb", hub_images.png_claiming(60000, 60000), "image/png", "bomb"),
    ("truncated tiff", hub_images.tiff(2, 50, 70)[:-900], "image/tiff", "truncated"),
])
def test_finished_file_refused_with_its_code_and_dropped(hub: Hub, name: str, data: bytes, claimed: str,
                                                         code: str) -> None:
    digest = sha(b"something else") if code == "hash_mismatch" else sha(data)
    before = refused_count(hub, code)
    answer = upload_blob(hub.edge, data, claimed, chunk=1000, sha256=digest)
    assert answer.status_code == 422, name
    refusal = Refusal.model_validate(answer.json())
    assert refusal.code == code and refusal.detail
    assert partial_files(hub, digest) == []
    assert hub.edge.head(BLOB.format(digest)).status_code == 404
    assert not held(hub, digest)
    assert refused_count(hub, code) == before + 1
    if name == "wrong magic":  # a corrected re-send starts clean
        assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True


def test_resending_a_complete_blob_is_harmless(hub: Hub) -> None:
    data = hub_images.jpeg(40, 50)
    digest = sha(data)
    assert upload_blob(hub.edge, data, "image/jpeg").json()["complete"] is True
    again = hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/jpeg"})
    assert again.json() == {"sha256": digest, "size": len(data), "offset": len(data), "complete": True}
    assert patch_chunk(hub.edge, digest, len(data), b"").json()["complete"] is True
    late = patch_chunk(hub.edge, digest, 0, data[:10])
    assert late.status_code == 409 and late.headers[UPLOAD_OFFSET] == str(len(data))
    assert partial_files(hub, digest) == []


def test_protocol_misuse_refused_in_words(hub: Hub) -> None:
    data = hub_images.png16(seed=31)
    digest = sha(data)
    assert patch_chunk(hub.edge, digest, 0, data).status_code == 404  # never opened
    assert partial_files(hub, digest) == []
    too_big = hub.edge.post(BLOB.format(digest), json={"size": hub.config.blobs.max_bytes + 1, "media_type": "image/png"})
    assert too_big.status_code == 413 and too_big.json()["code"] == "too_large"
    hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    wrong_type = hub.edge.patch(BLOB.format(digest), content=data, headers={UPLOAD_OFFSET: "0",
                                                                             "Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    huge = patch_chunk(hub.edge, digest, 0, b"\x00" * (MAX_CHUNK + 1))
    assert huge.status_code == 413
    assert hub.edge.head(BLOB.format(digest)).headers[UPLOAD_OFFSET] == "0"  # nothing of either was kept
    bad_offset = hub.edge.patch(BLOB.format(digest), content=data, headers={
        UPLOAD_OFFSET: "-1", "Content-Type": "application/offset+octet-stream"})
    assert bad_offset.status_code == 422 and bad_offset.json()["code"] == "invalid"
    overrun = patch_chunk(hub.edge, digest, 0, data + b"extra")
    assert overrun.status_code == 422 and overrun.json()["code"] == "overrun"
    assert hub.edge.head(BLOB.format(digest)).status_code == 404
    assert hub.edge.post(BLOB.format("XYZ"), json={"size": 1, "media_type": "image/png"}).status_code == 422


def test_stored_but_unrecorded_blob_is_recorded_on_head(hub: Hub, tmp_path: Path) -> None:
    """A hub killed between moving the file into the store and recording it."""
    data = hub_images.dicos(1, 30, 40)
    digest = sha(data)
    loose = tmp_path / "loose"
    loose.write_bytes(data)
    hub.app.state.hub.blobs.put_file(loose, digest)
    assert not held(hub, digest)
    head = hub.edge.head(BLOB.format(digest))
    assert head.status_code == 200 and head.headers[UPLOAD_OFFSET] == str(len(data))
    assert held(hub, digest)


def test_racing_chunks_for_one_offset_one_wins(hub: Hub) -> None:
    """Several connections (as several hub processes would) append at the same offset: one is taken."""
    data = hub_images.png16(80, 100, seed=41)
    digest = sha(data)
    hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    statuses: list[int] = []
    clients = [hub.edge_client() for _ in range(6)]
    barrier = threading.Barrier(len(clients))

    def send(client: object) -> None:
        barrier.wait()
        statuses.append(patch_chunk(client, digest, 0, data[:2000]).status_code)  # type: ignore[arg-type]

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(statuses) == [200] + [409] * 5
    assert hub.edge.head(BLOB.format(digest)).headers[UPLOAD_OFFSET] == "2000"
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True


# -- the running hash: one process's chunks hashed as they arrive, anything else read back from disk --

def _process(root: Path, database: Database) -> Uploads:
    """An `Uploads` of its own, as another hub process sharing the blob folder and the database has."""
    return Uploads(root, DiskBlobStore(root), UploadLimits(1 << 30, 20000, 400_000_000), database, HubMetrics())


def _readbacks(uploads: Uploads) -> float:
    return uploads.metrics.registry.get_sample_value("kouan_hub_upload_hash_readbacks_total") or 0.0


@pytest.fixture
def edge_info(hub_db: Database) -> EdgeInfo:
    with hub_db.session() as s:
        return accounts.add_edge(s, "hash-edge", "HL", "HP", actor="test")[0]


def _stored(uploads: Uploads, digest: str) -> bytes:
    with uploads.blobs.open(digest) as stored:
        return stored.read()


def test_chunks_of_one_process_hashed_as_they_arrive(hub_db: Database, edge_info: EdgeInfo, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = hub_images.tiff(2, 120, 200)
    digest = sha(data)
    one = _process(tmp_path, hub_db)
    read_back: list[Path] = []
    monkeypatch.setattr(uploads_module, "sha256_file", lambda path: read_back.append(path) or sha(path.read_bytes()))
    one.open(digest, len(data), "image/tiff", edge_info)
    for offset in range(0, len(data), 40000):
        state = one.append(digest, offset, data[offset:offset + 40000], edge_info)
    assert state.complete and _stored(one, digest) == data
    assert read_back == [] and _readbacks(one) == 0
    assert len(one.hashes) == 0  # nothing kept of a finished upload


def test_resume_by_another_process_reads_the_file_back(hub_db: Database, edge_info: EdgeInfo, tmp_path: Path) -> None:
    data = hub_images.tiff(2, 120, 200)
    digest = sha(data)
    first, second = _process(tmp_path, hub_db), _process(tmp_path, hub_db)
    first.open(digest, len(data), "image/tiff", edge_info)
    first.append(digest, 0, data[:30000], edge_info)
    assert second.status(digest, edge_info) == UploadState(digest, len(data), 30000, False)
    second.append(digest, 30000, data[30000:60000], edge_info)  # the edge's chunk went to the other process
    state = first.append(digest, 60000, data[60000:], edge_info)  # and the last back to the first
    assert state.complete and _stored(first, digest) == data
    assert _readbacks(first) == 1 and _readbacks(second) == 0
    # a process killed mid-upload: its successor has no hash state, and reads back at the finish
    other = hub_images.png16(90, 120, seed=51)
    digest = sha(other)
    first.open(digest, len(other), "image/png", edge_info)
    first.append(digest, 0, other[:1000], edge_info)
    restarted = _process(tmp_path, hub_db)
    assert restarted.append(digest, 1000, other[1000:], edge_info).complete
    assert _readbacks(restarted) == 1 and _stored(restarted, digest) == other


def test_a_hash_state_outlived_by_a_restart_elsewhere_is_not_used(hub_db: Database, edge_info: EdgeInfo,
                                                                   tmp_path: Path) -> None:
    """A process hashed bad bytes up to offset n; another dropped the upload and appended the right bytes up to
    the same n: the first's state matches the offset but not the generation, so the file is read back."""
    data = hub_images.png16(90, 120, seed=52)
    digest = sha(data)
    first, second = _process(tmp_path, hub_db), _process(tmp_path, hub_db)
    first.open(digest, len(data), "image/png", edge_info)
    first.append(digest, 0, bytes(b ^ 0xFF for b in data[:1000]), edge_info)
    with pytest.raises(UploadRefused) as overrun:
        second.append(digest, 1000, data[1000:] + b"x", edge_info)
    assert overrun.value.code == "overrun"  # dropped: the upload starts over
    second.open(digest, len(data), "image/png", edge_info)
    second.append(digest, 0, data[:1000], edge_info)
    state = first.append(digest, 1000, data[1000:], edge_info)
    assert state.complete and _stored(first, digest) == data
    assert _readbacks(first) == 1


def test_bytes_past_the_recorded_offset_trimmed_change_the_generation(hub_db: Database, edge_info: EdgeInfo,
                                                                       tmp_path: Path) -> None:
    data = hub_images.png16(90, 120, seed=53)
    digest = sha(data)
    one = _process(tmp_path, hub_db)
    one.open(digest, len(data), "image/png", edge_info)
    one.append(digest, 0, data[:1000], edge_info)
    with hub_db.read_session() as s:
        before = s.get(Upload, digest).generation  # type: ignore[union-attr]
    with (tmp_path / "partial" / f"{digest}.part").open("ab") as out:
        out.write(b"\x00" * 300)  # a chunk written by a process killed before it recorded it
    assert one.status(digest, edge_info) == UploadState(digest, len(data), 1000, False)
    with hub_db.read_session() as s:
        assert s.get(Upload, digest).generation not in ("", before)  # type: ignore[union-attr]
    assert one.append(digest, 1000, data[1000:], edge_info).complete
    assert _readbacks(one) == 1 and _stored(one, digest) == data
