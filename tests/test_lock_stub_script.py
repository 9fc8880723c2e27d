"""The lock stub's script grammar and state, without a transport: `lock=ID` makes one stub play
successive locks (the demo's lane reader and transit uplink), and the older actions are unchanged;
and the script clock that several stubs share (KOUAN_SIM_EPOCH)."""

from __future__ import annotations

import time

import pytest

from drivers.jt808.lock_items import LockStateCode
from firmware_stubs.lock_events import ScriptedEvent, SimLock, parse_events
from firmware_stubs.script_clock import ENV, script_origin


def test_lock_action_parses_with_its_id_beside_the_older_actions() -> None:
    events = parse_events("5:tamper, 2:lock=SEAL-0042,8:battery=10,9:lock=KL_7.b,12:silent")
    assert events == [ScriptedEvent(2.0, "lock", lock_id="SEAL-0042"), ScriptedEvent(5.0, "tamper"),
                      ScriptedEvent(8.0, "battery", 10), ScriptedEvent(9.0, "lock", lock_id="KL_7.b"),
                      ScriptedEvent(12.0, "silent")]


@pytest.mark.parametrize("entry", ["3:lock", "3:lock=", "3:lock=SEAL 42", "3:lock=SEAL/42", "3:lock=" + "X" * 33,
                                   "3:lock=封条1"])
def test_lock_action_needs_a_plain_id(entry: str) -> None:
    with pytest.raises(ValueError, match=r"lock needs an id .*e\.g\. lock=SEAL-0042") as refused:
        parse_events(entry)
    assert repr(entry) in str(refused.value)


def test_a_value_on_an_action_that_takes_none_is_still_refused() -> None:
    with pytest.raises(ValueError, match="tamper takes no value"):
        parse_events("1:tamper=SEAL-1")


def test_lock_change_is_a_fresh_sealed_lock_and_always_reports() -> None:
    lock = SimLock("SEAL-0001", battery_pct=40)
    assert lock.apply(ScriptedEvent(1.0, "shell_opened"))
    assert lock.status().state is LockStateCode.TAMPERED and lock.status().shell_opened
    assert lock.apply(ScriptedEvent(2.0, "lock", lock_id="SEAL-0002"))
    status = lock.status()
    assert (status.lock_id, status.state, status.rope_cut, status.shell_opened, status.battery_pct) == (
        "SEAL-0002", LockStateCode.SEALED, False, False, 40)   # a new lock; the stub's battery stays
    # the same lock read again changes nothing in its status, but is reported (it has just been read)
    assert lock.apply(ScriptedEvent(3.0, "lock", lock_id="SEAL-0002"))
    assert lock.status() == status
    assert not lock.apply(ScriptedEvent(4.0, "sealed"))      # older actions: a report only on a change


def test_script_time_counts_from_the_shared_epoch_when_one_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert abs(script_origin() - time.monotonic()) < 0.05   # alone: from the stub's own start
    monkeypatch.setenv(ENV, f"{time.time() - 5:.3f}")       # started 5 s after the shared time 0
    assert abs(time.monotonic() - script_origin() - 5) < 0.05
    monkeypatch.setenv(ENV, f"{time.time() + 3:.3f}")       # time 0 still to come: nothing due for 3 s
    assert abs(script_origin() - time.monotonic() - 3) < 0.05
    monkeypatch.setenv(ENV, "soon")
    assert abs(script_origin() - time.monotonic()) < 0.05   # unreadable: logged, from its own start
