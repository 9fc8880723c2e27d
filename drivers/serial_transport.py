"""Serial transport: bytes from a serial port (or anything pyserial's `serial_for_url` opens).

One reader thread per port blocks in `read` with a timeout (no busy-waiting) and takes
everything that is waiting in one go, so a fast device is read in large chunks. When the
port fails (EIO after a pty's other end closed, a USB adapter unplugged, a TCP peer gone,
the path missing) the transport reports `connected False` with the reason, closes the port
and reopens the same URL with exponential backoff and jitter, for as long as it runs. The
URL is resolved again on every attempt, so a symlink that a restarted device stub points
at a new pty is followed.

A filesystem path (not `socket://` and the like) is also watched while the port is open: at
most every `link_check_s` the reader stats the path and compares it with the device it has
open (`fstat` of the port). When the path now leads elsewhere (a stub's `--link` re-pointed
at a new pty while the old one is still alive) the transport reports `connected False`
with "link now points to X", closes the old port and opens the new target at once.

Callbacks run on the reader thread: keep them short (the edge runtime hands the bytes to
its event loop with `loop.call_soon_threadsafe`). An exception raised by a callback is
logged and counted, never allowed to stop the reader.

`write()` is thread-safe. It raises `TransportNotConnected` while the port is down and
`TransportWriteError` when the write itself fails or times out: a reply that could not be
sent is never reported as sent. (A JT/T 808 terminal retransmits an unanswered report,
so the caller can log and move on.) Writes are bounded by `write_timeout`, except on
`rfc2217://`, whose pyserial client does not support one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from drivers.backoff import Backoff
from drivers.link_state import LinkStateReporter

logger = logging.getLogger(__name__)

DataCallback = Callable[[bytes], None]
StateCallback = Callable[[bool, str], None]


class TransportNotConnected(ConnectionError):
    """Raised by `write()` while the port is not open."""


class TransportWriteError(OSError):
    """Raised by `write()` when the port rejected the write or it timed out."""


@dataclass(frozen=True)
class SerialStats:
    """A snapshot of the counters an operator watches for one serial port."""

    url: str
    connected: bool
    bytes_in: int
    bytes_out: int
    reads: int
    connects: int
    reconnects: int
    errors: int
    callback_errors: int
    last_error: str


class SerialTransport:
    """Reads a serial URL on its own thread, reconnecting with backoff; see the module doc.

    `url`: `/dev/ttyUSB0`, `/dev/pts/7`, a symlink to either, `socket://host:port`,
    `rfc2217://host:port`, `loop://`. `on_data` gets every chunk read, in order;
    `on_state(connected, reason)` gets each change of the connection state (the first
    failed open counts as a change, repeated failures while down do not). `link_check_s`:
    how often (between reads, so at least every `read_timeout`) a path URL is checked for a
    new target.
    """

    def __init__(
        self,
        url: str,
        on_data: DataCallback,
        on_state: StateCallback | None = None,
        *,
        baudrate: int = 115200,
        read_timeout: float = 0.2,
        write_timeout: float = 1.0,
        backoff: Backoff | None = None,
        stable_after: float = 1.0,
        max_chunk: int = 65536,
        exclusive: bool | None = None,
        name: str | None = None,
        link_check_s: float = 0.5,
    ) -> None:
        if read_timeout <= 0:
            raise ValueError("read_timeout must be > 0: a zero timeout would busy-wait")
        if link_check_s <= 0:
            raise ValueError("link_check_s must be > 0")
        self.url = url
        self.name = name or url
        self._on_data = on_data
        self._link = LinkStateReporter(on_state, f"serial {self.name}")
        self._baudrate = baudrate
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self._stable_after = stable_after
        self._max_chunk = max_chunk
        self._exclusive = exclusive
        self._link_check_s = link_check_s
        self._watch_path = "://" not in url  # a device path or symlink, not a URL handler
        self._opened_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the open port
        self._retarget = False

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: Any | None = None  # a serial.SerialBase subclass, chosen by the URL
        self._write_lock = threading.Lock()  # guards self._port swaps and writes
        self._stats_lock = threading.Lock()

        self._connected = False
        self._bytes_in = 0
        self._bytes_out = 0
        self._reads = 0
        self._connects = 0
        self._errors = 0
        self._callback_errors = 0
        self._last_error = ""

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        """Start the reader thread (it opens the port itself and keeps it open)."""
        if self._thread is not None:
            raise RuntimeError(f"serial transport {self.name} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, close the port and join the thread (promptly: the read is cancelled)."""
        self._stop.set()
        with self._write_lock:
            port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            try:
                port.cancel_read()
            except Exception:  # the port may be failing right now; the timeout still ends the read
                logger.debug("cancel_read on %s failed", self.name, exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("serial reader %s did not stop within %.1f s", self.name, timeout)
            self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        """Block until the port is open (for tests and start-up checks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected:
                return True
            time.sleep(0.01)
        return self._connected

    @property
    def connected(self) -> bool:
        return self._connected

    def stats(self) -> SerialStats:
        with self._stats_lock:
            return SerialStats(
                url=self.url,
                connected=self._connected,
                bytes_in=self._bytes_in,
                bytes_out=self._bytes_out,
                reads=self._reads,
                connects=self._connects,
                reconnects=max(0, self._connects - 1),
                errors=self._errors,
                callback_errors=self._callback_errors + self._link.callback_errors,
                last_error=self._last_error,
            )

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> int:
        """Write all of `data`; returns its length. Raises if the port is down or the write fails."""
        with self._write_lock:
            port = self._port
            if port is None or not self._connected:
                raise TransportNotConnected(f"serial port {self.name} is not connected: {self._last_error or 'not open yet'}")
            try:
                # No flush(): tcdrain ignores write_timeout and could hang on a stuck line; write()
                # itself returns once the kernel holds every byte.
                written = port.write(data)
            except serial.SerialTimeoutException as exc:
                self._note_error(f"write timed out after {self._write_timeout} s")
                raise TransportWriteError(f"write to {self.name} timed out after {self._write_timeout} s") from exc
            except (serial.SerialException, OSError) as exc:
                self._note_error(f"write failed: {exc}")
                raise TransportWriteError(f"write to {self.name} failed: {exc}") from exc
        count = len(data) if written is None else int(written)
        with self._stats_lock:
            self._bytes_out += count
        return count

    # ------------------------------------------------------------------ reader thread

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                failures += 1
                delay = self._backoff.next_delay()
                log = logger.warning if failures == 1 else logger.debug
                log("serial %s: cannot open (%s); attempt %d, retrying in %.2f s", self.name, self._last_error, failures, delay)
                self._stop.wait(delay)
                continue
            failures = 0
            opened_at = time.monotonic()
            got_data = self._read_until_failure(port)
            self._close(port)
            if self._stop.is_set():
                break
            if self._retarget:  # not a failure: open the new target now
                self._retarget = False
                self._backoff.reset()
                continue
            if got_data or time.monotonic() - opened_at >= self._stable_after:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            logger.info("serial %s: reconnecting in %.2f s", self.name, delay)
            self._stop.wait(delay)
        self._link.report(False, "stopped")

    def _open(self) -> Any | None:
        kwargs: dict[str, Any] = {"baudrate": self._baudrate, "timeout": self._read_timeout}
        if not self.url.startswith("rfc2217://"):  # pyserial's RFC 2217 client rejects write_timeout
            kwargs["write_timeout"] = self._write_timeout
        if self._exclusive is not None:
            kwargs["exclusive"] = self._exclusive
        try:
            port = serial.serial_for_url(self.url, **kwargs)
        except Exception as exc:  # any failure to open (even NotImplementedError from a URL handler) is retried
            self._note_error(f"open failed: {exc}")
            self._link.report(False, f"open failed: {exc}")
            return None
        self._opened_id = self._file_id(port) if self._watch_path else None
        with self._write_lock:
            self._port = port
        with self._stats_lock:
            self._connected = True
            self._connects += 1
        logger.info("serial %s: connected", self.name)
        self._link.report(True, f"connected to {self.url}")
        return port

    def _read_until_failure(self, port: Any) -> bool:
        """Read and deliver chunks until the port fails or stop() is called; True if any data came."""
        drain = self._socket_drain if type(port).__module__.endswith("protocol_socket") else self._counted_drain
        got_data = False
        on_data = self._on_data
        next_check = time.monotonic() + self._link_check_s
        while not self._stop.is_set():
            if self._opened_id is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + self._link_check_s
                if self._path_moved():
                    return got_data
            try:
                data = drain(port)
            except Exception as exc:  # SerialException/OSError expected; anything else must not kill the reader
                if not isinstance(exc, (serial.SerialException, OSError)):
                    logger.exception("serial %s: unexpected error while reading", self.name)
                if not self._stop.is_set():
                    self._note_error(f"read failed: {exc}")
                    logger.warning("serial %s: disconnected: %s", self.name, exc)
                    self._mark_down(f"read failed: {exc}")
                return got_data
            if not data:
                continue
            got_data = True
            with self._stats_lock:
                self._bytes_in += len(data)
                self._reads += 1
            try:
                on_data(data)
            except Exception:
                with self._stats_lock:
                    self._callback_errors += 1
                logger.exception("serial %s: on_data callback raised; data chunk of %d bytes not handled", self.name, len(data))
        return got_data

    @staticmethod
    def _file_id(port: Any) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the device the port has open; None for ports without a file descriptor."""
        try:
            st = os.fstat(port.fileno())
        except (AttributeError, OSError, ValueError, serial.SerialException):
            return None
        return (st.st_dev, st.st_ino)

    def _path_moved(self) -> bool:
        """True (reported, and marked for an immediate reopen) when the path now leads to another device."""
        try:
            st = os.stat(self.url)
        except OSError:
            return False  # a missing path is left to the read: the old port may still be fine
        if (st.st_dev, st.st_ino) == self._opened_id:
            return False
        target = os.path.realpath(self.url)
        logger.info("serial %s: %s now points to %s; switching to it", self.name, self.url, target)
        self._retarget = True
        self._mark_down(f"link now points to {target}")
        return True

    def _counted_drain(self, port: Any) -> bytes:
        """Ports whose `in_waiting` is a byte count (ttys, ptys, rfc2217, loop)."""
        waiting = port.in_waiting
        if waiting:
            return bytes(port.read(min(waiting, self._max_chunk)))
        first = port.read(1)  # blocks up to read_timeout; cancel_read() ends it at stop()
        if not first:
            return b""
        waiting = port.in_waiting
        return bytes(first + port.read(min(waiting, self._max_chunk))) if waiting else bytes(first)

    def _socket_drain(self, port: Any) -> bytes:
        """`socket://` ports: `in_waiting` is only 0 or 1, so take what the socket holds with one recv."""
        first = port.read(1)
        if not first:
            return b""
        port.timeout = 0  # cheap on a socket port (no termios); one non-blocking recv
        try:
            rest = port.read(self._max_chunk)
        finally:
            port.timeout = self._read_timeout
        return bytes(first + rest)

    def _mark_down(self, reason: str) -> None:
        with self._stats_lock:
            self._connected = False
        self._link.report(False, reason)

    def _close(self, port: Any) -> None:
        with self._write_lock:
            self._port = None
            with self._stats_lock:
                self._connected = False
            try:
                port.close()
            except Exception:
                logger.debug("serial %s: close failed", self.name, exc_info=True)

    def _note_error(self, message: str) -> None:
        with self._stats_lock:
            self._errors += 1
            self._last_error = message
