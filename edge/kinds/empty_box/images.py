"""The detector's MQTT image channel: one payload per scan on <prefix>/image, availability on
<prefix>/availability.

Each image is checked (`decode_image_message`: size, header, SHA-256, file magic, decode) and its
bytes go to the media store by SHA-256 (the header's hash checked again there); the reading holds
only the metadata and the hash. Anything bad is refused, counted, logged and acknowledged to the
broker (it would be refused again); a good image is acknowledged once stored. Runs on paho's
network thread: an image of a few MB is decoded in milliseconds, the 64 MiB ceiling in well under
the keepalive.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from drivers.empty_box import IMAGE_CHANNEL, decode_image_message
from edge.ingest import Reading
from edge.kinds.availability import read_availability
from edge.kinds.base import DeviceContext
from edge.kinds.empty_box.analysis import InteriorAnalyser, InteriorJob
from edge.kinds.empty_box.pairing import image_deriver
from edge.media import MediaError, MediaStore

log = logging.getLogger(__name__)


class ImageChannel:
    """Subscribes to one detector's image and availability topics; see the module docstring."""

    def __init__(self, ctx: DeviceContext, liveness: Any, on_image: Callable[[int, float], None],
                 analyser: InteriorAnalyser | None = None) -> None:
        if ctx.media is None:
            raise ValueError(f"empty box {ctx.config.id}: the image channel needs the edge's media store")
        self._media: MediaStore = ctx.media
        self._id = ctx.config.id
        self._ingest = ctx.ingest
        self._mqtt = ctx.mqtt
        self._status = ctx.status
        self._liveness = liveness
        self._on_image = on_image
        self._analyser = analyser
        self._models = ctx.config.models
        self._timeout_s: float = ctx.defaults.pair_timeout_s
        prefix = ctx.config.images.topic_prefix or ctx.topic_prefix
        self.image_topic = f"{prefix}/{IMAGE_CHANNEL}"
        self.availability_topic = f"{prefix}/availability"
        for name in ("images", "bad_images", "images_stored", "store_errors"):
            ctx.status.counters[name] = 0

    def start(self) -> None:
        self._mqtt.subscribe(self.image_topic, qos=1)
        self._mqtt.subscribe(self.availability_topic, qos=1)

    def handles_topic(self, topic: str) -> bool:
        return topic in (self.image_topic, self.availability_topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        if topic == self.availability_topic:
            ack()
            availability = read_availability(payload)
            self._liveness.images(availability.online, availability.said)
            return
        counters = self._status.counters
        counters["images"] += 1
        try:
            image = decode_image_message(payload, self._id)
            stored = self._media.put_bytes(image.data, image.meta.sha256)
        except (ValueError, MediaError) as exc:  # MediaError is a ValueError; named for the reader
            counters["bad_images"] += 1
            log.warning("empty box %s: image refused: %s", self._id, exc)
            ack()
            return
        except OSError as exc:  # disk trouble: not stored, so not acknowledged; the broker redelivers it
            counters["store_errors"] += 1
            log.error("empty box %s: image not stored: %s; left unacknowledged", self._id, exc)
            return
        meta = image.meta
        counters["images_stored"] += 1
        received = time.time()
        self._on_image(meta.sequence, received)
        shown: dict[str, object] = {}  # filled by the deriver: the stored state plus this image
        self._ingest.submit(Reading(
            self._id, "image", hashlib.sha256(payload).hexdigest(),
            {**meta.model_dump(mode="json"), "stored_new": stored.new},
            device_time=meta.time.isoformat(), kind="empty_box", received_at=received, state=shown,
            derive=image_deriver(meta.sequence, meta.container, meta.sha256, self._timeout_s, shown),
            on_stored=lambda: self._stored(ack, meta.sequence, meta.container, meta.sha256, meta.kind),
        ))

    def _stored(self, ack: Callable[[], None], sequence: int, container: str | None, sha256: str, kind: str) -> None:
        """The image is stored: acknowledged to the broker, then (if a model looks at this kind) analysed."""
        ack()
        model = self._models.for_kind(kind)
        if self._analyser is not None and model:
            self._analyser.offer(InteriorJob(sequence, container, sha256, kind, model))
