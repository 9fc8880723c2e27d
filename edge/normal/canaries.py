"""The shipped canaries: images with a known anomaly (and its mask) that every lane model of a kind
must keep finding. A folder holds `canaries.json` (what each image shows, the geometry it was
made at) beside the images and masks (`models/canaries/<kind>/`, made by its `make_canaries.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.preprocess import ImageDecodeError, read_image

REPO_CANARIES = Path(__file__).resolve().parents[2] / "models" / "canaries"
MANIFEST = "canaries.json"


class CanaryError(ValueError):
    """The canary folder cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Canary:
    """One known anomaly: its image, the mask of where the anomaly is, and what it is."""

    name: str
    what: str
    image: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class CanarySet:
    """A folder's canaries and the geometry they were made at (from canaries.json)."""

    folder: Path
    canaries: list[Canary]
    meta: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{len(self.canaries)} canaries from {self.folder}"


def canary_folder(configured: Path | None, kind: str) -> Path:
    """The configured folder, else the repository's models/canaries/<kind>/."""
    return configured if configured is not None else REPO_CANARIES / kind


def load_canaries(folder: Path) -> CanarySet:
    """Read canaries.json and every image and mask it names; refuse a folder with none."""
    try:
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = meta["canaries"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CanaryError(f"canaries {folder / MANIFEST}: cannot be read: {exc}") from exc
    canaries = []
    for entry in entries:
        try:
            image = read_image(folder / entry["image"])
            mask = read_image(folder / entry["mask"])
        except (ImageDecodeError, KeyError, TypeError) as exc:
            raise CanaryError(f"canaries {folder}: entry {entry!r}: {exc}") from exc
        if mask.shape[:2] != image.shape[:2]:
            raise CanaryError(f"canaries {folder}: {entry['mask']} is {mask.shape[:2]}, its image {image.shape[:2]}")
        canaries.append(Canary(str(entry["image"]), str(entry.get("object", "")), image,
                               (mask if mask.ndim == 2 else mask[..., 0]) > 0))
    if not canaries:
        raise CanaryError(f"canaries {folder / MANIFEST}: lists no canary")
    return CanarySet(folder, canaries, {k: v for k, v in meta.items() if k != "canaries"})
