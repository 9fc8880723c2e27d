"""Lock state changes become events once; repeats of the same state say nothing."""

from edge.kinds.smart_lock.events import derive_lock_events


def state(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"lock_id": "L1", "state": "sealed", "rope_cut": False, "shell_opened": False, "battery_pct": 80}
    base.update(kw)
    return base


def names(prev: dict[str, object] | None, cur: dict[str, object]) -> list[str]:
    return [e.event for e in derive_lock_events(prev, cur, 20)]


def test_first_report_is_announced() -> None:
    assert names(None, state()) == ["first_seen"]
    assert names(None, state(state="tampered", rope_cut=True, battery_pct=5)) == ["first_seen", "tampered", "battery_low"]


def test_repeated_state_is_silent() -> None:
    assert names(state(), state()) == []


def test_sequence_sealed_opened_tampered() -> None:
    assert names(state(), state(state="opened")) == ["opened"]
    events = derive_lock_events(state(state="opened"), state(state="tampered", rope_cut=True), 20)
    assert [(e.event, e.detail) for e in events] == [("tampered", "rope cut")]
    assert names(state(state="tampered", rope_cut=True), state(state="tampered", rope_cut=True, shell_opened=True)) == ["tampered"]


def test_battery_low_crossing_only_once() -> None:
    assert names(state(battery_pct=25), state(battery_pct=20)) == ["battery_low"]
    assert names(state(battery_pct=20), state(battery_pct=15)) == []
