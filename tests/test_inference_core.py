"""Detector: the async wrapper runs inference off the event loop with bounded concurrency; sessions from config."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.inference.config import InferenceConfig
from edge.inference.core import AsyncDetector, Detector
from edge.inference.session import FORCE_SPINNING_STOP, choose_providers
from edge.inference.synthetic import identity_map_graph, write_model


class GatedSession:
    """Wraps a real session: each run blocks until the test opens the gate, and records its thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.started = threading.Event()
        self.threads: set[int] = set()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.add(threading.get_ident())
        self.started.set()
        try:
            if not self.gate.wait(timeout=10):
                raise TimeoutError("gate never opened: the event loop was blocked")
            return self.inner.run(names, feeds)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def detector(tmp_path: Path) -> Detector:
    write_model(tmp_path / "m", identity_map_graph(1, (32, 32)), "m")
    return Detector.load(tmp_path / "m")


def test_async_infer_does_not_block_the_event_loop(detector: Detector) -> None:
    gated = GatedSession(detector.session)
    detector.session = gated
    image = np.zeros((40, 40), dtype=np.uint8)
    image[5:10, 5:10] = 255

    async def scenario() -> tuple[Any, int]:
        wrapper = AsyncDetector(detector)
        task = asyncio.create_task(wrapper.infer(image))
        # The loop must stay free while the session runs: this coroutine opens the gate.
        await asyncio.to_thread(gated.started.wait, 5)
        assert not task.done()
        gated.gate.set()
        result = await asyncio.wait_for(task, timeout=10)
        wrapper.close()
        return result, threading.get_ident()

    result, loop_thread = asyncio.run(scenario())
    assert [(r.x, r.y) for r in result.regions] == [(5, 5)]
    assert loop_thread not in gated.threads


def test_async_concurrency_is_bounded(detector: Detector) -> None:
    gated = GatedSession(detector.session)
    gated.gate.set()
    detector.session = gated
    images = [np.full((64, 64), i * 20, dtype=np.uint8) for i in range(6)]

    async def scenario() -> list[Any]:
        wrapper = AsyncDetector(detector, max_concurrency=2)
        results = await asyncio.gather(*(wrapper.infer(img) for img in images))
        wrapper.close()
        return results

    results = asyncio.run(scenario())
    assert [round(r.score * 255) for r in results] == [i * 20 for i in range(6)]
    assert 1 <= gated.max_active <= 2
    assert detector.counters.images == 6


def test_counters_count_images_tiles_and_errors(detector: Detector) -> None:
    detector.infer(np.zeros((64, 100), dtype=np.uint8))
    with pytest.raises(ValueError):
        detector.infer_bytes(b"garbage", "x.png")
    assert detector.counters.images == 1 and detector.counters.errors == 1
    assert detector.counters.tiles == len([0, 24, 32]) * len([0, 24, 48, 68])


def test_missing_provider_falls_back_to_cpu_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        chosen = choose_providers(["openvino", "cuda", "cpu"], ["CPUExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"]
    assert "OpenVINOExecutionProvider asked for but not installed" in caplog.text
    assert choose_providers(["cuda"], ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_threads_from_config_and_fixed_batch_graph(tmp_path: Path) -> None:
    write_model(tmp_path / "b1", identity_map_graph(1, (32, 32), batch=1), "b1")
    detector = Detector.load(tmp_path / "b1", InferenceConfig(intra_op_threads=1, tile_batch=8))
    assert detector.batch == 1, "a graph with a fixed batch of 1 is fed one tile per run"
    image = np.zeros((70, 70), dtype=np.uint8)
    image[60:65, 60:65] = 255
    assert [(r.x, r.y, r.width, r.height) for r in detector.infer(image).regions] == [(60, 60, 5, 5)]
    options = detector.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry(FORCE_SPINNING_STOP) == "1", "idle pool threads must not spin"


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        InferenceConfig(provider="cpu")  # type: ignore[call-arg]


def test_image_score_model_returns_score_without_map(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "s"
    write_model(folder, identity_map_graph(1, (32, 32)), "s", threshold=0.7)
    raw = json.loads((folder / "card.json").read_text())
    raw.update(task="image_score", pixel_threshold=None,
               outputs=[{"name": "score", "shape": "[N]", "meaning": "image score"}])
    (folder / "card.json").write_text(json.dumps(raw))
    detector = Detector.load(folder)
    image = np.full((50, 90), 100, dtype=np.uint8)
    image[45, 85] = 200
    result = detector.infer(image)
    assert result.anomaly_map is None and result.regions == []
    assert result.score == pytest.approx(200 / 255) and result.flagged


@pytest.mark.parametrize("shape", [(0, 10), (5,), (2, 2, 2, 2)])
def test_arrays_that_are_not_images_are_refused(detector: Detector, shape: tuple[int, ...]) -> None:
    from edge.inference.preprocess import ImageDecodeError

    with pytest.raises(ImageDecodeError, match="not an image"):
        detector.infer(np.zeros(shape, dtype=np.uint8))


class PairedSession:
    """Wraps a real session: the first two runs wait for each other, so both batches are written first."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(2, timeout=10)

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.barrier.wait()
        return self.inner.run(names, feeds)


def test_parallel_images_do_not_share_the_batch_buffer(detector: Detector) -> None:
    detector.session = PairedSession(detector.session)
    images = [np.full((32, 32), 40, dtype=np.uint8), np.full((32, 32), 200, dtype=np.uint8)]
    results: dict[int, float] = {}

    def work(i: int) -> None:
        results[i] = detector.infer(images[i]).score

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == {0: pytest.approx(40 / 255), 1: pytest.approx(200 / 255)}


def test_tile_batches_are_independent_copies(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (32, 32)), "m", overlap=0)
    detector = Detector.load(tmp_path / "m", InferenceConfig(tile_batch=1))
    image = np.zeros((32, 64), dtype=np.uint8)
    image[:, 32:] = 255
    first, second = detector.tile_batches(image)
    assert float(first.max()) == 0.0 and float(second.min()) == pytest.approx(1.0)
    detector.infer(np.full((32, 64), 7, dtype=np.uint8))
    assert float(first.max()) == 0.0, "a later image must not overwrite tensors already handed out"
