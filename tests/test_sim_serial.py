"""The lock firmware stub over a real pty, with a platform on the other end opened by pyserial."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from drivers.jt808 import (
    AUTHENTICATION, BATCH_LOCATION, HEARTBEAT, LOCATION_REPORT, REGISTRATION, BatchLocation, Deframer,
    LockStateCode, Message, find_lock_status, reply_for,
)
from firmware_stubs.lock_events import parse_events
from firmware_stubs.smart_lock import LockConfig, SerialSmartLock, retransmit_timeouts


class Platform:
    """A minimal JT/T 808 platform on the pty: decodes, records (with arrival time), answers by rule."""

    def __init__(self, path: str, answer: Callable[[Message], bool] = lambda m: True) -> None:
        self.port = serial.serial_for_url(path, timeout=0.02)
        self.deframer = Deframer()
        self.seen: list[tuple[float, Message]] = []
        self.answer = answer
        self.serial = 0
        self.t0 = time.monotonic()

    def pump(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            for message in self.deframer.feed(self.port.read(4096)):
                self.seen.append((time.monotonic() - self.t0, message))
                reply = reply_for(message, self.serial, auth_code="tok")
                if reply is not None and self.answer(message):
                    self.port.write(reply)
                    self.serial += 1

    def ids(self) -> list[int]:
        return [m.header.message_id for _, m in self.seen]

    def of(self, message_id: int) -> list[tuple[float, Message]]:
        return [(t, m) for t, m in self.seen if m.header.message_id == message_id]


class RecordingLock(SerialSmartLock):
    """The real stub that also logs, from its own thread and in order, each frame it writes and each
    scripted event it applies: (stub's monotonic clock, "sent" or "event_<action>", message id or 0)."""

    def __init__(self, config: LockConfig, link: Path | None = None) -> None:
        super().__init__(config, link=link)
        self.log: list[tuple[float, str, int]] = []

    def _write(self, frame: bytes, message_id: int) -> None:
        self.log.append((time.monotonic(), "sent", message_id))
        super()._write(frame, message_id)

    def _apply_events(self, now: float) -> None:
        before = dict(self.counters)
        super()._apply_events(now)
        for key, count in self.counters.items():
            if key.startswith("event_") and count > before.get(key, 0):
                self.log.append((now, key, 0))

    def sent_at(self, message_id: int) -> list[float]:
        return [t for t, what, mid in list(self.log) if what == "sent" and mid == message_id]


@pytest.fixture
def make_stub() -> Iterator[Callable[..., RecordingLock]]:
    stubs: list[RecordingLock] = []

    def make(events: str = "", link: Path | None = None, **overrides: object) -> RecordingLock:
        config = LockConfig(terminal="013800138000", lock_id="KL-T1", events=parse_events(events), **overrides)
        stub = RecordingLock(config, link=link)
        stubs.append(stub)
        return stub

    yield make
    for stub in stubs:
        stub.stop()


def test_register_authenticate_heartbeat_report_and_state_change(make_stub) -> None:
    # With a 100 s period the tampered report can only have been sent at once on the change.
    stub = make_stub("1.0:tamper", report_period_s=100.0, heartbeat_period_s=0.4, response_timeout_s=0.5)
    platform = Platform(stub.name)
    stub.start()
    platform.pump(30.0, until=lambda: any(
        (s := find_lock_status(m.body)) and s.state is LockStateCode.TAMPERED for _, m in platform.of(LOCATION_REPORT)))
    ids = platform.ids()
    assert ids[:2] == [REGISTRATION, AUTHENTICATION]
    assert platform.of(AUTHENTICATION)[0][1].body.code == "tok"      # the code from our 0x8100
    assert HEARTBEAT in ids and stub.phase == "online"
    reports = platform.of(LOCATION_REPORT)
    states = [find_lock_status(m.body).state for _, m in reports]
    assert states[0] is LockStateCode.SEALED and states[-1] is LockStateCode.TAMPERED
    assert len({m.header.serial for _, m in reports}) == 2   # online, then the change; none periodic
    assert find_lock_status(reports[-1][1].body).rope_cut
    assert stub.counters["retransmissions"] == 0


def test_retransmits_unanswered_report_and_stops_when_answered(make_stub) -> None:
    answered = {"reports": False}
    stub = make_stub(report_period_s=100.0, heartbeat_period_s=100.0, response_timeout_s=0.3, retries=3)
    platform = Platform(stub.name, answer=lambda m: m.header.message_id != LOCATION_REPORT or answered["reports"])
    stub.start()
    platform.pump(30.0, until=lambda: len(platform.of(LOCATION_REPORT)) >= 2)
    answered["reports"] = True                        # the platform answers from the next copy on
    platform.pump(30.0, until=lambda: len(platform.of(LOCATION_REPORT)) >= 3)
    copies = platform.of(LOCATION_REPORT)
    assert len(copies) == 3 and len({m.header.serial for _, m in copies}) == 1   # same serial each time
    waits = retransmit_timeouts(0.3, 3)                                          # 0.3, 0.6, 1.8, 7.2
    sent = stub.sent_at(LOCATION_REPORT)             # when the stub wrote each copy, on its own clock
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    # Never before the wait (T, then 2T: the wait grows); how late a loaded machine runs is not asserted.
    assert len(sent) == 3 and gaps[0] >= waits[0] - 0.01 and gaps[1] >= waits[1] - 0.01, gaps
    platform.pump(2.5)                                # a 3rd retransmission would come 1.8 s after the 2nd
    assert len(platform.of(LOCATION_REPORT)) == 3
    assert stub.counters["retransmissions"] == 2 and not stub.counters["gave_up_0x0200"]


def test_gives_up_after_n_and_uploads_backlog_as_0704(make_stub) -> None:
    answered = {"reports": False}
    stub = make_stub("1.5:open", report_period_s=100.0, heartbeat_period_s=100.0, response_timeout_s=0.15,
                     retries=1)
    platform = Platform(stub.name, answer=lambda m: m.header.message_id != LOCATION_REPORT or answered["reports"])
    stub.start()
    platform.pump(30.0, until=lambda: stub.counters["gave_up_0x0200"] == 1 and len(platform.of(LOCATION_REPORT)) == 2)
    assert len(platform.of(LOCATION_REPORT)) == 2 and stub.counters["gave_up_0x0200"] == 1   # one retry, then kept
    answered["reports"] = True
    platform.pump(3.0, until=lambda: bool(platform.of(BATCH_LOCATION)))
    (_, batch), = platform.of(BATCH_LOCATION)
    assert isinstance(batch.body, BatchLocation) and batch.body.kind == 1
    assert find_lock_status(batch.body.reports[0]).state is LockStateCode.SEALED   # the lost sealed report


def test_2019_header_and_silent_resume(make_stub) -> None:
    stub = make_stub("0.8:silent,2.0:resume", protocol_2019=True, report_period_s=0.3, heartbeat_period_s=100.0,
                     response_timeout_s=0.5)
    platform = Platform(stub.name)
    stub.start()

    def reports_before_resume() -> int | None:
        """How many 0x0200 the stub wrote before it resumed (None: not resumed yet)."""
        log = list(stub.log)
        whats = [what for _, what, _ in log]
        if "event_resume" not in whats:
            return None
        return sum(1 for _, what, mid in log[:whats.index("event_resume")] if what == "sent" and mid == LOCATION_REPORT)

    def got_a_resumed_report() -> bool:
        before = reports_before_resume()
        return before is not None and len(platform.of(LOCATION_REPORT)) > before   # frames arrive in order

    platform.pump(30.0, until=got_a_resumed_report)
    assert all(m.header.version == "2019" for _, m in platform.seen)
    log = [what for _, what, _ in list(stub.log)]
    silent, resume = log.index("event_silent"), log.index("event_resume")
    assert "sent" in log[:silent]                            # it spoke before going silent
    assert log[silent + 1:resume] == []                      # nothing at all while silent
    assert got_a_resumed_report()                            # back after resume, and the platform got it


def test_lock_action_reports_the_next_lock_at_once(make_stub) -> None:
    # With a 100 s period, each report after the first was sent at once on the scripted lock change.
    stub = make_stub("0.6:opened,1.2:lock=SEAL-0042,1.8:lock=SEAL-0043", report_period_s=100.0,
                     heartbeat_period_s=100.0, response_timeout_s=0.5)
    platform = Platform(stub.name)
    stub.start()

    def seen() -> list[tuple[str, LockStateCode]]:
        return [(s.lock_id, s.state) for _, m in platform.of(LOCATION_REPORT) if (s := find_lock_status(m.body))]

    platform.pump(30.0, until=lambda: ("SEAL-0043", LockStateCode.SEALED) in seen())
    assert seen() == [("KL-T1", LockStateCode.SEALED), ("KL-T1", LockStateCode.OPENED),
                      ("SEAL-0042", LockStateCode.SEALED), ("SEAL-0043", LockStateCode.SEALED)]
    assert stub.counters["event_lock"] == 2


def test_link_follows_a_restarted_stub(make_stub, tmp_path: Path) -> None:
    link = tmp_path / "lock0"
    first = make_stub(link=link)
    assert link.resolve() == Path(first.name).resolve()
    first.stop()
    second = make_stub(link=link, response_timeout_s=0.3)   # pyserial's open flushes what came before
    assert link.resolve() == Path(second.name).resolve()
    second.start()
    platform = Platform(str(link))
    platform.pump(30.0, until=lambda: bool(platform.of(REGISTRATION)))
    assert platform.of(REGISTRATION)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_speaks_on_its_pty_and_a_signal_removes_the_link_and_prints_its_counters(
        tmp_path: Path, stop_signal: signal.Signals) -> None:
    link = tmp_path / "lock-cli"
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "sim", "smart-lock", "--serial", "--link", str(link),
                             "--response-timeout", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = proc.stdout.readline() if proc.stdout else ""   # printed once the link exists
        assert first_line.startswith("/dev/pts/") and str(link) in first_line and link.is_symlink()
        platform = Platform(str(link))
        platform.pump(30.0, until=lambda: bool(platform.of(LOCATION_REPORT)))
        assert platform.ids()[:2] == [REGISTRATION, AUTHENTICATION] and platform.of(LOCATION_REPORT)
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=30)
        platform.port.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert not link.is_symlink() and not link.exists()
    counters = ast.literal_eval(err.strip().splitlines()[-1])   # the counters, the last line on stderr
    assert counters["sent_0x0100"] >= 1 and counters["reports"] >= 1, err


def test_cli_duration_ends_the_stub_by_itself(tmp_path: Path) -> None:
    link = tmp_path / "lock-timed"
    result = subprocess.run([sys.executable, "-m", "edge.cli", "sim", "smart-lock", "--serial", "--link", str(link),
                             "--duration", "0.5"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/dev/pts/") and not link.is_symlink()
    assert isinstance(ast.literal_eval(result.stderr.strip().splitlines()[-1]), dict)   # the counters


def test_bad_event_script_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "edge.cli", "sim", "smart-lock", "--serial", "--events",
                             "5:explode"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown action 'explode'" in result.stderr
