"""A device's lane model as its adapter runs it: the pointer (`LaneModelPointer`) resolved before
each image, and the new version loaded only when it changed, so an adopted refit (or a rollback)
takes effect on the next image without a restart. A version that fails to load is logged and the
one loaded before stays in use: a broken folder never stops the lane's checks."""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class ModelSource(Protocol):
    """Where a model that may change comes from: (model to load or None, a token that changes with it)."""

    def resolve(self) -> tuple[str | None, str]: ...


class LiveModel:
    """See the module docstring. `current()` is called on the adapter's worker thread."""

    def __init__(self, source: ModelSource, label: str, threads: int | None = None) -> None:
        self._source = source
        self._label = label
        self._threads = threads
        self._detector: Any = None
        self._token: str | None = None

    @property
    def token(self) -> str | None:
        """What is loaded: "lane:v3", "baseline:<name>", "none"; None before the first image."""
        return self._token

    def current(self) -> Any:
        """The detector to run now (None: the lane has no model yet); raises only when nothing was ever
        loaded and the first load fails."""
        model, token = self._source.resolve()
        if token == self._token:
            return self._detector
        from edge.inference.config import InferenceConfig
        from edge.inference.core import Detector

        try:
            config = InferenceConfig() if self._threads is None else InferenceConfig(intra_op_threads=self._threads)
            detector = Detector.load(model, config) if model is not None else None
        except Exception as exc:  # a broken new version: the one loaded before stays in use
            if self._token is None:
                raise
            log.error("%s: model %s (%s) not loaded, keeping %s: %s", self._label, model, token, self._token, exc)
            return self._detector
        log.info("%s: model now %s (was %s)", self._label, token, self._token or "nothing")
        self._detector, self._token = detector, token
        return detector
