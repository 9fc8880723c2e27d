"""A Modbus RTU polling master (knows no device) on pymodbus's serial client.

One thread per port. Every `period_s` it reads a fixed list of register blocks (function 0x03
holding or 0x04 input registers) from one unit and, when every block was answered, hands the
values of that poll to `on_poll`. `write_registers` (0x10) and `write_register` (0x06) may be
called from any thread: they wait for the poll in progress (a lock, no queue) and then run on
the caller's thread, so a write is never reordered behind polls and nothing is buffered.

The port is opened here (pyserial's `serial_for_url`: a device, a pty, a symlink to either,
`socket://`, `rfc2217://`) and handed to pymodbus, which frames, checks the CRC and matches
answers. Opening it ourselves gives the exact reason when it fails ("port missing", "open
failed: ...") and lets the thread notice a path now pointing elsewhere (a restarted stub's
`--link`), as `drivers.serial_transport` does. A pty carries no line, and some kernels refuse
parity on one (EINVAL): a pty that refuses the configured parity is opened without it, once
logged.

Link state (`on_state(connected, reason)`, each change once, `drivers.link_state`): up when a
poll completes; down with the reason when `down_after` polls in a row fail ("no answer within
0.3 s", "exception 0x02 illegal data address to 0x04 at 0x0000 x20", "bad CRC in answer") or
at once when the port fails or is missing. A failed port is reopened with exponential backoff
(`drivers.backoff`). pymodbus's per-request "No response received" ERROR is filtered from its
logger: the outage is logged here, once.

Callbacks (`on_poll`, `on_state`) run on the poller's thread: keep them short (the edge hands
the values to its event loop with `loop.call_soon_threadsafe`). One that raises is logged and
counted, never allowed to stop the poller.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import serial
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.framer import FramerRTU, FramerType

from drivers.backoff import Backoff
from drivers.link_state import LinkStateReporter

logger = logging.getLogger(__name__)

READ_HOLDING = 0x03
READ_INPUT = 0x04
EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "server device failure", 5: "acknowledge", 6: "server device busy",
                   8: "memory parity error", 0x0A: "gateway path unavailable",
                   0x0B: "gateway target failed to respond"}

PollCallback = Callable[["Poll"], None]
StateCallback = Callable[[bool, str], None]


class _NoResponseFilter(logging.Filter):
    """Drops pymodbus's ERROR per unanswered request and its "Repeating...." (the poller reports the
    outage once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("No response received") or message.startswith("Repeating"))


_FILTER = _NoResponseFilter()
logging.getLogger("pymodbus.logging").addFilter(_FILTER)


class ModbusNotConnected(ConnectionError):
    """The port is not open (or just failed)."""


class ModbusNoAnswer(TimeoutError):
    """No valid answer within the timeout (silence, or bytes that failed the CRC)."""


class ModbusExceptionResponse(Exception):
    """The unit answered with an exception (function code | 0x80, exception code)."""

    def __init__(self, function: int, code: int, address: int) -> None:
        self.function, self.code, self.address = function, code, address
        super().__init__(f"exception 0x{code:02x} {EXCEPTION_NAMES.get(code, 'unknown')} "
                         f"to 0x{function:02x} at 0x{address:04x}")


@dataclass(frozen=True)
class RegisterBlock:
    """Registers read in one request: function 0x03 or 0x04, first address, count (1-125)."""

    function: int
    address: int
    count: int

    def __post_init__(self) -> None:
        if self.function not in (READ_HOLDING, READ_INPUT):
            raise ValueError(f"register block function must be 0x03 or 0x04, got 0x{self.function:02x}")
        if not 0 <= self.address <= 0xFFFF or not 1 <= self.count <= 125 or self.address + self.count > 0x10000:
            raise ValueError(f"register block 0x{self.address:04x} x{self.count} is outside 0-0xFFFF or over 125")


@dataclass(frozen=True)
class Poll:
    """One complete poll: the values of each block, in the order the blocks were given."""

    blocks: tuple[RegisterBlock, ...]
    values: tuple[tuple[int, ...], ...]
    monotonic: float

    def of(self, block: RegisterBlock) -> tuple[int, ...]:
        """The values read for `block`."""
        return self.values[self.blocks.index(block)]


@dataclass(frozen=True)
class ModbusStats:
    """Counters an operator watches for one polled unit."""

    port: str
    unit: int
    connected: bool
    polls: int
    complete_polls: int
    requests: int
    answers: int
    timeouts: int
    exceptions: int
    exceptions_by_code: dict[int, int]
    crc_errors: int
    writes: int
    connects: int
    reconnects: int
    port_errors: int
    callback_errors: int
    last_error: str
    unexpected_errors: int = 0  # polls that failed in a way pymodbus does not document (logged in full)


class _OpenedPortClient(ModbusSerialClient):
    """pymodbus's RTU client on a port this module opened; it never reopens one by itself."""

    def connect(self) -> bool:
        return self.socket is not None


class ModbusRtuPoller:
    """Polls `blocks` of unit `unit` on `port` every `period_s`; see the module doc."""

    def __init__(self, port: str, blocks: Sequence[RegisterBlock], on_poll: PollCallback,
                 on_state: StateCallback | None = None, *, unit: int = 1, baudrate: int = 19200,
                 bytesize: int = 8, parity: str = "E", stopbits: int = 1, period_s: float = 1.0,
                 timeout_s: float = 0.5, down_after: int = 2, backoff: Backoff | None = None,
                 link_check_s: float = 1.0, name: str | None = None) -> None:
        if not blocks:
            raise ValueError("a poller needs at least one register block")
        if not 0 <= unit <= 247:
            raise ValueError(f"Modbus unit id must be 0-247, got {unit}")
        if period_s <= 0 or timeout_s <= 0 or down_after < 1:
            raise ValueError("period_s and timeout_s must be > 0 and down_after >= 1")
        if parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O, got {parity!r}")
        self.port, self.unit, self.name = port, unit, name or port
        self.blocks = tuple(blocks)
        self._on_poll = on_poll
        self._link = LinkStateReporter(on_state, f"modbus {self.name}")
        self._serial_kw: dict[str, Any] = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity,
                                           "stopbits": stopbits}
        self._period, self._timeout, self._down_after = period_s, timeout_s, down_after
        self._backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self._link_check_s = link_check_s
        self._watch_path = "://" not in port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._io = threading.Lock()            # one transaction at a time on the line
        self._stats = threading.Lock()
        self._client: _OpenedPortClient | None = None
        self._opened_id: tuple[int, int] | None = None
        self._rx = b""                          # bytes pymodbus saw for the current request
        self._counts: Counter[str] = Counter()
        self._by_code: Counter[int] = Counter()
        self._connected = False
        self._last_error = ""
        self._parity_note_logged = False

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        """Start the poller thread (it opens the port itself)."""
        if self._thread is not None:
            raise RuntimeError(f"modbus poller {self.name} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"modbus:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling, close the port, join the thread (within one request timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("modbus poller %s did not stop within %.1f s", self.name, timeout)
            self._thread = None
        with self._io:
            self._close()

    def wait_connected(self, timeout: float) -> bool:
        """Block until a poll has completed (for tests and start-up checks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._connected:
            time.sleep(0.01)
        return self._connected

    @property
    def connected(self) -> bool:
        return self._connected

    def stats(self) -> ModbusStats:
        with self._stats:
            c = self._counts
            return ModbusStats(self.port, self.unit, self._connected, c["polls"], c["complete_polls"], c["requests"],
                               c["answers"], c["timeouts"], c["exceptions"], dict(self._by_code), c["crc_errors"],
                               c["writes"], c["connects"], max(0, c["connects"] - 1), c["port_errors"],
                               c["callback_errors"] + self._link.callback_errors, self._last_error,
                               c["unexpected_errors"])

    # ------------------------------------------------------------------ writing

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers with 0x10; raises ModbusNotConnected, ModbusNoAnswer or
        ModbusExceptionResponse. Blocks while a poll is in progress (at most one per block)."""
        values = [int(v) for v in values]
        if not 1 <= len(values) <= 123 or any(not 0 <= v <= 0xFFFF for v in values):
            raise ValueError("write_registers takes 1-123 values of 0-65535")
        if not 0 <= address <= 0xFFFF or address + len(values) > 0x10000:
            raise ValueError(f"write at 0x{address:04x} x{len(values)} is outside 0-0xFFFF")
        self._write(0x10, address, lambda c: c.write_registers(address, values, device_id=self.unit))

    def write_register(self, address: int, value: int) -> None:
        """Write one holding register with 0x06; raises as `write_registers`."""
        if not 0 <= value <= 0xFFFF or not 0 <= address <= 0xFFFF:
            raise ValueError("write_register takes an address and a value of 0-65535")
        self._write(0x06, address, lambda c: c.write_register(address, value, device_id=self.unit))

    def _write(self, function: int, address: int, call: Callable[[ModbusSerialClient], Any]) -> None:
        with self._io:
            if self._client is None or self._client.socket is None:
                raise ModbusNotConnected(f"modbus {self.name} is not connected: {self._last_error or 'not open yet'}")
            with self._stats:
                self._counts["writes"] += 1
            self._transact(function, address, call)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        failures = 0
        next_check = 0.0
        while not self._stop.is_set():
            if self._client is None:
                with self._io:
                    opened = self._open()
                if not opened:
                    self._stop.wait(self._backoff.next_delay())
                    continue
                failures = 0
            started = time.monotonic()
            if self._watch_path and started >= next_check:
                next_check = started + self._link_check_s
                if self._path_moved():
                    continue
            try:
                poll = self._poll_once()
            except ModbusNotConnected as exc:
                self._port_failed(str(exc))
                continue
            except (ModbusNoAnswer, ModbusExceptionResponse) as exc:
                failures += 1
                self._note(str(exc))
                if failures >= self._down_after:
                    self._mark(False, str(exc))
            except Exception as exc:  # anything else pymodbus raises must not end the polling thread
                failures += 1
                with self._stats:
                    self._counts["unexpected_errors"] += 1
                logger.exception("modbus %s: poll failed unexpectedly", self.name)
                self._note(f"poll failed: {type(exc).__name__}: {exc}")
                if failures >= self._down_after:
                    self._mark(False, f"poll failed: {type(exc).__name__}: {exc}")
            else:
                if failures or not self._connected:
                    logger.info("modbus %s: unit %d answering", self.name, self.unit)
                failures = 0
                self._backoff.reset()
                self._mark(True, f"unit {self.unit} answering on {self.port}")
                self._deliver(poll)
            self._stop.wait(max(0.0, started + self._period - time.monotonic()))
        self._link.report(False, "stopped")

    def _poll_once(self) -> Poll:
        with self._stats:
            self._counts["polls"] += 1
        values = []
        for block in self.blocks:
            read = ModbusSerialClient.read_holding_registers if block.function == READ_HOLDING \
                else ModbusSerialClient.read_input_registers
            with self._io:
                if self._client is None:
                    raise ModbusNotConnected("port closed")
                response = self._transact(block.function, block.address,
                                          lambda c, b=block, r=read: r(c, b.address, count=b.count, device_id=self.unit))
            registers = tuple(int(v) for v in response.registers)
            if len(registers) != block.count:
                raise ModbusNoAnswer(f"answer to 0x{block.function:02x} at 0x{block.address:04x} has "
                                     f"{len(registers)} registers, not {block.count}")
            values.append(registers)
        with self._stats:
            self._counts["complete_polls"] += 1
        return Poll(self.blocks, tuple(values), time.monotonic())

    def _transact(self, function: int, address: int, call: Callable[[ModbusSerialClient], Any]) -> Any:
        """One request and its answer (caller holds the io lock); classified into our exceptions."""
        client = self._client
        assert client is not None
        self._rx = b""
        with self._stats:
            self._counts["requests"] += 1
        try:
            response = call(client)
        except ModbusIOException:
            bad_crc = len(self._rx) >= 4 and not FramerRTU.check_CRC(self._rx[:-2], int.from_bytes(self._rx[-2:], "big"))
            with self._stats:
                self._counts["crc_errors" if bad_crc else "timeouts"] += 1
            if bad_crc:
                raise ModbusNoAnswer(f"bad CRC in answer to 0x{function:02x} at 0x{address:04x}") from None
            raise ModbusNoAnswer(f"no answer within {self._timeout} s to 0x{function:02x} at 0x{address:04x}") from None
        except (ConnectionException, OSError, serial.SerialException) as exc:
            self._close()   # pymodbus has closed its side already on an I/O error
            if self._watch_path and not os.path.exists(self.port):
                raise ModbusNotConnected(f"port missing: {self.port}") from None
            detail = "I/O error" if isinstance(exc, ConnectionException) else str(exc)
            raise ModbusNotConnected(f"port failed: {detail} on {self.port}") from None
        with self._stats:
            self._counts["answers"] += 1
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            with self._stats:
                self._counts["exceptions"] += 1
                self._by_code[code] += 1
            raise ModbusExceptionResponse(function, code, address)
        return response

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx = bytes(data)
        return data

    def _deliver(self, poll: Poll) -> None:
        try:
            self._on_poll(poll)
        except Exception:
            with self._stats:
                self._counts["callback_errors"] += 1
            logger.exception("modbus %s: on_poll callback raised; poll not handled", self.name)

    # ------------------------------------------------------------------ the port

    def _open(self) -> bool:
        """Open the port and put pymodbus's client on it (caller holds the io lock)."""
        if self._watch_path and not os.path.exists(self.port):
            return self._open_failed(f"port missing: {self.port}")
        port = None
        try:
            port = self._open_serial(self._serial_kw)
        except Exception as exc:   # SerialException, OSError, termios.error: any failure to open is retried
            if self._serial_kw["parity"] != "N" and self._is_pty() and _is_einval(exc):
                if not self._parity_note_logged:
                    logger.info("modbus %s: %s is a pty that refuses parity %s; opened without it", self.name,
                                self.port, self._serial_kw["parity"])
                    self._parity_note_logged = True
                try:
                    port = self._open_serial({**self._serial_kw, "parity": "N"})
                except Exception as again:
                    exc = again
            if port is None:
                return self._open_failed(f"open failed: {exc}")
        client = _OpenedPortClient(self.port, framer=FramerType.RTU, timeout=self._timeout, retries=0,
                                   trace_packet=self._trace, name=self.name, **self._serial_kw)
        client.socket = port
        self._client = client
        self._opened_id = _file_id(port) if self._watch_path else None
        with self._stats:
            self._counts["connects"] += 1
        logger.info("modbus %s: opened %s (unit %d)", self.name, self.port, self.unit)
        return True

    def _open_serial(self, kw: dict[str, Any]) -> Any:
        port = serial.serial_for_url(self.port, timeout=self._timeout, write_timeout=self._timeout,
                                     exclusive=True if self._watch_path else None, **kw)
        if kw["baudrate"] <= 19200 and self._watch_path:   # as pymodbus does: 1.5 character times end a read
            try:
                port.inter_byte_timeout = 1.5 * (1 + kw["bytesize"] + kw["stopbits"]) / kw["baudrate"]
            except Exception:   # termios refused the settings as a whole (a pty and parity): not this port
                port.close()
                raise
        return port

    def _open_failed(self, reason: str) -> bool:
        first = self._last_error != reason
        self._note(reason)
        (logger.warning if first else logger.debug)("modbus %s: %s", self.name, reason)
        self._mark(False, reason)
        return False

    def _is_pty(self) -> bool:
        return os.path.realpath(self.port).startswith("/dev/pts/")

    def _path_moved(self) -> bool:
        """True when the path now leads to another device: closed, reported, reopened next round."""
        try:
            st = os.stat(self.port)
        except OSError:
            return False   # a vanished path is left to the next request (EIO) or the reopen
        if self._opened_id is None or (st.st_dev, st.st_ino) == self._opened_id:
            return False
        target = os.path.realpath(self.port)
        logger.info("modbus %s: %s now points to %s; switching to it", self.name, self.port, target)
        with self._io:
            self._close()
        self._mark(False, f"link now points to {target}")
        return True

    def _port_failed(self, reason: str) -> None:
        with self._stats:
            self._counts["port_errors"] += 1
        self._note(reason)
        logger.warning("modbus %s: %s; reopening", self.name, reason)
        with self._io:
            self._close()
        self._mark(False, reason)
        self._stop.wait(self._backoff.next_delay())

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                logger.debug("modbus %s: close failed", self.name, exc_info=True)

    def _mark(self, connected: bool, reason: str) -> None:
        with self._stats:
            self._connected = connected
        self._link.report(connected, reason)

    def _note(self, message: str) -> None:
        with self._stats:
            self._last_error = message


def _is_einval(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.EINVAL or "Invalid argument" in str(exc)


def _file_id(port: Any) -> tuple[int, int] | None:
    try:
        st = os.fstat(port.fileno())
    except (AttributeError, OSError, ValueError, serial.SerialException):
        return None
    return (st.st_dev, st.st_ino)
