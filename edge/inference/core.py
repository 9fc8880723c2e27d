"""The detector: one verified model, run on whole images of any size, blocking or off the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.inference.card import ModelCard
from edge.inference.config import InferenceConfig
from edge.inference.preprocess import ImageDecodeError, Normaliser, decode_image, match_channels
from edge.inference.resize import resize_to_height
from edge.inference.regions import find_regions
from edge.inference.registry import ModelRegistry
from edge.inference.result import InferenceResult
from edge.inference.session import GraphInfo, check_contract, create_session, warm_up
from edge.inference.tiling import MapStitcher, TileGrid, make_grid, pad_to_tile

log = logging.getLogger(__name__)


@dataclass
class DetectorCounters:
    """What an operator watches: images run, tiles run, failures, time spent."""

    images: int = 0
    tiles: int = 0
    flagged: int = 0
    errors: int = 0
    total_ms: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, result: InferenceResult) -> None:
        with self._lock:
            self.images += 1
            self.tiles += result.tiles
            self.flagged += int(result.flagged)
            self.total_ms += result.ms

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1


class Detector:
    """Runs one model on images of any size: channels, resize, tiles, batched runs, stitch, regions."""

    def __init__(self, card: ModelCard, session: object, info: GraphInfo, config: InferenceConfig,
                 folder: Path | None = None) -> None:
        self.card = card
        self.session = session
        self.info = info
        self.config = config
        self.folder = folder
        self.batch = min(config.tile_batch, info.max_batch) if info.max_batch else config.tile_batch
        self.counters = DetectorCounters()
        self._normalisers: dict[np.dtype, Normaliser] = {}
        self._local = threading.local()  # per-thread batch buffer: AsyncDetector may run images in parallel

    @classmethod
    def load(cls, name_or_dir: str | Path, config: InferenceConfig | None = None,
             models_dir: Path | str | None = None) -> Detector:
        """Load a model by name or folder, verify hash and graph against its card, warm it up."""
        config = config or InferenceConfig()
        registry = ModelRegistry(models_dir if models_dir is not None else config.models_dir)
        files = registry.load(name_or_dir)
        session = create_session(files.onnx_bytes, config)
        info = check_contract(session, files.card, str(files.folder))
        detector = cls(files.card, session, info, config, files.folder)
        if config.warmup:
            warm_up(session, files.card, info, detector.batch)
        log.info("loaded %s %s on %s, tile %dx%d, batch %d", files.card.name, files.card.version,
                 ",".join(info.providers), files.card.input.width, files.card.input.height, detector.batch)
        return detector

    @property
    def name(self) -> str:
        return self.card.name

    def to_working_size(self, image: np.ndarray) -> np.ndarray:
        """The card's channels and working height (a no-op for an image already at that size)."""
        work = match_channels(image, self.card.input.channels)
        if self.card.tiling.resize_to_height is not None:
            work = resize_to_height(work, self.card.tiling.resize_to_height)
        return work

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Channels and optional resize; returns (model-ready uint image, its unpadded (h, w))."""
        spec = self.card.input
        work = self.to_working_size(image)
        valid = (work.shape[0], work.shape[1])
        return pad_to_tile(work, spec.height, spec.width), valid

    def infer(self, image: np.ndarray) -> InferenceResult:
        """Score one decoded image (uint8 or uint16, grey/BGR/BGRA); blocking."""
        try:
            return self._infer(image)
        except Exception:
            self.counters.record_error()
            raise

    def infer_bytes(self, data: bytes, source: str = "<bytes>") -> InferenceResult:
        """Decode an encoded image (PNG, JPEG, TIFF, ...) and score it; ms includes decoding."""
        start = time.perf_counter()
        try:
            image = decode_image(data, source)
        except Exception:
            self.counters.record_error()
            raise
        result = self.infer(image)
        result.ms = (time.perf_counter() - start) * 1000.0
        return result

    def _batches(self, work: np.ndarray, grid: TileGrid) -> Iterator[tuple[list[tuple[int, int]], np.ndarray]]:
        """(tile positions, float32 NCHW batch) for every run; the batch buffer is reused between runs."""
        spec = self.card.input
        normaliser = self._normaliser(work.dtype)
        positions = grid.positions
        buffer = self._batch_buffer()
        for first in range(0, len(positions), self.batch):
            chunk = positions[first:first + self.batch]
            tiles = [work[y:y + spec.height, x:x + spec.width] for y, x in chunk]
            yield chunk, normaliser.fill(tiles, buffer)

    def _normaliser(self, dtype: np.dtype) -> Normaliser:
        """The card's Normaliser for images of this dtype, built once."""
        normaliser = self._normalisers.get(dtype)
        if normaliser is None:
            normaliser = self._normalisers[dtype] = Normaliser(self.card.input, dtype)
        return normaliser

    def _batch_buffer(self) -> np.ndarray:
        """This thread's float32 NCHW batch buffer, allocated on its first image and reused after."""
        buffer: np.ndarray | None = getattr(self._local, "buffer", None)
        if buffer is None:
            spec = self.card.input
            buffer = np.empty((self.batch, spec.channels, spec.height, spec.width), dtype=np.float32)
            self._local.buffer = buffer
        return buffer

    def _grid(self, work: np.ndarray) -> TileGrid:
        spec = self.card.input
        return make_grid(work.shape[0], work.shape[1], spec.height, spec.width, self.card.tiling.overlap)

    def tile_batches(self, image: np.ndarray) -> list[np.ndarray]:
        """The exact tensors `infer` feeds the session for this image (copies; for benchmarks and checks)."""
        work, _ = self.prepare(image)
        return [feed.copy() for _, feed in self._batches(work, self._grid(work))]

    def _infer(self, image: np.ndarray) -> InferenceResult:
        start = time.perf_counter()
        card = self.card
        if image.ndim not in (2, 3) or image.size == 0:
            raise ImageDecodeError(f"not an image: array of shape {image.shape}")
        orig_h, orig_w = image.shape[:2]
        work, valid_hw = self.prepare(image)
        grid = self._grid(work)
        stitcher: MapStitcher | None = None
        score = -np.inf
        for chunk, feed in self._batches(work, grid):
            outputs = self.session.run(self.info.output_names, {self.info.input_name: feed})
            score = max(score, float(np.max(outputs[0])))
            if card.task == "anomaly_map":
                maps = outputs[1]
                if stitcher is None:
                    stitcher = MapStitcher(grid, maps.shape[2], maps.shape[3], valid_hw, self.config.blend)
                for i, (y, x) in enumerate(chunk):
                    stitcher.add(y, x, maps[i, 0])
        regions, dropped, small_map, map_scale = [], 0, None, (1.0, 1.0)
        if stitcher is not None:
            full = stitcher.result()
            map_scale = (orig_w / full.shape[1], orig_h / full.shape[0])
            regions, dropped = find_regions(
                full, float(card.pixel_threshold), map_scale, (orig_w, orig_h),
                card.min_region_area, self.config.max_regions)
            small_map, small_scale = self._reduce(full)
            map_scale = (map_scale[0] * small_scale[0], map_scale[1] * small_scale[1])
        result = InferenceResult(
            score=score, flagged=score >= card.threshold, threshold=card.threshold, regions=regions,
            anomaly_map=small_map, map_scale=map_scale, model=card.name, version=card.version,
            ms=(time.perf_counter() - start) * 1000.0, image_size=(orig_w, orig_h), tiles=len(grid),
            regions_dropped=dropped)
        self.counters.record(result)
        return result

    def _reduce(self, full: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """Shrink the stitched map to at most map_max_side pixels on its longest side (INTER_LINEAR: cheap on big maps)."""
        h, w = full.shape
        longest = max(h, w)
        if longest <= self.config.map_max_side:
            return full.copy(), (1.0, 1.0)
        factor = self.config.map_max_side / longest
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = cv2.resize(full, size, interpolation=cv2.INTER_LINEAR)
        return small, (w / size[0], h / size[1])


class AsyncDetector:
    """Runs a Detector in worker threads so the event loop never blocks; at most N images at once."""

    def __init__(self, detector: Detector, max_concurrency: int | None = None) -> None:
        self.detector = detector
        limit = max_concurrency or detector.config.max_concurrency
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"infer-{detector.name}")
        self._slots = asyncio.Semaphore(limit)

    async def infer(self, image: np.ndarray) -> InferenceResult:
        """Score a decoded image off the event loop."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.detector.infer, image)

    async def infer_bytes(self, data: bytes, source: str = "<bytes>") -> InferenceResult:
        """Decode and score encoded image bytes off the event loop."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.detector.infer_bytes, data, source)

    def close(self) -> None:
        """Stop the worker threads after running work finishes."""
        self._executor.shutdown(wait=True)
