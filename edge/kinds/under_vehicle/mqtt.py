"""An under-vehicle camera on MQTT: one KUV1 pass message per vehicle, plus retained availability.

paho's network thread only hands a pass over to this camera's intake thread (a bounded queue of
two messages: when it is full paho waits, so the broker holds what follows rather than the edge).
The intake thread checks the message (`drivers.under_vehicle.decode_pass`), stores the image in
the media store under its SHA-256 (checked against the header again), and submits the pass
reading; the broker gets its PUBACK once that reading is stored. A bad message is refused,
counted, logged and acknowledged. Analysis of a stored pass runs after, in `analysis.Analyser`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from drivers.under_vehicle import AVAILABILITY_CHANNEL, PASS_CHANNEL, PassHeader, decode_pass
from edge.kinds.availability import take_availability
from edge.kinds.base import DeviceContext
from edge.kinds.under_vehicle.analysis import Analyser, Job
from edge.kinds.under_vehicle.readings import analysis_reading, pass_reading, unanalysed_passes
from edge.kinds.under_vehicle.reference import last_clean_pass
from edge.media import MediaError, MediaStore

log = logging.getLogger(__name__)
INTAKE_QUEUE = 2
_Message = tuple[bytes, Callable[[], None]]


class MqttUnderVehicle:
    """Subscribes to one camera's pass and availability topics on the site broker."""

    def __init__(self, ctx: DeviceContext) -> None:
        if ctx.media is None:
            raise ValueError(f"under-vehicle camera {ctx.config.id} needs a media store for its images")
        self.status = status = ctx.status
        self._id: str = ctx.config.id
        self._ingest = ctx.ingest
        self._mqtt = ctx.mqtt
        self._changed = ctx.changed
        self._media: MediaStore = ctx.media
        prefix = ctx.config.address or ctx.topic_prefix
        self.pass_topic = f"{prefix}/{PASS_CHANNEL}"
        self.availability_topic = f"{prefix}/{AVAILABILITY_CHANNEL}"
        self.analyser: Analyser | None = None
        if ctx.config.analyse:
            read = ctx.read_store
            resume = None if read is None else (
                lambda: unanalysed_passes(read, self._id, ctx.defaults.analysis_queue))
            reference = None
            if ctx.config.compare and read is not None:
                reference = lambda plate, image: last_clean_pass(read, self._id, plate, image,  # noqa: E731
                                                                 ctx.media.has if ctx.media else lambda sha: True)
            model: Any = ctx.config.model if ctx.config.model_check else None
            if model == "lane":
                if ctx.lane_model is None:
                    raise ValueError(f"under-vehicle camera {self._id}: model = \"lane\" needs it in [normal] devices")
                model = ctx.lane_model
            self.analyser = Analyser(self._id, model, ctx.media, status, ctx.defaults.analysis_queue,
                                     self._submit_analysis, resume, reference,
                                     model_only_without_reference=ctx.config.model_check_when == "no_reference",
                                     compare_full_from=ctx.config.compare_full_from)
        self._intake: queue.Queue[_Message | None] = queue.Queue(INTAKE_QUEUE)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        for name in ("messages", "bad_messages", "readings", "store_errors", "intake_waits"):
            status.counters[name] = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"uvss-intake-{self._id}", daemon=True)
        self._thread.start()
        if self.analyser is not None:
            self.analyser.start()
        self._mqtt.subscribe(self.pass_topic, qos=1)
        self._mqtt.subscribe(self.availability_topic, qos=1)

    def stop(self) -> None:
        """Stop intake (a message not yet stored stays unacknowledged: the broker redelivers it), then analysis."""
        self._stopping.set()
        try:
            self._intake.put(None, timeout=5)
        except queue.Full:  # the intake thread is stuck on a message; it sees _stopping after it
            log.warning("under-vehicle %s: intake still busy at stop; its messages stay unacknowledged", self._id)
        if self._thread is not None:
            self._thread.join(10)
        if self.analyser is not None:
            self.analyser.stop()

    def handles_topic(self, topic: str) -> bool:
        return topic in (self.pass_topic, self.availability_topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """On paho's network thread: availability at once; a pass handed to the intake thread."""
        if topic == self.availability_topic:
            take_availability(self.status, payload, ack, self._changed)
            return
        self.status.counters["messages"] += 1
        if self._intake.full():
            self.status.counters["intake_waits"] += 1
            log.info("under-vehicle %s: intake busy; the broker holds further passes until it is free", self._id)
        while not self._stopping.is_set():
            try:
                self._intake.put((payload, ack), timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        while (item := self._intake.get()) is not None:
            try:
                self._take(*item)
            except Exception:  # never lose the intake thread
                self.status.counters["store_errors"] += 1
                log.exception("under-vehicle %s: pass not taken in; left unacknowledged", self._id)

    def _take(self, payload: bytes, ack: Callable[[], None]) -> None:
        """Check, store the image, submit the reading; refuse, count, log and acknowledge anything bad."""
        try:
            passed = decode_pass(payload, self._id)
        except ValueError as exc:
            self.status.counters["bad_messages"] += 1
            log.warning("under-vehicle %s: pass refused: %s", self._id, exc)
            ack()
            return
        header = passed.header
        try:
            stored = self._media.put_bytes(passed.image_bytes, expected_sha256=header.sha256)
        except MediaError as exc:  # the bytes are not what the header says (checked twice): refused
            self.status.counters["bad_messages"] += 1
            log.warning("under-vehicle %s: pass %s refused: %s", self._id, header.pass_id, exc)
            ack()
            return
        except OSError as exc:  # disk trouble: not stored, so not acknowledged; the broker redelivers it
            self.status.counters["store_errors"] += 1
            log.error("under-vehicle %s: image of pass %s not stored: %s; left unacknowledged",
                      self._id, header.pass_id, exc)
            return
        del passed, payload
        log.info("under-vehicle %s: pass %s (%s) image %s stored (%d bytes%s)", self._id, header.pass_id,
                 header.plate, stored.sha256[:12], stored.size, "" if stored.new else ", had it")
        self.status.counters["readings"] += 1
        analyser = self.analyser
        analysis = "off" if analyser is None else "model not loaded" if analyser.unavailable else "pending"
        new = threading.Event()
        reading = pass_reading(self._id, header, analysis, on_new=new.set,
                               on_stored=lambda: self._stored(header, reading.state or {}, new.is_set(), ack))
        self._ingest.submit(reading)

    def _stored(self, header: PassHeader, state: dict[str, Any], new: bool, ack: Callable[[], None]) -> None:
        """On the event loop, once the pass reading is stored: PUBACK, then queue it for the model (new ones only)."""
        ack()
        if new and self.analyser is not None and state.get("analysis") == "pending":
            self.analyser.offer(Job(header, state))

    def _submit_analysis(self, state: dict[str, Any], payload: dict[str, Any]) -> None:
        self._ingest.submit(analysis_reading(self._id, state, payload))
