"""Fit the simulated lane's own models on its stubs' clean renders and measure them on renders the fit never saw.

    python models/demo_lane/make_demo_models.py [--only NAME,...] [--workdir var/demo_lane_fit]

A real lane refits on its own clean passes; `kouan demo` is a lane whose devices are the stubs
in firmware_stubs/, so its models are fitted on what those stubs render. For each model this
script renders clean images straight from the stub's renderer (no MQTT), runs `kouan model fit`
on them (the CLI itself, `python -m edge.cli model fit`, default method knn), then scores held-out
renders (other seeds / plates, the stub's own anomalies with the ground truth the stub knows)
through the inference core as the edge runs it (`Detector`), times one image with `kouan infer`,
and writes the figures into the model's card (`metrics`) and `evaluation.json`.

Models (NAME):
  empty_container               empty-box stub, camera view (8-bit BGR, what `kouan demo` sends)
  empty_container_transmission  empty-box stub, transmission view (16-bit grey)
  under_vehicle                 under-vehicle camera stub (4096-px line-scan passes, JPEG as sent);
                                fitted under --workdir and measured (under_vehicle_fit_evaluation.json),
                                not shipped: the fit does not find the stub's objects (see README.md)

Seeds: the fit uses empty-box seeds 40000-40059 and plates 京A00000.. (pass ids uvss.fit.N); the
held-out sets use empty-box seeds 1-1000 (empty) and 1-300 (not empty), the sequence numbers the
demo stub renders, and plates 苏B.. / 粤C.. / the demo's own 新F12345 and 苏E88888 (pass ids
uvss.eval*); the test (tests/test_demo_lane_models.py) uses seeds 70001-70006. Everything is synthetic: the figures
say how the models do on the stubs, nothing about real containers or vehicles.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drivers.under_vehicle import decode_pass  # noqa: E402
from edge.inference.card import load_card, write_card  # noqa: E402
from edge.inference.config import InferenceConfig  # noqa: E402
from edge.inference.core import Detector  # noqa: E402
from firmware_stubs.empty_box_image import render_interior  # noqa: E402
from firmware_stubs.under_vehicle import CameraConfig, PassEvent, render_pass  # noqa: E402
from firmware_stubs.undercarriage import OBJECT_KINDS  # noqa: E402

HERE = Path(__file__).resolve().parent
UV_DEVICE = "uvss"                      # the demo lane's under-vehicle camera id (its sensor pattern)
UV_FIT_PREFIX, UV_CLEAN_PREFIX, UV_OBJECT_PREFIX = "京A", "苏B", "粤C"
DEMO_PLATES = ("新F12345", "苏E88888")  # the passes `kouan demo` scripts
EB_FIT_SEEDS = range(40_000, 40_060)
EB_HELD_OUT_CLEAN = range(1, 1001)            # the demo stub renders sequence numbers 1, 2, ...
EB_HELD_OUT_FULL = range(1, 301)
CARGO_DIFF = {"camera": 25, "transmission": 3000}  # |full - empty| above this (per pixel) is cargo
PASS_TIME = datetime(2025, 1, 1, tzinfo=UTC)


# -- what the stubs render --------------------------------------------------------------------------
def uv_pass(plate: str, pass_id: str, obj: str | None = None) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """One pass as the demo's camera sends it (JPEG q90, scale 0.25), decoded; and the object's box
    (rows r0, r1, columns c0, c1) from the stub's own ground truth (`PassTruth.object_box`)."""
    message, truth = render_pass(PassEvent(0.0, "pass", plate, obj), CameraConfig(device=UV_DEVICE), pass_id, PASS_TIME)
    return decode_pass(message, UV_DEVICE).image(), truth.object_box


def box_mask(shape: tuple[int, ...], box: tuple[int, int, int, int] | None) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    if box is not None:
        r0, r1, c0, c1 = box
        mask[r0:r1, c0:c1] = True
    return mask


def cargo_mask(kind: str, seed: int) -> np.ndarray:
    """Where the not-empty interior of `seed` holds cargo: the renderer is deterministic per seed, so
    the same seed rendered empty differs from it only by cargo and sensor noise (sigma 3 / 300)."""
    full = render_interior(kind, full=True, seed=seed).astype(np.int32)
    empty = render_interior(kind, full=False, seed=seed).astype(np.int32)
    diff = np.abs(full - empty)
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    return diff > CARGO_DIFF[kind]


# -- scoring ----------------------------------------------------------------------------------------
def auroc(negatives: Iterable[float], positives: Iterable[float]) -> float:
    """P(positive scores above negative), ties counted half (Mann-Whitney)."""
    neg, pos = (np.asarray(v if isinstance(v, np.ndarray) else list(v), np.float64) for v in (negatives, positives))
    if neg.size == 0 or pos.size == 0:
        return float("nan")
    values = np.concatenate([neg, pos])
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]        # ties share their average rank
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(values))
    ranks[order] = ((starts + ends - 1) / 2 + 1)[np.cumsum(first) - 1]
    pos_ranks = ranks[neg.size:]
    return float((pos_ranks.sum() - pos.size * (pos.size + 1) / 2) / (neg.size * pos.size))


@dataclass
class Scored:
    """One held-out image through the core, and how its regions meet the ground truth."""

    score: float
    flagged: bool
    ms: float
    regions: int
    region_hit: bool = False      # a reported region overlaps the anomaly
    top_region_hit: bool = False  # the highest-scoring region overlaps it
    recall: float = 0.0           # share of anomaly pixels inside the region boxes
    precision: float = 0.0        # share of region-box pixels on the anomaly


def score(detector: Detector, image: np.ndarray, truth: np.ndarray | None,
          pixels: list[tuple[np.ndarray, np.ndarray]]) -> Scored:
    """Run the core on `image`; with `truth` (bool mask), measure its regions against it. The map
    values at map resolution with their labels are appended to `pixels` (for pixel AUROC)."""
    result = detector.infer(image)
    out = Scored(result.score, bool(result.flagged), result.ms, len(result.regions))
    truth = truth if truth is not None else np.zeros(image.shape[:2], bool)
    if result.anomaly_map is not None:
        amap = result.anomaly_map
        label = cv2.resize(truth.astype(np.float32), (amap.shape[1], amap.shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
        step = max(1, amap.size // 20_000)  # a sample of every map, so big images do not dominate
        pixels.append((amap.ravel()[::step], label.ravel()[::step]))
    if truth.any():
        boxes = np.zeros(truth.shape, bool)
        for region in result.regions:
            boxes[region.y:region.y + region.height, region.x:region.x + region.width] = True
        hits = [bool(truth[r.y:r.y + r.height, r.x:r.x + r.width].any()) for r in result.regions]
        out.region_hit, out.top_region_hit = any(hits), bool(hits and hits[0])
        out.recall = float((boxes & truth).sum() / truth.sum())
        out.precision = float((boxes & truth).sum() / boxes.sum()) if boxes.any() else 0.0
    return out


def summarise(clean: list[Scored], anomalous: dict[str, list[Scored]],
              pixels: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    values = np.concatenate([v for v, _ in pixels]) if pixels else np.zeros(0)
    labels = np.concatenate([lab for _, lab in pixels]) if pixels else np.zeros(0, bool)
    everything = [s for group in anomalous.values() for s in group]
    summary: dict[str, object] = {
        "n_clean": len(clean),
        "clean_flagged_share": round(float(np.mean([s.flagged for s in clean])), 4),
        "clean_score_median": float(np.median([s.score for s in clean])),
        "clean_score_max": float(np.max([s.score for s in clean])),
        "n_anomalous": len(everything),
        "image_auroc": round(auroc([s.score for s in clean], [s.score for s in everything]), 4),
        "pixel_auroc": round(auroc(values[~labels], values[labels]), 4) if labels.any() else None,
        "ms_median": round(float(np.median([s.ms for s in clean + everything])), 1),
        "per_kind": {},
    }
    for kind, group in anomalous.items():
        summary["per_kind"][kind] = {  # type: ignore[index]
            "n": len(group),
            "image_auroc": round(auroc([s.score for s in clean], [s.score for s in group]), 4),
            "flagged_share": round(float(np.mean([s.flagged for s in group])), 4),
            "flagged_with_region_on_it": round(float(np.mean([s.flagged and s.region_hit for s in group])), 4),
            "top_region_on_it": round(float(np.mean([s.top_region_hit for s in group])), 4),
            "recall_median": round(float(np.median([s.recall for s in group])), 3),
            "precision_median": round(float(np.median([s.precision for s in group])), 3),
        }
    return summary


# -- fitting and timing through the CLI -------------------------------------------------------------
def kouan(*args: str) -> str:
    """Run `kouan ARGS` (as `python -m edge.cli`) from the repository root; its stdout."""
    done = subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kouan {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def fit(name: str, images: Iterable[np.ndarray], workdir: Path, out: Path, extra: list[str]) -> dict[str, object]:
    """Write the clean images as PNG under workdir and run `kouan model fit` on them into `out`."""
    normal = workdir / name / "normal"
    normal.mkdir(parents=True, exist_ok=True)
    for old in normal.glob("*.png"):
        old.unlink()
    for i, image in enumerate(images):
        cv2.imwrite(str(normal / f"{i:04d}.png"), image)
    rel = normal.relative_to(ROOT) if normal.is_relative_to(ROOT) else normal
    summary = json.loads(kouan("model", "fit", "--normal", str(rel), "--out", str(out), "--name", f"demo_lane_{name}",
                               *extra).strip().splitlines()[-1])
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"[{name}] kouan model fit --normal {rel} --out {shown} {' '.join(extra)}: threshold "
          f"{summary['threshold']:.4g}, {summary['normal_images']} images, {summary['seconds']} s", flush=True)
    return summary


def time_infer(model: Path, image: np.ndarray, workdir: Path) -> dict[str, object]:
    """`kouan infer --model MODEL IMAGE` on one image: its JSON line (ms, tiles, size)."""
    path = workdir / "timing.png"
    cv2.imwrite(str(path), image)
    record = json.loads(kouan("infer", "--model", str(model), str(path)).strip().splitlines()[-1])
    return {k: record[k] for k in ("ms", "decode_ms", "width", "height", "tiles", "score", "flagged")}


def write_figures(folder: Path, summary: dict[str, object], held_out: str, what: str) -> None:
    """Put the held-out figures into the card (fields the project uses) and evaluation.json."""
    card = load_card(folder)
    card.metrics.image_auroc = summary["image_auroc"]  # type: ignore[assignment]
    card.metrics.pixel_auroc = summary["pixel_auroc"]  # type: ignore[assignment]
    card.metrics.n_normal = summary["n_clean"]  # type: ignore[assignment]
    card.metrics.n_anomalous = summary["n_anomalous"]  # type: ignore[assignment]
    per_kind = "; ".join(f"{k}: AUROC {v['image_auroc']:.3f}, flagged {v['flagged_share']:.0%}, flagged with a "
                         f"region on it {v['flagged_with_region_on_it']:.0%}"
                         for k, v in summary["per_kind"].items())  # type: ignore[union-attr]
    card.metrics.held_out_set = (
        f"{held_out} Scored through the inference core (Detector) at the card threshold: clean flagged "
        f"{summary['clean_flagged_share']:.1%} of {summary['n_clean']}; {per_kind}. Synthetic stub renders only, "
        "NOT a claim about real containers or vehicles.")
    card.description = (f"DEMO LANE ONLY: fitted on clean renders of {what} for the simulated lane (`kouan demo`). "
                        + card.description)
    card.created_by = f"python models/demo_lane/make_demo_models.py ({card.created_by})"
    write_card(folder, card)
    report = {"model": card.name, "sha256": card.sha256, "threshold": card.threshold, "held_out_set": held_out,
              **summary, "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    (folder / "evaluation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def print_summary(name: str, summary: dict[str, object]) -> None:
    print(f"[{name}] clean flagged {summary['clean_flagged_share']:.1%} of {summary['n_clean']}; image AUROC "
          f"{summary['image_auroc']}, pixel AUROC {summary['pixel_auroc']}, ms median {summary['ms_median']}", flush=True)
    for kind, v in summary["per_kind"].items():  # type: ignore[union-attr]
        print(f"[{name}]   {kind}: {json.dumps(v)}", flush=True)


# -- the models ----------------------------------------------------------------------------------------
def empty_box_model(name: str, kind: str, workdir: Path) -> dict[str, object]:
    out = HERE / name
    fit(name, (render_interior(kind, full=False, seed=s) for s in EB_FIT_SEEDS), workdir, out, [])
    detector = Detector.load(out, InferenceConfig())
    pixels: list[tuple[np.ndarray, np.ndarray]] = []
    clean = [score(detector, render_interior(kind, full=False, seed=s), None, pixels) for s in EB_HELD_OUT_CLEAN]
    full = [score(detector, render_interior(kind, full=True, seed=s), cargo_mask(kind, s), pixels)
            for s in EB_HELD_OUT_FULL]
    summary = summarise(clean, {"not_empty": full}, pixels)
    summary["kouan_infer"] = time_infer(out, render_interior(kind, full=True, seed=1), workdir)
    print_summary(name, summary)
    held_out = (f"{len(EB_HELD_OUT_CLEAN)} empty + {len(EB_HELD_OUT_FULL)} not-empty {kind} interiors from "
                f"firmware_stubs/empty_box_image.py, seeds {EB_HELD_OUT_CLEAN.start}-{EB_HELD_OUT_CLEAN.stop - 1} and "
                f"{EB_HELD_OUT_FULL.start}-{EB_HELD_OUT_FULL.stop - 1} (the sequence numbers the demo stub renders; the "
                f"fit used {EB_FIT_SEEDS.start}-{EB_FIT_SEEDS.stop - 1}). The image does not depend on the declared "
                "content, so 'declared empty and empty' is the empty render. Cargo ground truth: pixels where the "
                f"same seed rendered not-empty differs from it rendered empty by more than {CARGO_DIFF[kind]}.")
    write_figures(out, summary, held_out, f"the empty-box stub's {kind} interiors (firmware_stubs/empty_box_image.py)")
    return summary


def under_vehicle_model(workdir: Path, n_fit: int, n_clean: int, n_object: int) -> dict[str, object]:
    """Fit and measure; written under workdir (not shipped: the fit does not find the stub's objects)."""
    out = workdir / "under_vehicle" / "model"
    fit("under_vehicle", (uv_pass(f"{UV_FIT_PREFIX}{i:05d}", f"uvss.fit.{i:05d}")[0] for i in range(n_fit)),
        workdir, out, [])
    results: dict[str, object] = {}
    for label, model in (("fitted", out), ("shipped models/under_vehicle", HERE.parent / "under_vehicle")):
        detector = Detector.load(model, InferenceConfig(map_max_side=8192))
        pixels: list[tuple[np.ndarray, np.ndarray]] = []
        clean = [score(detector, uv_pass(f"{UV_CLEAN_PREFIX}{i:05d}", f"uvss.eval.{i:05d}")[0], None, pixels)
                 for i in range(n_clean)]
        anomalous: dict[str, list[Scored]] = {}
        for k, obj in enumerate(OBJECT_KINDS):
            group = []
            for i in range(n_object):
                image, box = uv_pass(f"{UV_OBJECT_PREFIX}{k}{i:04d}", f"uvss.eval-{obj}.{i:04d}", obj)
                group.append(score(detector, image, box_mask(image.shape, box), pixels))
            anomalous[obj] = group
        summary = summarise(clean, anomalous, pixels)
        demo = {}
        for plate in DEMO_PLATES:
            r = detector.infer(uv_pass(plate, "uvss.eval-demo.0")[0])
            demo[f"{plate} clean"] = {"score": r.score, "flagged": bool(r.flagged)}
        image, box = uv_pass(DEMO_PLATES[0], "uvss.eval-demo.1", "box")
        r = score(detector, image, box_mask(image.shape, box), [])
        demo[f"{DEMO_PLATES[0]} object=box"] = {"score": r.score, "flagged": r.flagged, "region_on_it": r.region_hit}
        summary["demo_plates"] = demo
        biggest = max((uv_pass(f"{UV_CLEAN_PREFIX}{i:05d}", f"uvss.eval.{i:05d}")[0] for i in range(min(n_clean, 12))),
                      key=lambda im: im.shape[0])
        summary["kouan_infer"] = time_infer(model, biggest, workdir)
        print_summary(f"under_vehicle, {label}", summary)
        print(f"[under_vehicle, {label}]   demo plates: {json.dumps(demo, ensure_ascii=False)}; kouan infer on the "
              f"largest pass: {summary['kouan_infer']}", flush=True)
        results[label] = summary
    report = {"fit": f"{n_fit} clean passes, plates {UV_FIT_PREFIX}00000.., device {UV_DEVICE}, JPEG q90, scale 0.25",
              "held_out": f"{n_clean} clean passes (plates {UV_CLEAN_PREFIX}..) and {n_object} per object kind "
                          f"(plates {UV_OBJECT_PREFIX}..), object boxes from the stub's PassTruth.object_box",
              **results, "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    (HERE / "under_vehicle_fit_evaluation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                                            encoding="utf-8")
    return report


MODELS: dict[str, Callable[[argparse.Namespace], object]] = {
    "empty_container": lambda a: empty_box_model("empty_container", "camera", a.workdir),
    "empty_container_transmission": lambda a: empty_box_model("empty_container_transmission", "transmission", a.workdir),
    "under_vehicle": lambda a: under_vehicle_model(a.workdir, a.uv_fit, a.uv_clean, a.uv_object),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo_lane_fit",
                        help="where rendered fit images (and the unshipped under-vehicle fit) go (default var/demo_lane_fit)")
    parser.add_argument("--uv-fit", type=int, default=120, help="clean under-vehicle passes to fit on (default 120)")
    parser.add_argument("--uv-clean", type=int, default=40, help="held-out clean passes (default 40)")
    parser.add_argument("--uv-object", type=int, default=15, help="held-out passes per object kind (default 15)")
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    for name in names:
        started = time.perf_counter()
        MODELS[name](args)
        print(f"[{name}] done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
