"""The lane's normal images: a named migration of its own, after the passages'."""

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
)
