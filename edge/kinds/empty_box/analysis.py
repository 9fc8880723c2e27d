"""The interior model on stored images of the empty-box detector: one worker thread, a bounded
queue, after the image's acknowledgement (never before, never on the event loop).

Each job is a stored interior image: read back from the media store (hash checked), decoded as
it is (8-bit colour photo or 16-bit transmission image), scored by the model configured for its
kind, and the result submitted through ingest as an `analysis` reading whose regions the officer
sees on the image and the passage keeps as evidence. A kind configured "lane" runs the device's
lane model (`edge.normal.live_model.LiveModel`: its current version, else the baseline), looked
up before each image; while the lane has neither, the image is recorded as not checked by a model
and the detector's verdict alone decides.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.device_status import DeviceStatus
from edge.ingest import Reading
from edge.kinds.empty_box.pairing import analysis_deriver
from edge.media import MediaStore
from edge.normal.live_model import LiveModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InteriorJob:
    """One stored interior image waiting for its model."""

    sequence: int
    container: str | None
    image_sha256: str
    image_kind: str
    model: str


class InteriorAnalyser:
    """Scores queued interior images one at a time and submits each result; see the module docstring."""

    def __init__(self, device_id: str, media: MediaStore, status: DeviceStatus, submit: Callable[[Reading], None],
                 maxsize: int = 4, lane_model: LiveModel | None = None) -> None:
        self._id = device_id
        self._media = media
        self._status = status
        self._submit = submit
        self._queue: queue.Queue[InteriorJob | None] = queue.Queue(maxsize)
        self._detectors: dict[str, Any] = {}
        self._lane = lane_model
        self._thread: threading.Thread | None = None
        for name in ("interiors_analysed", "interior_errors", "interiors_dropped"):
            status.counters[name] = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"ebox-analysis-{self._id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def offer(self, job: InteriorJob) -> None:
        """Queue a stored image (any thread, never blocks); a full queue is counted and logged."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._status.counters["interiors_dropped"] += 1
            log.warning("empty box %s: analysis queue full; image of scan %s stored but not analysed", self._id,
                        job.sequence)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            analysis = self._analyse(job)
            state: dict[str, Any] = {}
            key = hashlib.sha256(f"interior\0{job.image_sha256}\0{analysis.get('model')}\0"
                                 f"{analysis.get('version')}".encode()).hexdigest()
            try:
                self._submit(Reading(self._id, "analysis", key, analysis, state=state, kind="empty_box",
                                     derive=analysis_deriver(job.sequence, job.image_sha256, analysis, state),
                                     from_device=False))  # the edge's own finding, not the detector
            except RuntimeError as exc:  # the event loop is gone: shutting down
                log.warning("empty box %s: analysis of scan %s not recorded: %s", self._id, job.sequence, exc)

    def _detector(self, model: str) -> Any:
        if model == "lane" and self._lane is not None:
            return self._lane.current()
        if model not in self._detectors:
            from edge.inference.config import InferenceConfig
            from edge.inference.core import Detector

            self._detectors[model] = Detector.load(model, InferenceConfig())
        return self._detectors[model]

    def _analyse(self, job: InteriorJob) -> dict[str, Any]:
        import cv2
        import numpy as np

        payload: dict[str, Any] = {"sequence": job.sequence, "container": job.container,
                                   "image_sha256": job.image_sha256, "image_kind": job.image_kind, "model": job.model}
        try:
            detector = self._detector(job.model)
            if detector is None:
                return {**payload, "model": None, "model_skipped": "the lane has no model yet (no refit adopted, no "
                        "[normal] baseline): the detector's verdict alone"}
            card = detector.card
            payload.update(model=card.name, version=card.version)
            with self._media.open(job.image_sha256, verify=True) as handle:
                data = handle.read()
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ValueError("the interior image cannot be decoded")
            result = detector.infer(image)
        except Exception as exc:  # a model that cannot load, a bad image: recorded, the lane goes on
            self._status.counters["interior_errors"] += 1
            log.warning("empty box %s: image of scan %s not analysed: %s", self._id, job.sequence, exc)
            return {**payload, "error": f"{type(exc).__name__}: {exc}"}
        self._status.counters["interiors_analysed"] += 1
        return {**payload, "score": round(float(result.score), 6), "flagged": bool(result.flagged),
                "threshold": result.threshold, "ms": round(result.ms, 1),
                "regions": [{"box": r.to_dict()["box"], "score": round(r.score, 6), "area": r.area}
                            for r in result.regions]}
