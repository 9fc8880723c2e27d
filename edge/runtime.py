"""The edge node's asyncio runtime: devices, ingest, store, MQTT to the site broker, the hub's uplink, web.

One process per lane. Devices are built by their kind's package (`edge.kinds`); drivers run in
their own threads and hand readings to `Ingest`; the event loop owns ordering, events and the
lane page. Events go out on `kouan/<lane>/events/<kind>` (QoS 1; buffered by the MQTT transport
while the broker is away), and the edge's own availability is a retained topic with a Last
Will. The runtime names no device kind.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from drivers.mqtt_transport import MqttTransport
from edge.config import EdgeConfig
from edge.device_status import DeviceStatus
from edge.ingest import Ingest
from edge.kinds import KINDS
from edge.kinds.base import DeviceContext, LaneDevice
from edge.live import LiveBus
from edge.media import MediaStore
from edge.metrics import registry_for
from edge.normal.lane import LaneNormal
from edge.passages.book import LaneDeviceRole
from edge.passages.service import PassageService
from edge.store import AsyncStore, EventRow, Store
from edge.store_schema import store_migrations
from edge.uplink.link import Uplink

log = logging.getLogger(__name__)
WATCHDOG_PERIOD_S = 1.0


class EdgeRuntime:
    """Runs one lane; implements the lane terminal's `LaneView`."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.lane_id = config.lane.id
        self.lane_name = config.lane.name or config.lane.id
        self.web = config.web  # LaneView: session lifetimes and the metrics token for the terminal's logins
        self.bus = LiveBus()
        self.store: AsyncStore | None = None
        self.mqtt: MqttTransport | None = None
        self.media: MediaStore | None = None
        self.ingest: Ingest | None = None
        self.passages: PassageService | None = None
        self.uplink: Uplink | None = None  # the hub's outbox, uploads and verdicts, when [uplink] is configured
        self.normal: LaneNormal | None = None  # clean passes kept and the lane's models refitted, when [normal] is
        self.devices: dict[str, LaneDevice] = {}
        self.status: dict[str, DeviceStatus] = {}
        self.web_url: str | None = None
        self.registry = registry_for(self)
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._stopped = asyncio.Event()

    # ---------------------------------------------------------------- topics

    def event_topic(self, kind: str) -> str:
        """Where the events of one kind go out: kouan/<lane>/events/<kind's level>."""
        return f"kouan/{self.lane_id}/events/{KINDS[kind].events_level}"

    @property
    def availability_topic(self) -> str:
        return f"kouan/{self.lane_id}/edge/availability"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the store, connect MQTT, start devices, the ingest consumer, the watchdog and the web."""
        loop = asyncio.get_running_loop()
        self.store = AsyncStore(self.config.store.path, store_migrations())
        saved = await self.store.call(Store.last_states)
        self.mqtt = MqttTransport(
            self.config.mqtt.url, client_id=self.config.mqtt_client_id,
            availability_topic=self.availability_topic, on_message=self._on_mqtt_message,
            on_state=self._on_mqtt_state, manual_ack=True,
        )
        self.media = MediaStore(self.config.store.media_dir)
        self.private_media = MediaStore(self.config.store.private_media_dir)  # never given to the web layer
        for media in (self.media, self.private_media):
            media.remove_leftovers()  # partial copies a killed edge left behind
        if self.config.normal is not None:
            self.normal = LaneNormal(self.config, self.media)
        watchers = [self.normal.retention] if self.normal is not None else []
        if self.config.uplink is not None:
            self.uplink = Uplink(self.config.uplink, self.lane_id, self.store, self.media, self.config.passages.holds,
                                 changed=self._verdict_changed, watchers=watchers)
        self.passages = PassageService(self.config.passages, self.lane_id, self.store, self.bus, self._publish_passage, {
            device.id: LaneDeviceRole(device.name or device.id, functools.partial(KINDS[device.kind].observe, device),
                                      KINDS[device.kind].check)
            for device in self.config.devices}, outbox=self.uplink.enqueue if self.uplink is not None else None,
            watchers=watchers)
        self.passages.bind_loop(loop)
        self.ingest = Ingest(loop, self.store, self.bus, publish_event=self._publish_event, on_device_seen=self._seen,
                             follow=self.passages.follow, on_followed=self.passages.changed)
        for device_config in self.config.devices:
            kind = KINDS[device_config.kind]
            defaults = self.config.kind_defaults(kind.name)
            transport, address = kind.channels(device_config, f"kouan/{self.lane_id}/{device_config.id}")
            status = DeviceStatus(
                device_config.id, kind.name, transport, address, device_config.name, defaults.offline_after_s,
                state=saved.get(device_config.id, {}), summarise=kind.summary,
            )
            self.status[device_config.id] = status
            await self.store.call(Store.upsert_device, device_config.id, kind.name, transport, address, device_config.name)
            self.devices[device_config.id] = kind.build(DeviceContext(
                device_config, defaults, self.lane_id, status, self.ingest, self.mqtt, self._changed_threadsafe(loop),
                self.media, self.store.read_blocking,
                self.normal.pointer(device_config.id) if self.normal is not None else None,
                private_media=self.private_media,
            ))
        self._tasks.append(asyncio.create_task(self.ingest.run(), name="ingest"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        self._tasks.append(asyncio.create_task(self.passages.run(), name="passages"))
        if self.uplink is not None:
            self._tasks.extend(self.uplink.start())
        if self.normal is not None:
            self._tasks.extend(self.normal.start(self.store, self._lane_model_changed))
        for device in self.devices.values():
            device.start()  # MQTT devices register their subscriptions before the connect
        self.mqtt.subscribe(self.passages.declarations_topic, qos=1)
        self.mqtt.start()
        if self.config.passages.declarations_file is not None:
            await self.passages.load_file(self.config.passages.declarations_file)
        await self._start_web()
        log.info("lane %s running: %s devices, lane terminal at %s", self.lane_id, len(self.devices), self.web_url)

    async def _start_web(self) -> None:
        import uvicorn

        from edge.web.app import create_app

        app = create_app(self)
        config = uvicorn.Config(
            app, host=self.config.web.host, port=self.config.web.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # the command owns signals
        self._tasks.append(asyncio.create_task(self._server.serve(), name="web"))
        while not self._server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()  # re-raises why the server could not start
                raise RuntimeError("lane terminal did not start")
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.web_url = f"http://{self.config.web.host}:{port}/"

    async def run_forever(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        self._stopped.set()

    async def stop(self) -> None:
        """Stop devices first (no new readings), drain ingest, then the rest."""
        for device in self.devices.values():
            await asyncio.to_thread(device.stop)
        if self.ingest is not None:
            try:
                await asyncio.wait_for(self.ingest.drain(), 5)
            except TimeoutError:
                log.warning("ingest not drained at shutdown: %s readings left", self.ingest.depth)
        if self.passages is not None:
            await self.passages.stop()
        self.bus.close()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() != "web":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.uplink is not None:
            await self.uplink.stop()
        if self.mqtt is not None:
            await asyncio.to_thread(self.mqtt.stop)
        if self.store is not None:
            self.store.close()
        self._stopped.set()

    # ---------------------------------------------------------------- callbacks

    def _changed_threadsafe(self, loop: asyncio.AbstractEventLoop) -> Any:
        def changed(device_id: str) -> None:
            loop.call_soon_threadsafe(self._device_changed, device_id)

        return changed

    def _device_changed(self, device_id: str) -> None:
        status = self.status[device_id]
        if self.store is not None:
            asyncio.ensure_future(self.store.call(Store.set_connection, device_id, status.connected, status.last_error))
        self.bus.publish("device", status.as_dict())

    def _seen(self, device_id: str, at: float | None, state: dict[str, Any] | None) -> None:
        """A reading was stored: the device spoke at `at` (None: the edge's own reading of it), and
        `state` is its state now (None: unchanged)."""
        status = self.status.get(device_id)
        if status is None:
            return
        was_online = status.online()
        if at is not None:
            status.last_seen = at
            if status.transport == "mqtt" and not status.connected:
                status.connected = True  # a device that publishes is reachable even without availability
        if state is not None:
            status.state = state
        self.bus.publish("device", status.as_dict())
        if not was_online:
            log.info("device %s online", device_id)

    def _on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        if self.passages is not None and topic == self.passages.declarations_topic:
            self.passages.on_mqtt_declaration(payload, ack)
            return
        for device in self.devices.values():
            if device.handles_topic(topic):
                device.on_mqtt_message(topic, payload, ack)
                return
        log.warning("MQTT message on %s matches no device; acknowledged and ignored", topic)
        ack()

    def _on_mqtt_state(self, connected: bool, reason: str) -> None:
        log.info("site broker %s: %s", "connected" if connected else "disconnected", reason)

    def _verdict_changed(self, ids: list[int]) -> None:
        if self.passages is not None:
            self.passages.changed(ids)

    def _publish_passage(self, topic: str, payload: bytes) -> None:
        if self.mqtt is not None:
            self.mqtt.publish(topic, payload, qos=1)

    def _publish_event(self, event: EventRow) -> None:
        if self.mqtt is not None:
            payload = dict(event.as_dict(), lane=self.lane_id)
            self.mqtt.publish(self.event_topic(event.kind), json.dumps(payload).encode(), qos=1)

    async def _watchdog(self) -> None:
        """Notice devices going silent (online -> offline) and tell the page."""
        shown: dict[str, bool] = {}
        while True:
            now = time.time()
            for device_id, status in self.status.items():
                online = status.online(now)
                if shown.get(device_id) != online:
                    shown[device_id] = online
                    self.bus.publish("device", status.as_dict(now))
                    if not online and status.last_seen is not None:
                        log.warning("device %s offline (last seen %.1f s ago)", device_id, now - status.last_seen)
            await asyncio.sleep(WATCHDOG_PERIOD_S)

    # ---------------------------------------------------------------- LaneView

    async def device_list(self) -> list[dict[str, Any]]:
        return [await self.device_row(device_id) for device_id in self.status]

    async def device_row(self, device_id: str) -> dict[str, Any]:
        """A device's row for the terminal; one that learns its normal adds what it runs and its newest refit."""
        row = self.status[device_id].as_dict(time.time())
        if self.normal is not None and self.store is not None:
            state = await asyncio.to_thread(self.normal.state, device_id)
            if state is not None:
                state["kept"], state["finds"] = await self.store.call(LaneNormal.kept, device_id)
                row["lane_model"] = state
        return row

    async def rollback_lane_model(self, device_id: str, by: str, reason: str, expect: str) -> dict[str, Any]:
        """A supervisor's rollback from the terminal of the version `expect` they saw: the device's
        lane model goes back to the one before (its live model follows the pointer at the next
        image; open terminals get the row from `LaneNormal`'s watcher). KeyError for a device that
        does not learn its normal; LaneModelError: nothing to roll back to, `expect` is no longer
        current, or a refit holds the device's folder."""
        if self.normal is None or self.normal.pointer(device_id) is None:
            raise KeyError(device_id)
        was, now = await asyncio.to_thread(self.normal.rollback, device_id, by, reason, expect)
        log.warning("lane model of %s rolled back from %s to %s by %s: %s", device_id, was, now, by, reason)
        return {"device": device_id, "from": was, "current": now}

    async def _lane_model_changed(self, device_id: str) -> None:
        """A device's models folder changed (refit, proposal, rollback): the terminal's device
        strip shows it without a reload."""
        self.bus.publish("device", await self.device_row(device_id))

    async def events(self, limit: int) -> list[dict[str, Any]]:
        assert self.store is not None
        rows = await self.store.call(Store.recent_events, limit)
        return [row.as_dict() for row in rows]
