"""The edge node's asyncio runtime: devices, ingest, store, MQTT uplink to the site broker, web.

One process per lane. Drivers run in their own threads and hand readings to `Ingest`; the
event loop owns ordering, lock events and the lane page. Lock events go out on
`kouan/<lane>/events/lock` (QoS 1; buffered by the MQTT transport while the broker is away),
and the edge's own availability is a retained topic with a Last Will.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from drivers.mqtt_transport import MqttTransport
from edge.config import EdgeConfig
from edge.device_kinds import KINDS, DeviceKind
from edge.device_status import DeviceStatus
from edge.devices import LaneDevice, build_device
from edge.ingest import Ingest
from edge.live import LiveBus
from edge.store import AsyncStore, Store

log = logging.getLogger(__name__)
WATCHDOG_PERIOD_S = 1.0


class EdgeRuntime:
    """Runs one lane; implements the lane terminal's `LaneView`."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.lane_id = config.lane.id
        self.lane_name = config.lane.name or config.lane.id
        self.bus = LiveBus()
        self.store: AsyncStore | None = None
        self.mqtt: MqttTransport | None = None
        self.ingest: Ingest | None = None
        self.devices: dict[str, LaneDevice] = {}
        self.status: dict[str, DeviceStatus] = {}
        self.kinds: dict[str, DeviceKind] = {
            name: kind.with_overrides(config.kinds.get(name)) for name, kind in KINDS.items()
        }
        self.web_url: str | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._stopped = asyncio.Event()

    # ---------------------------------------------------------------- topics

    @property
    def event_topic(self) -> str:
        return f"kouan/{self.lane_id}/events/lock"

    @property
    def availability_topic(self) -> str:
        return f"kouan/{self.lane_id}/edge/availability"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the store, connect MQTT, start devices, the ingest consumer, the watchdog and the web."""
        loop = asyncio.get_running_loop()
        self.store = AsyncStore(self.config.store.path)
        saved = await self.store.call(Store.last_states)
        self.mqtt = MqttTransport(
            self.config.mqtt.url, client_id=self.config.mqtt_client_id,
            availability_topic=self.availability_topic, on_message=self._on_mqtt_message,
            on_state=self._on_mqtt_state, manual_ack=True,
        )
        self.ingest = Ingest(
            loop, self.store, self.bus, publish_event=self._publish_lock_event,
            low_battery_pct=lambda device_id: self.kinds[self.status[device_id].kind].low_battery_pct,
            on_device_seen=self._seen,
        )
        for device_config in self.config.devices:
            kind = self.kinds[device_config.kind]
            address = device_config.address or self.config.device_topic(device_config)
            status = DeviceStatus(
                device_config.id, device_config.kind, device_config.transport, address,
                device_config.name, kind.offline_after_s, state=saved.get(device_config.id, {}),
            )
            self.status[device_config.id] = status
            await self.store.call(
                Store.upsert_device, device_config.id, device_config.kind, device_config.transport, address, device_config.name,
            )
            self.devices[device_config.id] = build_device(
                device_config, address, status, self.ingest, self.mqtt, self._changed_threadsafe(loop),
            )
        self._tasks.append(asyncio.create_task(self.ingest.run(), name="ingest"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        for device in self.devices.values():
            device.start()  # MQTT devices register their subscriptions before the connect
        self.mqtt.start()
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
        self.bus.close()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() != "web":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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

    def _seen(self, device_id: str, at: float, state: dict[str, Any] | None) -> None:
        status = self.status.get(device_id)
        if status is None:
            return
        was_online = status.online()
        status.last_seen = at
        if state is not None:
            status.state = state
        if status.transport == "mqtt" and not status.connected:
            status.connected = True  # a device that publishes is reachable even without availability
        self.bus.publish("device", status.as_dict())
        if not was_online:
            log.info("device %s online", device_id)

    def _on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        for device in self.devices.values():
            if device.handles_topic(topic):
                device.on_mqtt_message(topic, payload, ack)
                return
        log.warning("MQTT message on %s matches no device; acknowledged and ignored", topic)
        ack()

    def _on_mqtt_state(self, connected: bool, reason: str) -> None:
        log.info("site broker %s: %s", "connected" if connected else "disconnected", reason)

    def _publish_lock_event(self, event: dict[str, Any]) -> None:
        if self.mqtt is not None:
            payload = dict(event, lane=self.lane_id)
            self.mqtt.publish(self.event_topic, json.dumps(payload).encode(), qos=1)

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
        now = time.time()
        return [status.as_dict(now) for status in self.status.values()]

    async def lock_events(self, limit: int) -> list[dict[str, Any]]:
        assert self.store is not None
        rows = await self.store.call(Store.recent_lock_events, limit)
        return [row.as_dict() for row in rows]

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.ingest is not None:
            stats = self.ingest.stats
            out.update({
                "ingest_submitted_total": stats.submitted, "ingest_stored_total": stats.stored,
                "ingest_duplicates_total": stats.duplicates, "ingest_rejected_full_total": stats.rejected_full,
                "ingest_errors_total": stats.errors, "lock_events_total": stats.lock_events,
                "lock_events_moved_total": stats.lock_events_moved, "lock_late_reports_total": stats.late_reports,
                "ingest_queue_depth": self.ingest.depth,
            })
        out["live_subscribers"] = self.bus.subscribers
        out["live_resyncs_total"] = self.bus.resyncs
        now = time.time()
        for device_id, status in self.status.items():
            out[f'device_online{{device="{device_id}"}}'] = int(status.online(now))
            for name, value in status.counters.items():
                out[f'device_{name}_total{{device="{device_id}"}}'] = value
        if self.mqtt is not None:
            for name, value in vars(self.mqtt.stats()).items():
                if isinstance(value, (int, float, bool)):
                    out[f"mqtt_{name}"] = float(value)
        return out
