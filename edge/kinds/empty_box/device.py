"""One detector, two channels: the Modbus poller and the MQTT image channel, behind one
`LaneDevice`; what they say about liveness folded into one `DeviceStatus`; and the pairing clock
that submits a timeout reading when a scan or an image waited `pair_timeout_s` for its other half.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.empty_box.analysis import InteriorAnalyser
from edge.kinds.empty_box.images import ImageChannel
from edge.kinds.empty_box.modbus import ModbusChannel
from edge.kinds.empty_box.pairing import timeout_deriver
from edge.normal.live_model import LiveModel

log = logging.getLogger(__name__)
MAX_WAITING = 256   # sequences the clock follows at once; beyond, the oldest are left to the store's sweep


class Liveness:
    """Connected = the Modbus link is up and the heartbeat moves; the reason otherwise. The image
    channel's availability is logged and counted (`images_online`), it does not make the device offline."""

    def __init__(self, ctx: DeviceContext) -> None:
        self._status = ctx.status
        self._changed = ctx.changed
        self._id = ctx.config.id
        self._lock = threading.Lock()
        self._link: tuple[bool, str] = (False, "not polled yet")
        self._beat: tuple[bool, str] = (True, "")
        ctx.status.counters["images_online"] = 0

    def link(self, up: bool, reason: str) -> None:
        with self._lock:
            self._link = (up, reason)
            self._update()

    def heartbeat(self, alive: bool, reason: str) -> None:
        with self._lock:
            if self._beat[0] == alive:
                return
            self._beat = (alive, reason)
            if alive:
                log.info("empty box %s: heartbeat moves again", self._id)
            else:
                log.warning("empty box %s: %s", self._id, reason)
            self._update()

    def images(self, online: bool, said: str) -> None:
        self._status.counters["images_online"] = int(online)
        log.info("empty box %s image channel: %s", self._id, said)

    def _update(self) -> None:
        connected = self._link[0] and self._beat[0]
        reason = "" if connected else (self._link[1] if not self._link[0] else self._beat[1])
        if (connected, reason) != (self._status.connected, self._status.last_error):
            self._status.connected, self._status.last_error = connected, reason
            self._changed(self._id)


class PairingClock:
    """Remembers when each half was submitted; once one waited `timeout_s` alone, submits a timeout reading."""

    def __init__(self, ctx: DeviceContext) -> None:
        self._id = ctx.config.id
        self._ingest = ctx.ingest
        self._timeout_s: float = ctx.defaults.pair_timeout_s
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[str, float]] = {}   # sequence -> (the half that came, when)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def arrived(self, half: str) -> Callable[[int, float], None]:
        def note(sequence: int, at: float) -> None:
            with self._lock:
                came = self._waiting.get(sequence)
                if came is not None and came[0] != half:
                    del self._waiting[sequence]
                    return
                self._waiting[sequence] = (half, at)
                while len(self._waiting) > MAX_WAITING:
                    del self._waiting[next(iter(self._waiting))]
        return note

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"ebox-pairing:{self._id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self._timeout_s / 4)):
            now = time.time()
            with self._lock:
                due = [(seq, half, at) for seq, (half, at) in self._waiting.items() if now - at > self._timeout_s]
                for seq, _, _ in due:
                    del self._waiting[seq]
            for sequence, half, at in due:
                log.info("empty box %s: %s of scan %d waited %.0f s alone", self._id, half, sequence, now - at)
                key = hashlib.sha256(f"{self._id}:pair-timeout:{sequence}:{half}:{at!r}".encode()).hexdigest()
                self._ingest.submit(Reading(self._id, "pair_timeout", key, {"sequence": sequence, "waiting": half},
                                            derive=timeout_deriver(self._timeout_s), kind="empty_box",
                                            from_device=False))  # a timer's, not the detector speaking


class EmptyBoxDevice:
    """The `LaneDevice` of one detector."""

    def __init__(self, ctx: DeviceContext) -> None:
        self.status = ctx.status
        self.liveness = Liveness(ctx)
        self.clock = PairingClock(ctx)
        self.modbus = ModbusChannel(ctx, self.liveness, self.clock.arrived("scan"))
        models = ctx.config.models
        lane_model = None
        if ctx.config.uses_lane_model():
            if ctx.lane_model is None:
                raise ValueError(f"empty box {ctx.config.id}: a \"lane\" model needs it in [normal] devices")
            lane_model = LiveModel(ctx.lane_model, f"empty box {ctx.config.id}")
        self.analyser = (InteriorAnalyser(ctx.config.id, ctx.media, ctx.status, ctx.ingest.submit, lane_model=lane_model)
                         if ctx.media is not None and (models.camera or models.transmission) else None)
        self.images = ImageChannel(ctx, self.liveness, self.clock.arrived("image"), self.analyser)

    def start(self) -> None:
        self.clock.start()
        if self.analyser is not None:
            self.analyser.start()
        self.images.start()
        self.modbus.start()

    def stop(self) -> None:
        self.modbus.stop()
        self.clock.stop()
        if self.analyser is not None:
            self.analyser.stop()

    def handles_topic(self, topic: str) -> bool:
        return self.images.handles_topic(topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        self.images.on_mqtt_message(topic, payload, ack)
