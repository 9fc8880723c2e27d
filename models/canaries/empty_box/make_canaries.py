"""Make the empty-box canaries: empty container interiors with one thing left inside.

A canary is a known anomaly that every lane model must keep finding: a refit whose candidate
finds fewer of them than the lane's current model is refused (`edge/normal/judge.py`). The
interiors come from the project's own empty-box stub (`firmware_stubs.empty_box_image`, the
renderer the demo and the lane tests use) at seeds no stub scan uses; the objects are drawn
here, one per image, in shapes the stub never draws in a full container: for the camera view a
sack, a crate with slats and a wrapped bundle with a bright strap; for the transmission view a
gas bottle (a dense cylinder), a small crate and a false front wall (a slab from floor to roof).
The mask is the object's own footprint. PNG, as the stub sends.

    python models/canaries/empty_box/make_canaries.py                       # the shipped set (camera)
    python models/canaries/empty_box/make_canaries.py --kind transmission --out var/canaries_tx

Deterministic: the same arguments give the same pixels on the same library versions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware_stubs.empty_box_image import CAMERA_SIZE, TRANSMISSION_SIZE, render_interior  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED0 = 90_000  # far above any sequence number a stub scan in a test or the demo reaches
OBJECTS = {"camera": ("sack", "slatted_crate", "strapped_bundle"),
           "transmission": ("gas_bottle", "small_crate", "false_wall")}


def _camera_object(image: np.ndarray, what: str, rng: np.random.Generator) -> np.ndarray:
    """Draw `what` on the floor of a camera view in place; its mask."""
    h, w = CAMERA_SIZE
    mask = np.zeros((h, w), np.uint8)
    x = int(rng.integers(w // 4, w * 3 // 4 - 60))
    y = int(rng.integers(h * 5 // 8 + 10, h - 70))
    if what == "sack":
        centre, axes = (x + 30, y + 30), (30, 20)
        cv2.ellipse(image, centre, axes, float(rng.uniform(-20, 20)), 0, 360, (120, 150, 165), -1)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
        cv2.line(image, (x + 10, y + 25), (x + 50, y + 35), (90, 110, 125), 2)  # a fold
    elif what == "slatted_crate":
        cv2.rectangle(image, (x, y), (x + 56, y + 44), (95, 150, 190), -1)
        for k in range(1, 4):
            cv2.line(image, (x, y + 11 * k), (x + 56, y + 11 * k), (50, 90, 120), 2)
        cv2.rectangle(mask, (x, y), (x + 56, y + 44), 255, -1)
    else:  # strapped_bundle: dark wrapping, one bright strap across it
        cv2.rectangle(image, (x, y), (x + 50, y + 36), (45, 45, 50), -1)
        cv2.line(image, (x, y + 30), (x + 50, y + 6), (230, 230, 235), 3)
        cv2.rectangle(mask, (x, y), (x + 50, y + 36), 255, -1)
    inside = mask > 0
    noise = rng.normal(0, 3, image.shape).astype(np.float32)
    image[inside] = np.clip(image[inside].astype(np.float32) + noise[inside], 0, 255).astype(np.uint8)
    return mask


def _transmission_object(image: np.ndarray, what: str, rng: np.random.Generator) -> np.ndarray:
    """Attenuate the transmission image where `what` stands on the floor, in place; its mask."""
    h, w = TRANSMISSION_SIZE
    floor = h - h // 8
    mask = np.zeros((h, w), np.uint8)
    x = int(rng.integers(60, w - 120))
    if what == "gas_bottle":
        cv2.rectangle(mask, (x, floor - 90), (x + 26, floor - 1), 255, -1)
        cv2.ellipse(mask, (x + 13, floor - 90), (13, 10), 0, 180, 360, 255, -1)
        mu = 1.6
    elif what == "small_crate":
        cv2.rectangle(mask, (x, floor - 50), (x + 60, floor - 1), 255, -1)
        mu = 0.45
    else:  # false_wall: a slab across the container from floor to roof
        cv2.rectangle(mask, (x, h // 16), (x + 10, floor - 1), 255, -1)
        mu = 0.9
    inside = mask > 0
    image[inside] = np.clip(image[inside].astype(np.float64) * np.exp(-mu), 0, 65535).astype(np.uint16)
    return mask


def make(kind: str, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Canary `index` of `kind`: (image, mask 0/255, its entry for canaries.json)."""
    what = OBJECTS[kind][index % len(OBJECTS[kind])]
    seed = SEED0 + index
    image = render_interior(kind, full=False, seed=seed)
    rng = np.random.default_rng(seed)
    mask = (_camera_object if kind == "camera" else _transmission_object)(image, what, rng)
    ys, xs = np.nonzero(mask)
    box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    name = f"{index + 1:02d}_{what}"
    entry = {"image": f"{name}.png", "mask": f"{name}_mask.png", "object": what, "seed": seed, "box": box,
             "mask_pixels": int((mask > 0).sum())}
    return image, mask, entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(OBJECTS), default="camera", help="the detector's image kind")
    parser.add_argument("--count", type=int, default=6, help="canaries to make (the objects take turns)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: this one)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(args.count):
        image, mask, entry = make(args.kind, index)
        for file, pixels in ((entry["image"], image), (entry["mask"], mask)):
            if not cv2.imwrite(str(args.out / str(file)), pixels):
                raise OSError(f"cannot write {args.out / str(file)}")
        entries.append(entry)
    height, width = CAMERA_SIZE if args.kind == "camera" else TRANSMISSION_SIZE
    manifest = {"kind": "empty_box", "image_kind": args.kind, "made_by": "python models/canaries/empty_box/"
                f"make_canaries.py --kind {args.kind}", "height": height, "width": width, "canaries": entries}
    (args.out / "canaries.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} {args.kind} canaries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
