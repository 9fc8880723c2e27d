"""An open upload is its edge's alone: another edge (lane L2) can neither see, nor wreck, nor resume it.

Real HTTP against a running hub (tests/hub_harness.py), on SQLite and on PostgreSQL. The attacks are
those of the review of 2026-12: edge-2 HEADing edge-1's upload to learn how far it got, PATCHing junk
into it (which dropped it as hash_mismatch), and POSTing the same SHA-256 to take it over.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import update

from contract.uplink import UPLOAD_LENGTH, UPLOAD_OFFSET, Refusal
from hub.db.models import Upload
from hub.uploads import ABANDONED_S
from tests import hub_images
from tests.hub_harness import Hub, hub, patch_chunk, upload_blob  # noqa: F401  (hub: fixture)

BLOB = "/api/v1/blobs/{}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def opened_by_edge_1(hub: Hub, seed: int, sent: int = 100) -> tuple[bytes, str]:
    """An image whose upload edge-1 (lane L1) opened and sent `sent` bytes of."""
    data = hub_images.png16(50, 70, seed=seed)
    digest = sha(data)
    assert hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"}).status_code == 200
    assert patch_chunk(hub.edge, digest, 0, data[:sent]).json()["offset"] == sent
    return data, digest


def offset_for_edge_1(hub: Hub, digest: str) -> str:
    head = hub.edge.head(BLOB.format(digest))
    assert head.status_code == 200
    return head.headers[UPLOAD_OFFSET]


def test_another_edge_cannot_see_an_open_upload(hub: Hub) -> None:
    data, digest = opened_by_edge_1(hub, seed=101)
    head = hub.other_edge.head(BLOB.format(digest))
    assert head.status_code == 404  # the old hub answered 200 with edge-1's offset and length
    assert UPLOAD_OFFSET not in head.headers and UPLOAD_LENGTH not in head.headers
    assert offset_for_edge_1(hub, digest) == "100"
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True


def test_another_edges_junk_does_not_wreck_an_open_upload(hub: Hub) -> None:
    data, digest = opened_by_edge_1(hub, seed=102)
    junk = patch_chunk(hub.other_edge, digest, 100, b"\x00" * (len(data) - 100))
    assert junk.status_code == 404  # the old hub took the junk, then dropped the upload: hash_mismatch
    refusal = Refusal.model_validate(junk.json())
    assert refusal.code == "not_found" and "edge-2" in refusal.detail and "POST it first" in refusal.detail
    early = patch_chunk(hub.other_edge, digest, 0, data[:10])
    assert early.status_code == 404 and UPLOAD_OFFSET not in early.headers  # no offset told either
    assert offset_for_edge_1(hub, digest) == "100"
    done = patch_chunk(hub.edge, digest, 100, data[100:])
    assert done.json() == {"sha256": digest, "size": len(data), "offset": len(data), "complete": True}


def test_another_edges_post_leaves_an_open_upload_alone(hub: Hub) -> None:
    data, digest = opened_by_edge_1(hub, seed=103)
    for size, media_type in ((len(data), "image/png"), (len(data) + 1, "image/tiff")):
        busy = hub.other_edge.post(BLOB.format(digest), json={"size": size, "media_type": media_type})
        assert busy.status_code == 503  # the old hub resumed edge-1's upload for it, or started it over
        assert busy.json()["code"] == "upload_busy" and "retry later" in busy.json()["detail"]
        assert int(busy.headers["Retry-After"]) > 0
    assert offset_for_edge_1(hub, digest) == "100"
    again = hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    assert again.json() == {"sha256": digest, "size": len(data), "offset": 100, "complete": False}
    assert upload_blob(hub.edge, data, "image/png", chunk=900).json()["complete"] is True


def test_an_abandoned_upload_is_started_over_for_another_edge(hub: Hub) -> None:
    data, digest = opened_by_edge_1(hub, seed=104)
    with hub.database.session() as s:
        s.execute(update(Upload).where(Upload.sha256 == digest).values(updated_at=Upload.updated_at - ABANDONED_S - 1))
    taken = hub.other_edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    assert taken.json() == {"sha256": digest, "size": len(data), "offset": 0, "complete": False}
    assert hub.edge.head(BLOB.format(digest)).status_code == 404  # edge-1's is gone: it is edge-2's now
    assert hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"}).status_code == 503
    assert upload_blob(hub.other_edge, data, "image/png").json()["complete"] is True
    assert hub.edge.head(BLOB.format(digest)).status_code == 404  # held for lane L2, not L1
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True


def test_the_same_edge_resumes_its_own_upload_while_another_is_turned_away(hub: Hub) -> None:
    data, digest = opened_by_edge_1(hub, seed=105, sent=700)
    assert hub.other_edge.head(BLOB.format(digest)).status_code == 404
    resumed = hub.edge.post(BLOB.format(digest), json={"size": len(data), "media_type": "image/png"})
    assert resumed.json()["offset"] == 700
    assert patch_chunk(hub.edge, digest, 0, data[:10]).headers[UPLOAD_OFFSET] == "700"  # 409 with the offset
    assert patch_chunk(hub.other_edge, digest, 700, data[700:1200]).status_code == 404
    assert upload_blob(hub.edge, data, "image/png", chunk=500).json()["complete"] is True
    head = hub.edge.head(BLOB.format(digest))
    assert (head.status_code, head.headers[UPLOAD_OFFSET]) == (200, str(len(data)))
    assert hub.other_edge.head(BLOB.format(digest)).status_code == 404  # held for lane L1 only
