"""The checks run on stored pass images: one worker thread, one image at a time, a bounded queue.

Two checks, each optional: the model (loaded through the inference registry once, when the
adapter starts; a model that cannot be loaded is logged and the camera's passes are stored
unanalysed), and the comparison with the same plate's last clean pass (`reference.py`,
`edge/inference/compare.py`). With model = "lane" the model is the lane's current one
(`edge.normal.live_model.LiveModel` on its `LaneModelPointer`), looked up again before each
pass, so an adopted or rolled-back version is what the next pass gets. With
`model_only_without_reference` the comparison alone judges a plate that has a clean pass on
file which the pass registers onto over at least `compare_full_from` of its rows, the model the others (a
pass that does not register onto its plate's clean pass is another vehicle as far as the comparison can
tell, and one registered over less left rows nobody compared: the model judges both). Each job
is a stored pass: its image is read back from the media store (hash checked), decoded and
checked against its header, checked, and the result submitted through ingest as an
`analysis` reading. Nothing here runs on the event loop or holds back a
pass's acknowledgement.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.under_vehicle import PassHeader, UnderVehiclePass
from edge.device_status import DeviceStatus
from edge.media import MediaError, MediaStore
from edge.normal.live_model import LiveModel, ModelSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One stored pass waiting for the model."""

    header: PassHeader
    state: dict[str, Any]


class Analyser:
    """Loads the model, then scores queued passes one at a time and hands each result to `submit`."""

    def __init__(self, device_id: str, model: str | ModelSource | None, media: MediaStore, status: DeviceStatus,
                 maxsize: int, submit: Callable[[dict[str, Any], dict[str, Any]], None],
                 resume: Callable[[], list[tuple[PassHeader, dict[str, Any]]]] | None = None,
                 reference: Callable[[str | None, str], str | None] | None = None,
                 model_only_without_reference: bool = False, compare_full_from: float = 0.9) -> None:
        self._id = device_id
        self._model_only_without_reference = model_only_without_reference
        self._full_from = compare_full_from
        self._live: LiveModel | None = (None if model is None or isinstance(model, str)
                                        else LiveModel(model, f"under-vehicle {device_id}"))
        self._reference = reference  # (plate, this image's hash) -> the plate's last clean pass image, if any
        self._resume = resume  # the passes a previous run stored but did not analyse
        self._model = model
        self._media = media
        self._status = status
        self._submit = submit
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._detector: Any = None
        self.unavailable = ""  # why the model cannot be used ("" while loading or loaded)
        for name in ("analysed", "analysis_errors", "analysis_dropped", "model_unavailable", "compared",
                     "compare_unregistered", "compare_partial", "reference_errors"):
            status.counters[name] = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"uvss-analysis-{self._id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the image being scored; passes still queued are left unanalysed (logged)."""
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        if left:
            log.warning("under-vehicle %s: %d stored passes left unanalysed at shutdown", self._id, left)
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def offer(self, job: Job) -> None:
        """Queue a stored pass (any thread, never blocks); a full queue is counted and logged."""
        if self.unavailable:
            return
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._status.counters["analysis_dropped"] += 1
            log.warning("under-vehicle %s: analysis queue full (%d); pass %s (%s) stored but not analysed",
                        self._id, self._queue.maxsize, job.header.pass_id, job.header.plate)

    def _run(self) -> None:
        if not self._load():
            return
        if self._resume is not None:
            try:
                left = self._resume()
            except Exception:  # the store unreadable: new passes are still analysed
                log.exception("under-vehicle %s: cannot find the passes left unanalysed before the restart", self._id)
                left = []
            if left:
                log.info("under-vehicle %s: %d stored passes not analysed before the restart queued again", self._id,
                         len(left))
            for header, state in left:
                self.offer(Job(header, state))
        while (job := self._queue.get()) is not None:
            self._refresh()
            payload = self._analyse(job)
            try:
                self._submit(job.state, payload)
            except RuntimeError as exc:  # the event loop is gone: shutting down
                log.warning("under-vehicle %s: analysis of pass %s not recorded: %s", self._id, job.header.pass_id, exc)

    def _load(self) -> bool:
        if self._model is None:
            return True  # the comparison alone
        from edge.inference.config import InferenceConfig
        from edge.inference.core import Detector

        try:
            if self._live is not None:
                self._detector = self._live.current()
                log.info("under-vehicle %s: model %s", self._id, self._live.token)
            else:
                self._detector = Detector.load(self._model, InferenceConfig())
        except Exception as exc:  # ModelError, onnxruntime errors, an unreadable file: carry on without it
            self.unavailable = f"model {self._model!r} not loaded: {exc}"
            log.error("under-vehicle %s: %s; passes are stored but NOT analysed", self._id, self.unavailable)
            self._status.counters["model_unavailable"] = 1
            self._status.last_error = self.unavailable  # until the camera's availability next says otherwise
            return False
        return True

    def _refresh(self) -> None:
        """A lane model: the version current now (a new one that fails to load keeps the old)."""
        if self._live is not None:
            self._detector = self._live.current()

    def _analyse(self, job: Job) -> dict[str, Any]:
        """The analysis payload for one pass: each check's result, or the error that stopped it."""
        card = self._detector.card if self._detector is not None else None
        payload: dict[str, Any] = {"model": card.name if card else None, "version": card.version if card else None,
                                   "image_sha256": job.header.sha256, "pass_id": job.header.pass_id,
                                   "score": 0.0, "flagged": False, "regions": []}
        start = time.perf_counter()
        try:
            with self._media.open(job.header.sha256, verify=True) as handle:
                data = handle.read()
            image = UnderVehiclePass(self._id, job.header, data).image()
            del data
            decoded = time.perf_counter()
            payload["decode_ms"] = round((decoded - start) * 1000.0, 1)
            reference_sha = None
            if self._reference is not None:
                reference_sha = self._reference(job.header.plate, job.header.sha256)
            comparison = self._compare(job, image, reference_sha) if self._reference is not None else None
            if comparison is not None:
                payload["comparison"] = comparison
            judged = comparison is not None and comparison.get("registered", False) and comparison.get("full", False)
            if self._detector is not None and judged and self._model_only_without_reference:
                payload.update(model=None, version=None, model_skipped=f"{card.name if card else ''} not run: the "
                               "plate has a clean pass on file, the comparison judges")
            elif self._detector is not None:  # no reference, or one the pass does not register onto: the model judges
                payload.update(self._model_result(image))
        except Exception as exc:  # one bad image must not stop the camera's analysis
            self._status.counters["analysis_errors"] += 1
            log.warning("under-vehicle %s: pass %s not analysed: %s", self._id, job.header.pass_id, exc)
            return {**payload, "error": f"{type(exc).__name__}: {exc}"}
        self._status.counters["analysed"] += 1
        return payload

    def _model_result(self, image: Any) -> dict[str, Any]:
        result = self._detector.infer(image)
        return {
            "score": round(float(result.score), 6), "flagged": bool(result.flagged), "threshold": result.threshold,
            "regions": [{"box": r.to_dict()["box"], "score": round(r.score, 6), "area": r.area} for r in result.regions],
            "regions_dropped": result.regions_dropped, "ms": round(result.ms, 1), "tiles": result.tiles,
        }

    def _compare(self, job: Job, image: Any, reference_sha: str | None) -> dict[str, Any]:
        """The pass against the plate's last clean pass; `reference_sha256` None when there is none."""
        from edge.inference.compare import compare

        if reference_sha is None:
            return {"reference_sha256": None}
        try:
            with self._media.open(reference_sha, verify=True) as handle:
                reference = _grey(handle.read())
        except (MediaError, OSError, ValueError) as exc:  # the model (if any) judges; never the pass's whole analysis
            self._status.counters["reference_errors"] += 1
            log.warning("under-vehicle %s: plate %s's last clean pass %s cannot be read: %s", self._id,
                        job.header.plate, reference_sha, exc)
            return {"reference_sha256": None, "reference_error": f"{type(exc).__name__}: {exc}"}
        result = compare(reference, _grey_array(image))
        self._status.counters["compared"] += 1
        registered = result.registered
        if not registered:
            self._status.counters["compare_unregistered"] += 1
            log.warning("under-vehicle %s: pass %s does not register onto plate %s's last clean pass: not compared",
                        self._id, job.header.pass_id, job.header.plate)
        full = registered and result.matched_fraction >= self._full_from
        if registered and not full:
            self._status.counters["compare_partial"] += 1
            log.info("under-vehicle %s: pass %s compared with plate %s's last clean pass over %.0f %% of its rows only",
                     self._id, job.header.pass_id, job.header.plate, 100.0 * result.matched_fraction)
        return {
            "reference_sha256": reference_sha, "registered": registered, "full": full,
            "score": round(float(result.score), 6), "flagged": bool(result.flagged),
            "regions": [{"box": r.to_dict()["box"], "score": round(r.score, 6), "area": r.area} for r in result.regions],
            "matched_fraction": round(float(result.matched_fraction), 4), "ms": round(result.ms, 1),
        }


def _grey(data: bytes) -> Any:
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("the reference pass image cannot be decoded")
    return image


def _grey_array(image: Any) -> Any:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
