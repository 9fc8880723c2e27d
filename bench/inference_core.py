"""Inference core vs bare onnxruntime on the same model and tensors, and one 4096x2048 image end to end.

    python bench/inference_core.py [--model NAME_OR_DIR | --stand-in] [--repeats 15] [--threads 2]

1. Throughput ratio: the core's `Detector.infer(image)` (channels, tiling, float32 conversion,
   batched runs, stitching, regions) against bare `InferenceSession.run` on the very tensors the
   core feeds (taken from `Detector.tile_batches`), same session, runs interleaved so both see
   the same machine load. ratio = bare time / core time (1.0 = no overhead). The core is given
   the image at the card's working size, so the two run the same tensors (checked byte for
   byte); a second figure gives it the full 4096x2048 image, adding the down-sizing that bare
   onnxruntime is never asked to do.
2. Where the core's time goes: `Detector.infer`'s stages (prepare = channels + resize + pad,
   normalise into the batch buffer, session runs, stitching, regions + map reduction) timed one
   by one with the core's own functions, each image right after a bare run as in 1.
3. End to end: one 4096x2048 8-bit under-vehicle image as JPEG and as PNG bytes through
   `Detector.infer_bytes` (decode, resize, tile, infer, stitch, regions); median of the repeats.

The model is the shipped `under_vehicle` if present, else a synthetic stand-in of similar cost
(three strided convolutions 32/64/128 wide, ~0.15 GMAC per 256x256 tile, the same tiling
settings); the output says which. The image comes from models.generators.under_vehicle when
available, else a synthetic texture.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.inference.config import InferenceConfig  # noqa: E402
from edge.inference.core import Detector  # noqa: E402
from edge.inference.regions import find_regions  # noqa: E402
from edge.inference.registry import ModelNotFoundError, ModelRegistry  # noqa: E402
from edge.inference.tiling import MapStitcher  # noqa: E402

HEIGHT, WIDTH = 2048, 4096


def load_model(name: str | None, config: InferenceConfig, workdir: Path, stand_in: bool) -> tuple[Detector, str]:
    """The asked-for model, else shipped under_vehicle, else (or with --stand-in) the synthetic stand-in."""
    if name is not None:
        return Detector.load(name, config), f"{name} (as asked)"
    try:
        if stand_in:
            raise ModelNotFoundError("stand-in asked for")
        ModelRegistry(config.models_dir).resolve("under_vehicle")
        return Detector.load("under_vehicle", config), "shipped under_vehicle"
    except ModelNotFoundError:
        from edge.inference.synthetic import conv_map_graph, write_model

        write_model(workdir / "stand_in", conv_map_graph(1, (256, 256), widths=(32, 64, 128)), "stand_in",
                    overlap=32, resize_to_height=512, threshold=1e9, pixel_threshold=1e9, min_region_area=16)
        return Detector.load(workdir / "stand_in", config), (
            "synthetic stand-in: conv 32/64/128 stride 2, "
            "tile 256, overlap 32, resize_to_height 512")


def make_image() -> tuple[np.ndarray, str]:
    """One 8-bit 4096x2048 under-vehicle image (generator if available, else smooth texture + noise)."""
    try:
        from models.generators.under_vehicle import generate

        image, _ = generate(20260, split="test", anomalous=True, height=HEIGHT, width=WIDTH)
        return image, "models.generators.under_vehicle seed 20260 (test split, anomalous)"
    except ImportError:
        rng = np.random.default_rng(0)
        base = cv2.resize(rng.random((64, 128), dtype=np.float32), (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        noise = rng.normal(0, 0.03, (HEIGHT, WIDTH)).astype(np.float32)
        return np.clip((base + noise) * 200 + 20, 0, 255).astype(np.uint8), "synthetic texture"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def stage_times(detector: Detector, image: np.ndarray, before: Callable[[], object],
                repeats: int) -> dict[str, list[float]]:
    """ms per stage of `Detector._infer` (same calls, same order), each repeat preceded by `before`."""
    card, info, session = detector.card, detector.info, detector.session
    orig_h, orig_w = image.shape[:2]
    times: dict[str, list[float]] = {name: [] for name in ("prepare", "normalise", "run", "stitch", "regions")}
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        work, valid_hw = detector.prepare(image)
        grid = detector._grid(work)
        times["prepare"].append((time.perf_counter() - start) * 1000.0)
        batches = detector._batches(work, grid)
        stitcher, spent = None, {"normalise": 0.0, "run": 0.0, "stitch": 0.0}
        while True:
            start = time.perf_counter()
            item = next(batches, None)
            spent["normalise"] += time.perf_counter() - start
            if item is None:
                break
            chunk, feed = item
            start = time.perf_counter()
            outputs = session.run(info.output_names, {info.input_name: feed})
            spent["run"] += time.perf_counter() - start
            start = time.perf_counter()
            float(np.max(outputs[0]))
            if card.task == "anomaly_map":
                if stitcher is None:
                    stitcher = MapStitcher(grid, outputs[1].shape[2], outputs[1].shape[3], valid_hw,
                                           detector.config.blend)
                for i, (y, x) in enumerate(chunk):
                    stitcher.add(y, x, outputs[1][i, 0])
            spent["stitch"] += time.perf_counter() - start
        for name, seconds in spent.items():
            times[name].append(seconds * 1000.0)
        start = time.perf_counter()
        if stitcher is not None:
            full = stitcher.result()
            scale = (orig_w / full.shape[1], orig_h / full.shape[0])
            find_regions(full, float(card.pixel_threshold), scale, (orig_w, orig_h), card.min_region_area,
                         detector.config.max_regions)
            detector._reduce(full)
        times["regions"].append((time.perf_counter() - start) * 1000.0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model name or folder (default: shipped under_vehicle or stand-in)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--stand-in", action="store_true", help="use the synthetic stand-in model")
    args = parser.parse_args()

    config = InferenceConfig(intra_op_threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        detector, model_desc = load_model(args.model, config, Path(tmp), args.stand_in)
        image, image_desc = make_image()
        card = detector.card
        feeds = detector.tile_batches(image)
        session, names, input_name = detector.session, detector.info.output_names, detector.info.input_name
        tiles = sum(len(feed) for feed in feeds)

        def bare() -> None:
            for feed in feeds:
                session.run(names, {input_name: feed})

        working = detector.to_working_size(image).copy()
        assert [f.tobytes() for f in detector.tile_batches(working)] == [f.tobytes() for f in feeds]
        bare(), detector.infer(image), detector.infer(working)  # warm all paths
        bare_ms, core_ms, full_ms = [], [], []
        for _ in range(args.repeats):
            bare_ms.append(timed(bare))
            core_ms.append(timed(lambda: detector.infer(working)))
            full_ms.append(timed(lambda: detector.infer(image)))
        ratio = statistics.median(bare_ms) / statistics.median(core_ms)
        full_ratio = statistics.median(bare_ms) / statistics.median(full_ms)
        stages = stage_times(detector, image, bare, args.repeats)

        ok_jpg, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        ok_png, png = cv2.imencode(".png", image)
        assert ok_jpg and ok_png
        e2e: dict[str, list[float]] = {"jpeg": [], "png": []}
        decode: dict[str, list[float]] = {"jpeg": [], "png": []}
        blobs = {"jpeg": jpg.tobytes(), "png": png.tobytes()}
        result = None
        for _ in range(args.repeats):
            for fmt, blob in blobs.items():
                decode[fmt].append(timed(lambda b=blob: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)))
                start = time.perf_counter()
                result = detector.infer_bytes(blob, fmt)
                e2e[fmt].append((time.perf_counter() - start) * 1000.0)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(other processes share these cores)")
    print(f"model: {model_desc}")
    print(f"  card {card.name} {card.version}: tile {card.input.width}x{card.input.height}, overlap "
          f"{card.tiling.overlap}, resize_to_height {card.tiling.resize_to_height}, batch {detector.batch}, "
          f"providers {','.join(detector.info.providers)}, intra-op threads {args.threads}")
    print(f"image: {WIDTH}x{HEIGHT} 8-bit, {image_desc}; {tiles} tiles in {len(feeds)} runs; "
          f"repeats {args.repeats}")
    h, w = working.shape[:2]
    print("1. throughput, same session, same tensors (per image):")
    print(f"   bare InferenceSession.run            median {statistics.median(bare_ms):8.1f} ms  p90 "
          f"{pct(bare_ms, 90):8.1f} ms  {1000 * tiles / statistics.median(bare_ms):7.1f} tiles/s")
    print(f"   core Detector.infer, {w}x{h} image  median {statistics.median(core_ms):8.1f} ms  p90 "
          f"{pct(core_ms, 90):8.1f} ms  {1000 * tiles / statistics.median(core_ms):7.1f} tiles/s")
    print(f"   ratio core/bare throughput {ratio:.3f}  (target >= 0.9; the image at the working size, "
          "so both run the same tensors)")
    print(f"   core Detector.infer, {WIDTH}x{HEIGHT} image median {statistics.median(full_ms):8.1f} ms  p90 "
          f"{pct(full_ms, 90):8.1f} ms  ratio {full_ratio:.3f} (includes the core's resize to {w}x{h}, "
          "work bare onnxruntime is not given)")
    print("2. where the core's time goes, stage by stage (per image, median):")
    print("   " + "  ".join(f"{name} {statistics.median(ms):.2f}" for name, ms in stages.items())
          + f"  ms; all but run {sum(statistics.median(ms) for n, ms in stages.items() if n != 'run'):.2f} ms")
    print("3. end to end, one image from encoded bytes (decode, resize, tile, infer, stitch, regions):")
    for fmt in ("jpeg", "png"):
        print(f"   {fmt:4s} {len(blobs[fmt]) / 1e6:5.2f} MB  median {statistics.median(e2e[fmt]):7.1f} ms  "
              f"p90 {pct(e2e[fmt], 90):7.1f} ms  (decode alone median {statistics.median(decode[fmt]):6.1f} ms)"
              f"  target <= 1000 ms")
    if result is not None:
        print(f"   last result: score {result.score:.4f} flagged {result.flagged} regions {len(result.regions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
