"""A device on a serial line whose bytes a streaming deframer turns into messages.

What every such adapter does the same way, whatever the kind: the transport (reconnecting, the
link state into the device's status), a new deframer at each connect (after the old one's
unfinished frame was counted as truncated), the deframers' own counts as the device's counters
(`DeframerCounts`), bad frames logged once per BAD_FRAME_LOG_S with their count (counted in
full), one message that cannot be handled never stopping the reader, and replies written with
their own counters. A kind subclasses it with `_handle(message)` and, if it must answer a bad
frame, `_bad_frame(error, content)`. Names no kind.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from drivers.serial_transport import SerialTransport
from edge.kinds.base import DeviceContext
from edge.kinds.deframer_counts import DeframerCounts, DeframerStats

BAD_FRAME_LOG_S = 10.0
ErrorHook = Callable[[Any, bytes], None]


class StreamDeframer(Protocol):
    """What drivers.jt808.Deframer and drivers.iris.Deframer both are."""

    stats: DeframerStats

    def feed(self, data: bytes) -> list[Any]: ...

    def flush(self) -> None: ...


class FramedSerialDevice(ABC):
    """See the module docstring; `label` names the device in log lines ("lock", "iris")."""

    def __init__(self, ctx: DeviceContext, make_deframer: Callable[[ErrorHook], StreamDeframer],
                 reasons: Iterable[str], counters: Iterable[str], label: str, log: logging.Logger) -> None:
        config = ctx.config
        self.status = ctx.status
        self._id = config.id
        self._ingest = ctx.ingest
        self._changed = ctx.changed
        self._label = label
        self._log = log  # the kind's own logger, so its lines say where they come from
        self._make_deframer = make_deframer
        self._bad_logged_at = float("-inf")
        self._bad_since_log = 0
        self._deframer = make_deframer(self._on_bad_frame)
        self._counts = DeframerCounts(self.status.counters, reasons)
        self._transport = SerialTransport(config.address, self._on_data, self._on_state, baudrate=config.baudrate,
                                          name=config.id)
        for name in ("replies", "reply_failures", "handle_errors", *counters):
            self.status.counters[name] = 0

    def start(self) -> None:
        self._transport.start()

    def stop(self) -> None:
        self._transport.stop()

    def handles_topic(self, topic: str) -> bool:
        return False

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:  # pragma: no cover
        raise RuntimeError(f"a serial {self._label} receives no MQTT messages")

    # ------------------------------------------------------------ for the kind

    @abstractmethod
    def _handle(self, message: Any) -> None:
        """Turn one whole message into a reading (or a reply): the kind's own work."""

    def _message_name(self, message: Any) -> str:
        """How a log line names a message (a kind names its own, e.g. "0x0200")."""
        return type(message).__name__

    def _bad_frame(self, error: Any, content: bytes) -> None:
        """A kind that must answer some bad frames does it here (called before the frame is logged)."""

    def _write_reply(self, frame: bytes, what: str) -> None:
        """Write an answer; one that cannot be sent is counted and logged (the device sends again)."""
        try:
            self._transport.write(frame)
            self.status.counters["replies"] += 1
        except (ConnectionError, OSError) as exc:
            self.status.counters["reply_failures"] += 1
            self._log.warning("%s %s: %s not sent: %s", self._label, self._id, what, exc)

    # ------------------------------------------------------------ transport thread

    def _on_state(self, connected: bool, reason: str) -> None:
        self.status.connected = connected
        self.status.last_error = "" if connected else reason
        if connected:
            self._new_deframer()
        self._log.info("%s %s serial %s: %s", self._label, self._id, "connected" if connected else "disconnected",
                       reason)
        self._changed(self._id)

    def _new_deframer(self) -> None:
        """Count the old deframer's half frame as truncated, fold its stats into the totals, start afresh."""
        old = self._deframer
        old.flush()
        self._counts.retire(old.stats)
        self._deframer = self._make_deframer(self._on_bad_frame)
        self._counts.export(self._deframer.stats)

    def _on_bad_frame(self, error: Any, content: bytes) -> None:
        """A WARNING for the first bad frame, then at most one every BAD_FRAME_LOG_S with the count
        since: a line full of garbage is counted in full (the counters) without flooding the log."""
        self._bad_frame(error, content)
        self._bad_since_log += 1
        now = time.monotonic()
        if now - self._bad_logged_at < BAD_FRAME_LOG_S:
            self._log.debug("%s %s: bad frame skipped (%s)", self._label, self._id, error)
            return
        self._log.warning("%s %s: %d bad frame(s) skipped, the last: %s", self._label, self._id,
                          self._bad_since_log, error)
        self._bad_logged_at, self._bad_since_log = now, 0

    def _on_data(self, data: bytes) -> None:
        messages = self._deframer.feed(data)
        self._counts.export(self._deframer.stats)
        for message in messages:
            try:
                self._handle(message)
            except Exception:  # a message we cannot use must not kill the reader thread
                self.status.counters["handle_errors"] += 1
                self._log.exception("%s %s: cannot handle message %s", self._label, self._id,
                                    self._message_name(message))
