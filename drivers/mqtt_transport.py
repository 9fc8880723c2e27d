"""MQTT transport on paho-mqtt 2.x: subscribe, receive, publish, availability, reconnects.

Decisions (see also docs/architecture.md):
- MQTT 5 by default (`protocol="3.1.1"` is available for brokers that lack it): a refused
  connect comes back with a precise reason code, and the session expiry is explicit.
- Persistent session: a stable `client_id`, clean start off (clean session off on 3.1.1),
  session expiry `session_expiry_s`; QoS 1 by default. Subscriptions are (re)made in
  `on_connect`, so a broker that lost the session (a restart without persistence) gets them
  again. On MQTT 5 a re-subscription does not replay retained messages the session already had.
- Availability: a retained Last Will "offline" on `availability_topic`, a retained "online"
  published on every connect, a retained "offline" published on a clean `stop()`.
- A connect that the broker refuses (`reason_code.is_failure`) or that fails at TCP level is
  reported through `on_state(False, reason)` and never counted as connected. paho's own
  network thread (`loop_start`) reconnects, with `reconnect_delay_set` bounds.
- Publishing while disconnected never drops silently: messages wait in a bounded buffer,
  in order, and a flusher thread sends them after the next connect. When the bound is hit
  the *oldest* waiting message is dropped, counted in `dropped` and logged (newest state is
  what a lane needs; durable evidence goes through the edge's SQLite outbox, not this buffer).
  Messages already handed to paho when the link drops are retransmitted by paho's session
  (QoS >= 1) after the reconnect, ahead of or interleaved with the buffer's flush.
- `manual_ack=True` holds back the PUBACK of each received QoS 1 message until the callback's
  `ack()` is called: a receiver acks only what it has stored, so a crash before that makes the
  broker deliver the message again to the persistent session. `ack()` acts once, however often
  it is called; a callback that raises has its message acknowledged (and counted in
  `callback_errors`), since a message never acknowledged is redelivered for ever and, once
  the broker's in-flight window is full of them, nothing else arrives.
- An outage is logged once: a WARNING with its reason when the link drops (or the first connect
  fails), the reconnect attempts at debug, an INFO when it is back; paho's own per-attempt
  "Client is not connected" ERROR is filtered out. A reconnect to a broker that no longer has
  our session is a WARNING: what was queued for us there is gone.
- paho callbacks never block and never wait for our publish lock; user callbacks run on
  paho's thread and must be short (the edge uses `loop.call_soon_threadsafe`). The one wait
  there is deliberate flow control: while the edge's ingest queue is full, its hand-over waits
  for room (`edge/ingest.py`); paho stops reading and the broker keeps the rest in our session.
  A wait over 1.5 x `keepalive` lets the broker drop the link: what was not acknowledged is
  redelivered after the reconnect.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from drivers.link_state import LinkStateReporter
from drivers.mqtt_url import MqttUrl, parse_mqtt_url

__all__ = ["MqttStats", "MqttTransport", "MqttUrl", "parse_mqtt_url", "check_topic_name"]

logger = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], None]
# manual_ack=True: the callback gets an `ack()` to call once the message is safely handled.
AckingMessageCallback = Callable[[str, bytes, Callable[[], None]], None]
StateCallback = Callable[[bool, str], None]
Payload = bytes | bytearray | str


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True)
class MqttStats:
    """A snapshot of the counters an operator watches for one MQTT connection."""

    connected: bool
    messages_in: int
    messages_out: int
    messages_acked: int
    buffered: int
    dropped: int
    connects: int
    connect_failures: int
    subscribe_failures: int
    callback_errors: int
    last_reason: str


class MqttTransport:
    """One MQTT connection with availability, resubscription and an outgoing buffer; see the module doc."""

    def __init__(
        self,
        url: str,
        client_id: str,
        availability_topic: str,
        on_message: MessageCallback | AckingMessageCallback,
        on_state: StateCallback | None = None,
        *,
        protocol: Literal["5", "3.1.1"] = "5",
        keepalive: int = 30,
        session_expiry_s: int = 3600,
        buffer_limit: int = 10_000,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        manual_ack: bool = False,
    ) -> None:
        if not client_id:
            raise ValueError("a persistent session needs a stable, non-empty client_id")
        if buffer_limit < 1:
            raise ValueError("buffer_limit must be at least 1")
        check_topic_name(availability_topic)
        self.url = url
        self.client_id = client_id
        self.availability_topic = availability_topic
        self._address = parse_mqtt_url(url)
        self._on_message = on_message
        self._manual_ack = manual_ack
        self._link = LinkStateReporter(on_state, f"mqtt {client_id}")
        self._protocol = protocol
        self._keepalive = keepalive
        self._session_expiry_s = session_expiry_s
        self._buffer_limit = buffer_limit
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s

        self._lock = threading.Lock()  # guards the buffer and publish ordering; never taken in paho callbacks
        self._buffer: deque[OutgoingMessage] = deque()
        self._subs_lock = threading.Lock()  # held only to copy or change the dict
        self._subscriptions: dict[str, int] = {}
        self._flush_wake = threading.Event()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        self._started = False

        self._connected = False
        self._last_reason = "not started"
        self._messages_in = 0
        self._messages_out = 0
        self._messages_acked = 0
        self._dropped = 0
        self._connects = 0
        self._connect_failures = 0
        self._failure_streak = 0
        self._subscribe_failures = 0
        self._callback_errors = 0

        self._client = self._make_client()

    # ------------------------------------------------------------------ set-up

    def _make_client(self) -> mqtt.Client:
        v5 = self._protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=self._manual_ack,
        )
        if self._address.username is not None:
            client.username_pw_set(self._address.username, self._address.password)
        # A bug in a callback is logged by paho (to our logger) instead of killing its network thread.
        client.suppress_exceptions = True
        paho_logger = logging.getLogger(f"{__name__}.paho")
        if not any(isinstance(f, _RetryNoise) for f in paho_logger.filters):
            paho_logger.addFilter(_RetryNoise())
        client.enable_logger(paho_logger)
        client.will_set(self.availability_topic, b"offline", qos=1, retain=True)
        # paho types these as int but computes with them as numbers; sub-second delays work
        client.reconnect_delay_set(min_delay=self._reconnect_min_s, max_delay=self._reconnect_max_s)  # type: ignore[arg-type]
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        return client

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        """Connect in the background; paho's thread keeps reconnecting until `stop()`."""
        if self._started:
            raise RuntimeError(f"MQTT transport {self.client_id} already started")
        self._started = True
        self._last_reason = "connecting"
        kwargs: dict[str, Any] = {}
        if self._protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._session_expiry_s
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self._address.host, self._address.port, self._keepalive, **kwargs)
        self._flusher = threading.Thread(target=self._flush_loop, name=f"mqtt-flush:{self.client_id}", daemon=True)
        self._flusher.start()
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush the buffer if connected, publish a retained "offline", disconnect cleanly, stop the threads."""
        deadline = time.monotonic() + timeout / 2
        while self._connected and self._flusher is not None and self.stats().buffered and time.monotonic() < deadline:
            self._flush_wake.set()
            time.sleep(0.01)
        self._stopping.set()
        self._flush_wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout)
            self._flusher = None
        if self._connected:
            try:
                info = self._client.publish(self.availability_topic, b"offline", qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError) as exc:
                logger.warning("mqtt %s: could not publish offline before stopping: %s", self.client_id, exc)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected = False
        with self._lock:
            unsent = len(self._buffer)
            self._dropped += unsent
            self._buffer.clear()
        if unsent:
            logger.warning("mqtt %s: stopped with %d unsent messages; counted as dropped", self.client_id, unsent)
        self._link.report(False, "stopped")

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (for start-up checks and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._connected:
            time.sleep(0.01)
        return self._connected

    def stats(self) -> MqttStats:
        with self._lock:
            buffered = len(self._buffer)
            dropped = self._dropped
            messages_out = self._messages_out
        return MqttStats(
            connected=self._connected,
            messages_in=self._messages_in,
            messages_out=messages_out,
            messages_acked=self._messages_acked,
            buffered=buffered,
            dropped=dropped,
            connects=self._connects,
            connect_failures=self._connect_failures,
            subscribe_failures=self._subscribe_failures,
            callback_errors=self._callback_errors + self._link.callback_errors,
            last_reason=self._last_reason,
        )

    # ------------------------------------------------------------------ subscribe / publish

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again on every (re)connect."""
        if not topic_filter:
            raise ValueError("empty MQTT topic filter")
        if qos not in (0, 1, 2):
            raise ValueError(f"QoS must be 0, 1 or 2, got {qos}")
        with self._subs_lock:
            self._subscriptions[topic_filter] = qos
            connected = self._connected
        # Under the lock, either on_connect's copy includes this filter or we see connected=True.
        if connected:
            self._subscribe_now(self._client, topic_filter, qos)

    def publish(self, topic: str, payload: Payload, qos: int = 1, retain: bool = False) -> bool:
        """Send, or buffer while disconnected; True if handed to the client now, False if not (buffered,
        or after `stop()`: dropped and counted). A bad topic or QoS is a ValueError."""
        check_topic_name(topic)
        if qos not in (0, 1, 2):
            raise ValueError(f"QoS must be 0, 1 or 2, got {qos}")
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        message = OutgoingMessage(topic, data, qos, retain)
        with self._lock:
            if self._stopping.is_set():
                self._dropped += 1
                logger.warning("mqtt %s: publish to %s after stop(); dropped (counted)", self.client_id, topic)
                return False
            if self._connected and not self._buffer and self._send_locked(message):
                return True
            self._buffer_locked(message)
            return False

    def _send_locked(self, message: OutgoingMessage) -> bool:
        """Hand one message to paho (caller holds self._lock); False if it must wait in the buffer."""
        info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and message.qos > 0):
            # NO_CONN with QoS >= 1: paho keeps it in its session and sends it after the reconnect.
            self._messages_out += 1
            return True
        return False

    def _buffer_locked(self, message: OutgoingMessage) -> None:
        if len(self._buffer) >= self._buffer_limit:
            lost = self._buffer.popleft()
            self._dropped += 1
            logger.warning(
                "mqtt %s: outgoing buffer full (%d); dropped the oldest message (topic %s), %d dropped so far",
                self.client_id, self._buffer_limit, lost.topic, self._dropped,
            )
        self._buffer.append(message)

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._flush_wake.wait(1.0)
            self._flush_wake.clear()
            sent = 0
            while not self._stopping.is_set():
                with self._lock:
                    if not self._connected or not self._buffer:
                        break
                    if not self._send_locked(self._buffer[0]):
                        break
                    self._buffer.popleft()
                sent += 1
            if sent:
                logger.info("mqtt %s: flushed %d buffered messages", self.client_id, sent)

    def _subscribe_now(self, client: mqtt.Client, topic_filter: str, qos: int) -> None:
        if self._protocol == "5":
            options = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe(topic_filter, options=options)
        else:
            client.subscribe(topic_filter, qos)

    # ------------------------------------------------------------------ paho callbacks (paho's thread)

    def _handle_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            self._connect_failures += 1
            reason = f"connect refused by broker: {reason_code} (reason code {reason_code.value})"
            self._last_reason = reason
            self._log_failure(reason)
            self._link.report(False, reason)
            return
        with self._subs_lock:
            self._connected = True
            subscriptions = list(self._subscriptions.items())
        for topic_filter, qos in subscriptions:
            self._subscribe_now(client, topic_filter, qos)
        client.publish(self.availability_topic, b"online", qos=1, retain=True)
        if self._connects and not flags.session_present:
            logger.warning(
                "mqtt %s: broker has no session for %s any more (restarted without persistence?): "
                "messages published for us while we were away are lost", self.client_id, self.client_id,
            )
        self._connects += 1
        self._failure_streak = 0
        session = "session resumed" if flags.session_present else "new session"
        self._last_reason = f"connected ({session})"
        logger.info("mqtt %s: connected to %s:%d, %s", self.client_id, self._address.host, self._address.port, session)
        self._link.report(True, self._last_reason)
        self._flush_wake.set()

    def _handle_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        error = sys.exc_info()[1]  # paho calls this from inside its `except OSError`
        self._connect_failures += 1
        where = f"{self._address.host}:{self._address.port}"
        reason = f"connect to {where} failed: {error}" if error else f"connect to {where} failed"
        self._last_reason = reason
        self._log_failure(reason)
        self._link.report(False, reason)

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        was_connected = self._connected
        self._connected = False
        if was_connected:
            self._last_reason = f"disconnected: {reason_code}"
            logger.warning("mqtt %s: %s; reconnecting", self.client_id, self._last_reason)
            self._failure_streak = 1  # this outage is logged: the failed reconnects that follow are debug
            self._link.report(False, self._last_reason)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._messages_in += 1
        ack = _AckOnce(self._client, message.mid, message.qos)
        try:
            if self._manual_ack:
                self._on_message(message.topic, message.payload, ack)  # type: ignore[call-arg]
            else:
                self._on_message(message.topic, message.payload)  # type: ignore[call-arg]
        except BaseException:  # RecursionError, MemoryError ... : refuse, count, acknowledge
            self._callback_errors += 1
            logger.exception("mqtt %s: on_message callback raised for topic %s; message acknowledged and dropped",
                             self.client_id, message.topic)
            if self._manual_ack:
                ack()  # unacknowledged, it would be redelivered for ever and fill the in-flight window

    def _handle_publish(self, _client: mqtt.Client, _userdata: Any, _mid: int, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            logger.warning("mqtt %s: broker rejected a publish: %s", self.client_id, reason_code)
        else:
            self._messages_acked += 1

    def _handle_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reason_codes: list[Any], _props: Any) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            self._subscribe_failures += 1
            logger.warning("mqtt %s: subscription refused: %s", self.client_id, ", ".join(failed))

    def _log_failure(self, reason: str) -> None:
        """The first failure of an outage is a warning; the retries that follow are debug."""
        self._failure_streak += 1
        log = logger.warning if self._failure_streak == 1 else logger.debug
        log("mqtt %s: %s (attempt %d)", self.client_id, reason, self._failure_streak)


class _RetryNoise(logging.Filter):
    """Drops paho's ERROR "Client is not connected", which it logs at every reconnect attempt;
    the transport logs each outage once itself (a WARNING with the reason, the retries at debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


class _AckOnce:
    """A received message's PUBACK, sent at most once (a packet id is reused after its ack)."""

    def __init__(self, client: mqtt.Client, mid: int, qos: int) -> None:
        self._client, self._mid, self._qos = client, mid, qos
        self._done = threading.Lock()

    def __call__(self) -> None:
        if self._done.acquire(blocking=False):
            self._client.ack(self._mid, self._qos)


def check_topic_name(topic: str) -> None:
    """A topic one may publish to: non-empty, no wildcards, no NUL."""
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise ValueError(f"not a publishable MQTT topic: {topic!r}")
