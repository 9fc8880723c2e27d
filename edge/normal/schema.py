"""The lane's normal images and its confirmed finds: named migrations of their own, after the passages'."""

from __future__ import annotations

from edge.migrations import Migration

MIGRATIONS = (
    # One row per device and image of a passage released clean or cleared by the hub; the media
    # file of every row is kept (a media pruner must skip these hashes: `retention.protected_media`).
    Migration("normal:1", """
CREATE TABLE normal_images (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    passage_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    why TEXT NOT NULL,
    retained_at REAL NOT NULL,
    UNIQUE (device_id, sha256)
);
CREATE INDEX normal_images_device ON normal_images (device_id, id);
CREATE INDEX normal_images_passage ON normal_images (passage_id);
"""),
    # One row per device and image of a passage the hub judged suspicious where that device gave a
    # reason that holds: the lane's confirmed finds, which may lower a refit's threshold
    # (`edge/normal/finds.py`); protected from media pruning like the normal images.
    Migration("normal:2", """
CREATE TABLE normal_finds (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    passage_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    reasons TEXT NOT NULL,
    retained_at REAL NOT NULL,
    UNIQUE (device_id, sha256)
);
CREATE INDEX normal_finds_device ON normal_finds (device_id, id);
CREATE INDEX normal_finds_passage ON normal_finds (passage_id);
"""),
)
