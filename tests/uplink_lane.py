"""Test helpers for the uplink: a lane's store, passage book and media store, driven by a stand-in
kind whose observations come straight from the reading's payload (so a test says which images a
passage has), and images made by a real encoder (OpenCV)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.media import MediaStore
from edge.passages import queries
from edge.passages.book import LaneDeviceRole, PassageBook
from edge.passages.config import PassagesConfig
from edge.passages.observation import Observation, ReadingView
from edge.store import Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.uplink.outbox import Outbox

LANE = "lane-u"


def observe(txn: Txn, view: ReadingView) -> list[Observation]:
    return [Observation.from_dict({"device_id": view.device_id, "kind": "under_vehicle", **o})
            for o in view.payload["obs"]]


def roles() -> dict[str, LaneDeviceRole]:
    return {"uvss": LaneDeviceRole("UVSS", observe)}


def png(media: MediaStore, seed: int, width: int = 64, height: int = 48, bits: int = 8) -> str:
    """A real PNG of noise in the media store; its SHA-256."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if bits == 16 else np.uint8
    image = rng.integers(0, np.iinfo(dtype).max, size=(height, width), dtype=dtype)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return media.put_bytes(data.tobytes()).sha256


def tiff(media: MediaStore, seed: int, width: int, height: int) -> str:
    """An uncompressed 16-bit TIFF of noise (width*height*2 bytes and a header); its SHA-256."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 65535, size=(height, width), dtype=np.uint16)
    ok, data = cv2.imencode(".tiff", image, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    assert ok
    return media.put_bytes(data.tobytes()).sha256


def pass_payload(plate: str, images: list[str], regions: int = 1, flagged: bool = True) -> dict[str, Any]:
    """An under-vehicle pass: its images, regions on the first, a holding finding when `flagged`."""
    refs = [{"sha256": sha, "label": "undercarriage" if i == 0 else "last clean pass", "width": 64, "height": 48,
             "regions": [{"x": 4 + 8 * r, "y": 5, "width": 6, "height": 7, "score": 0.5 + r / 10} for r in range(regions)]
             if i == 0 else []}
            for i, sha in enumerate(images)]
    findings = [{"code": "foreign_object", "words": "object under the vehicle",
                 "evidence": {"image_sha256": images[0], "score": 0.91}}] if flagged and images else []
    return {"obs": [{"ref": f"pass-{plate}", "said": "pass 10 km/h", "plate": plate, "images": refs,
                     "findings": findings}]}


def table_rows(db: Path, table: str) -> list[dict[str, Any]]:
    """Every row of a table in the store at `db`, in insertion order (a reader of its own, as a test looks)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        cur = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


class UplinkLane:
    """A lane store with one device (uvss, waited for 10 s) and the outbox, all synchronous."""

    def __init__(self, root: Path, **config: Any) -> None:
        config.setdefault("deadlines", {"uvss": 10})
        self.config = PassagesConfig(**config)
        self.store = Store(root / "edge.sqlite3", store_migrations())
        self.media = MediaStore(root / "media")
        self.book = PassageBook(self.config, roles())
        self.outbox = Outbox(LANE, self.media, self.config.holds, clock=lambda: self.now)
        self.now = 1_790_000_000.0

    def reading(self, payload: dict[str, Any], at: float = 0.0) -> list[int]:
        """Store one uvss reading and follow it, queueing the changed passages in its transaction."""
        self.now += at
        changed: list[int] = []
        sha = hashlib.sha256(json.dumps([payload, self.now], sort_keys=True).encode()).hexdigest()

        def derive(txn: Txn, reading_id: int) -> Derived:
            view = ReadingView(reading_id, "uvss", "under_vehicle", "pass", payload, {}, (), None, self.now, True)
            changed.extend(self.book.follow(txn, view))
            self.outbox.enqueue_passages(txn, changed)
            return Derived()

        self.store.record_reading("uvss", self.now, None, "pass", sha, payload, {}, derive)
        return changed

    def act(self, passage_id: int, action: str, note: str = "", confirmed: bool = False) -> list[int]:
        def run(txn: Txn) -> list[int]:
            ids = self.book.act(txn, passage_id, action, "officer-1", note, confirmed, self.now)
            self.outbox.enqueue_passages(txn, ids)
            return ids

        return self.store.transact(run)

    def passage(self, passage_id: int) -> dict[str, Any]:
        found = self.store.transact(queries.detail, passage_id, {})
        assert found is not None
        return found

    def rows(self, table: str = "outbox") -> list[dict[str, Any]]:
        return table_rows(self.store.path, table)

    def close(self) -> None:
        self.store.close()
