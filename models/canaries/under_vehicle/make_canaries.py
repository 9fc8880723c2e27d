"""Make the under-vehicle canaries: stub undercarriages with a foreign object fixed under them.

A canary is a known anomaly that every lane model must keep finding: a refit whose candidate
finds fewer of them than the lane's current model is refused (`edge/normal/judge.py`). The
vehicles come from the project's own under-vehicle stub (`firmware_stubs.undercarriage`,
`firmware_stubs.line_scan`: the same renderer the demo and the lane tests use); the objects
are drawn here with the stub's own canvas primitives, in shapes and textures the stub never
draws on a clean vehicle (slanted straps, a printed label, slanted bands round a drum), so a model
of the lane's normal has something to find. Each canary is rendered twice with the same seeds,
with and without the object; the mask is where the two differ. The image kept is a crop of
the pass around the object, full height, `--crop` columns wide, at the camera's native
resolution (0.8 mm per pixel across, `--scale` of the full line rate along), JPEG like the
stub sends. `canaries.json` lists them with their boxes and the geometry they were made at.

    python models/canaries/under_vehicle/make_canaries.py                 # the shipped set
    python models/canaries/under_vehicle/make_canaries.py --scale 0.25 --out var/canaries_025

Deterministic: the same arguments give the same pixels on the same library versions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware_stubs.line_scan import NOMINAL_MM_PER_LINE, WIDTH, PassConditions, scan  # noqa: E402
from firmware_stubs.undercarriage import Canvas, Vehicle, VehicleType, draw_vehicle, plate_rng, vehicle_for  # noqa: E402

HERE = Path(__file__).resolve().parent
DEVICE = "uv1"          # the stub camera's sensor pattern (fill light, column gain) the canaries are seen through
MASK_LEVEL = 12         # grey levels: where the renders with and without the object differ more, the object is


def strapped_bundle(c: Canvas, x: float, y: float, w: float, h: float) -> None:
    """A dark bundle with bright straps running diagonally over it (the stub draws nothing diagonal)."""
    c.box(x, x + w, y, y + h, 40)
    for k in range(6):
        c.polyline([(x + k * w / 6, y), (x + k * w / 6 + w / 4, y + h)], 245, 25)


def label_package(c: Canvas, x: float, y: float, w: float, h: float) -> None:
    """A carton with a printed label (bars of 30-60 mm, black on white) and bright tape crossed over it."""
    c.box(x, x + w, y, y + h, 120)
    r0, r1 = c.row(y + 0.25 * h), max(c.row(y + 0.75 * h), c.row(y + 0.25 * h) + 2)
    c.box(x + 0.1 * w, x + 0.9 * w, y + 0.25 * h, y + 0.75 * h, 240)
    bar = x + 0.15 * w
    for k in range(12):
        width = 30.0 + 30.0 * ((k * 7) % 5) / 4
        if bar + width > x + 0.85 * w:
            break
        if k % 2 == 0:
            c.img[r0:r1, c.col(bar):c.col(bar + width)] = 15.0
        bar += width
    for k in (0.0, 0.3, 0.6):
        c.polyline([(x + k * w, y), (x + (k + 0.4) * w, y + h)], 250, 40)


def banded_drum(c: Canvas, x: float, y: float, w: float, h: float) -> None:
    """A dark drum lying across the vehicle, bright steel bands round it (slanted: they wind)."""
    c.box(x, x + w, y, y + h, 60, shade="y", depth=0.4)
    for k in range(1, 5):
        x0 = x + k * w / 5
        c.polyline([(x0 - 0.06 * h, y), (x0 + 0.06 * h, y + h)], 240, 35)


Draw = Callable[[Canvas, float, float, float, float], None]
OBJECTS: dict[str, tuple[Draw, float, float]] = {   # what, width and length in mm
    "strapped_bundle": (strapped_bundle, 560, 1000),
    "label_package": (label_package, 600, 1000),
    "banded_drum": (banded_drum, 640, 900),
}


@dataclass(frozen=True)
class Spec:
    """One canary: the object, the vehicle (a plate no lane test uses) and its type."""

    obj: str
    plate: str
    kind: VehicleType


SHIPPED = (
    Spec("strapped_bundle", "鲁K70001", VehicleType.TRACTOR_TRAILER),
    Spec("label_package", "鲁K70002", VehicleType.BOX_TRUCK),
    Spec("banded_drum", "鲁K70003", VehicleType.VAN),
    Spec("strapped_bundle", "鲁K70004", VehicleType.CAR),
    Spec("label_package", "鲁K70005", VehicleType.TRACTOR_TRAILER),
    Spec("banded_drum", "鲁K70006", VehicleType.BOX_TRUCK),
)


def place(v: Vehicle, obj: str) -> tuple[float, float, float, float]:
    """Where the object goes (mm, vehicle frame): between the axles, seeded by plate and object."""
    _, w, h = OBJECTS[obj]
    rng = plate_rng(v.seed, "canary", obj)
    x = float(rng.uniform(-(v.width_mm / 2 - 450), v.width_mm / 2 - 450 - w))
    y = float(rng.uniform(v.axles_mm[0] + 900, max(v.axles_mm[0] + 1000, v.axles_mm[-1] - 900 - h)))
    return x, y, w, h


def render(spec: Spec, scale: float, with_object: bool) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The pass image (uint8, lines x 4096) and the object's place (mm)."""
    v = vehicle_for(spec.plate, spec.kind)
    canvas = draw_vehicle(v, NOMINAL_MM_PER_LINE / scale)
    where = place(v, spec.obj)
    if with_object:
        OBJECTS[spec.obj][0](canvas, *where)
    rng = plate_rng(DEVICE, "canary", spec.plate)
    cond = PassConditions(speed_kmh=10.0, lateral_offset_mm=float(rng.uniform(-100, 100)), lead_mm=300.0,
                          tail_mm=300.0, speed_change=0.0)
    noise = np.random.default_rng(int.from_bytes(spec.plate.encode("utf-8")[-4:], "big"))
    return scan(canvas, v.length_mm, cond, noise, DEVICE).image, where


def make(spec: Spec, scale: float, crop: int) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """(image crop, mask crop, manifest entry) of one canary."""
    image, _ = render(spec, scale, True)
    clean, _ = render(spec, scale, False)
    diff = np.abs(image.astype(np.int16) - clean.astype(np.int16))
    mask = cv2.morphologyEx((diff > MASK_LEVEL).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 9), np.uint8))
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise RuntimeError(f"{spec}: the object left no trace in the image")
    if xs.max() - xs.min() + 1 > crop:
        raise RuntimeError(f"{spec}: the object is wider than the crop of {crop} columns")
    centre = int((xs.min() + xs.max()) // 2)
    x0 = min(max(0, centre - crop // 2), WIDTH - crop)
    box = [int(xs.min()) - x0, int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1]
    entry = {"object": spec.obj, "plate": spec.plate, "vehicle": spec.kind.value, "box": box,
             "crop_x0": x0, "mask_pixels": int(mask[:, x0:x0 + crop].sum())}
    return image[:, x0:x0 + crop], (mask[:, x0:x0 + crop] * 255).astype(np.uint8), entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: this folder)")
    parser.add_argument("--scale", type=float, default=0.05,
                        help="fraction of the stub camera's full line rate (default 0.05: 60 mm per line, as the lane "
                             "tests' camera; the demo's camera is 0.25)")
    parser.add_argument("--crop", type=int, default=1024, help="columns kept around the object (default 1024)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90, as the stub sends)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, spec in enumerate(SHIPPED, 1):
        image, mask, entry = make(spec, args.scale, args.crop)
        stem = f"{i:02d}_{spec.obj}_{spec.kind.value}"
        ok_image, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        ok_mask, png = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not (ok_image and ok_mask):
            raise RuntimeError(f"{stem}: encoding failed")
        (args.out / f"{stem}.jpg").write_bytes(jpeg.tobytes())
        (args.out / f"{stem}_mask.png").write_bytes(png.tobytes())
        entries.append({"image": f"{stem}.jpg", "mask": f"{stem}_mask.png", **entry})
        print(f"{stem}: {image.shape[1]}x{image.shape[0]} px, object box {entry['box']}, {len(jpeg)} bytes")
    manifest = {
        "kind": "under_vehicle",
        "made_by": "python models/canaries/under_vehicle/make_canaries.py" + (
            f" --scale {args.scale:g}" if args.scale != 0.05 else ""),
        "mm_per_px": 0.8, "mm_per_line": round(NOMINAL_MM_PER_LINE / args.scale, 3), "width": args.crop,
        "canaries": entries,
    }
    (args.out / "canaries.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
