"""The Modbus RTU poller against the empty-box stub (pymodbus's RTU server) over real ptys."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusSerialClient

from drivers.backoff import Backoff
from drivers.empty_box import BLOCKS, HOLDING_BLOCK, INPUT_BLOCK, EmptyBoxReading, ScanState
from drivers.modbus_rtu import (
    READ_INPUT, ModbusExceptionResponse, ModbusNotConnected, ModbusRtuPoller, Poll, RegisterBlock,
)
from firmware_stubs.empty_box import DetectorConfig, EmptyBoxStub, parse_events
from tests.serial_harness import wait_for


class Seen:
    """What the poller hands to its callbacks (from its thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.polls: list[Poll] = []
        self.states: list[tuple[bool, str]] = []

    def on_poll(self, poll: Poll) -> None:
        with self.lock:
            self.polls.append(poll)

    def on_state(self, connected: bool, reason: str) -> None:
        with self.lock:
            self.states.append((connected, reason))

    def readings(self) -> list[EmptyBoxReading]:
        with self.lock:
            polls = list(self.polls)
        return [EmptyBoxReading.from_registers(p.of(INPUT_BLOCK), "eb1", p.of(HOLDING_BLOCK)) for p in polls]

    def state_list(self) -> list[tuple[bool, str]]:
        with self.lock:
            return list(self.states)


@pytest.fixture
def stubs() -> Iterator[Callable[..., EmptyBoxStub]]:
    made: list[EmptyBoxStub] = []

    def make(events: str = "", link: Path | None = None, start: bool = True, **overrides: object) -> EmptyBoxStub:
        config = DetectorConfig(startup_s=0.2, trigger_s=0.1, scan_s=0.1, events=parse_events(events), **overrides)
        stub = EmptyBoxStub(config, link=link)
        made.append(stub)
        if start:
            stub.start()
        return stub

    yield make
    for stub in made:
        stub.stop()


@pytest.fixture
def pollers() -> Iterator[Callable[..., tuple[ModbusRtuPoller, Seen]]]:
    made: list[ModbusRtuPoller] = []

    def make(port: str, blocks: tuple[RegisterBlock, ...] = BLOCKS, **kw: object) -> tuple[ModbusRtuPoller, Seen]:
        seen = Seen()
        kw = {"period_s": 0.05, "timeout_s": 0.2, "backoff": Backoff(initial=0.05, maximum=0.2), **kw}
        poller = ModbusRtuPoller(port, blocks, seen.on_poll, seen.on_state, **kw)  # type: ignore[arg-type]
        made.append(poller)
        poller.start()
        return poller, seen

    yield make
    for poller in made:
        poller.stop()


def test_polls_the_blocks_and_a_write_reaches_the_device(stubs, pollers) -> None:
    stub = stubs("0.3:truck=CSQU3054383/empty")
    poller, seen = pollers(stub.name)                     # default 8E1: the pty takes it without parity
    wait_for(lambda: any(r.result_ready for r in seen.readings()), 20, "a result-ready poll")
    ready = next(r for r in seen.readings() if r.result_ready)
    assert (ready.sequence, ready.container, ready.declared_empty) == (1, "CSQU3054383", True)
    assert seen.state_list()[0][0] is True
    poller.write_register(0, ready.sequence)              # acknowledge: back to idle
    wait_for(lambda: seen.readings()[-1].scan_state is ScanState.IDLE, 10, "idle after the acknowledgement")
    assert seen.readings()[-1].acknowledged == 1 and stub.counters["acks"] == 1
    poller.write_registers(0, [5])
    wait_for(lambda: seen.readings()[-1].acknowledged == 5, 10, "the 0x10 write read back")
    poller.stop()                                         # no request in flight while the counters are read
    stats = poller.stats()
    assert stats.writes == 2 and stats.complete_polls >= 3 and stats.answers == stats.requests
    assert stats.timeouts == stats.exceptions == stats.crc_errors == 0


def test_link_lost_when_the_device_goes_silent_and_back_when_it_resumes(stubs, pollers) -> None:
    stub = stubs("0.6:silent,1.4:resume")
    poller, seen = pollers(stub.name)
    wait_for(lambda: [c for c, _ in seen.state_list()] == [True, False, True], 20, "up, down, up")
    states = seen.state_list()
    assert states[1][1].startswith("no answer within 0.2 s to 0x04 at 0x0000")
    stats = poller.stats()
    assert stats.timeouts >= 2 and stats.port_errors == 0 and stats.reconnects == 0   # the port stayed open
    assert stub.counters["requests_unanswered"] >= 2
    heartbeats = [r.heartbeat for r in seen.readings()]
    assert heartbeats == sorted(heartbeats)


def test_exception_responses_are_counted_by_code_and_mark_the_link_down(stubs, pollers) -> None:
    stub = stubs()
    beyond = RegisterBlock(READ_INPUT, 0x0010, 8)          # 0x0014 onwards does not exist
    poller, seen = pollers(stub.name, blocks=(INPUT_BLOCK, beyond))
    wait_for(lambda: poller.stats().exceptions >= 2 and seen.state_list(), 20, "two exception answers")
    stats = poller.stats()
    assert stats.exceptions_by_code.get(2, 0) >= 2 and stats.complete_polls == 0 and not seen.polls
    assert seen.state_list()[0] == (False, "exception 0x02 illegal data address to 0x04 at 0x0010")
    with pytest.raises(ModbusExceptionResponse) as refused:
        poller.write_register(0x0005, 1)                    # no such holding register
    assert refused.value.code == 2


def test_a_poll_that_fails_in_an_undocumented_way_is_counted_and_polling_goes_on(
        stubs, pollers, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = stubs()
    original = ModbusSerialClient.read_input_registers
    calls = {"n": 0}

    def flaky(client: ModbusSerialClient, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] in (2, 3):  # what a pymodbus release might raise that it does not document
            raise AttributeError("'NoneType' object has no attribute 'registers'")
        return original(client, *args, **kwargs)

    monkeypatch.setattr(ModbusSerialClient, "read_input_registers", flaky)
    poller, seen = pollers(stub.name)
    wait_for(lambda: poller.stats().complete_polls >= 4, 20, "polls going on after the errors")
    assert poller.stats().unexpected_errors == 2 and "AttributeError" in poller.stats().last_error


def test_spoilt_crc_is_counted_and_the_poll_fails(stubs, pollers) -> None:
    stub = stubs("0.5:crc=3")
    poller, seen = pollers(stub.name)
    wait_for(lambda: poller.stats().crc_errors >= 3 and poller.connected, 20, "three bad CRCs, then answers again")
    assert stub.counters["answers_spoiled"] == 3
    assert any(not up and "bad CRC in answer" in why for up, why in seen.state_list())


def test_other_unit_ids_are_ignored_like_a_shared_bus(stubs, pollers) -> None:
    stub = stubs(unit=3)
    poller, seen = pollers(stub.name, unit=4, down_after=1)
    wait_for(lambda: bool(seen.state_list()), 20, "the link reported down")
    assert seen.state_list()[0][0] is False and stub.counters["requests_other_unit"] >= 1
    assert stub.counters["answers"] == 0 and poller.stats().timeouts >= 1


def test_link_refound_after_a_restarted_stub(stubs, pollers, tmp_path: Path) -> None:
    link = tmp_path / "ebox"
    first = stubs(link=link)
    poller, seen = pollers(str(link))
    wait_for(lambda: poller.connected, 20, "first stub answering")
    first.stop()                                            # pty closed, link removed
    wait_for(lambda: not poller.connected, 20, "the link lost with the stub")
    lost = [why for up, why in seen.state_list() if not up]
    assert lost and ("port" in lost[0] or "no answer" in lost[0]), lost
    second = stubs(link=link, events="0.3:truck=MSKU1234565/full")
    wait_for(lambda: poller.connected and seen.readings()[-1].container == "MSKU1234565", 30, "the new stub's scan")
    assert [c for c, _ in seen.state_list()][-1] is True and poller.stats().connects >= 2
    assert second.counters["requests"] >= 1


def test_missing_port_is_named_and_writes_refused(pollers, tmp_path: Path) -> None:
    path = tmp_path / "nothing"
    poller, seen = pollers(str(path))
    wait_for(lambda: bool(seen.state_list()), 10, "a state report")
    assert seen.state_list()[0] == (False, f"port missing: {path}")
    with pytest.raises(ModbusNotConnected):
        poller.write_register(0, 1)
    assert len(seen.state_list()) == 1                      # reported once, however often it retries


def test_bad_blocks_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="0x03 or 0x04"):
        RegisterBlock(0x01, 0, 1)
    with pytest.raises(ValueError, match="over 125"):
        RegisterBlock(READ_INPUT, 0, 126)
    with pytest.raises(ValueError, match="unit id"):
        ModbusRtuPoller("/dev/null", BLOCKS, lambda p: None, unit=300)
