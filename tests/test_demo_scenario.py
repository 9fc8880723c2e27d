"""The demo's trucks (edge/commands/demo_scenario.py): a stream that is mostly clean with every
problem in each cycle, valid declarations, and stub scripts that the stubs accept and that put
each truck's readings in the order the passage rules need."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from edge.commands import demo_scenario as scenario
from edge.passages.declarations import parse_json
from firmware_stubs.empty_box import parse_events as empty_box_events
from firmware_stubs.iris_reader import parse_events as iris_events
from firmware_stubs.lock_events import parse_events as lock_events
from firmware_stubs.scanner import parse_scanner_events
from firmware_stubs.under_vehicle import parse_events as pass_events

PARSERS = {"uvss": pass_events, "lock-serial": lock_events, "lock-mqtt": lock_events, "iris": iris_events,
           "empty-box": empty_box_events, "scanner": parse_scanner_events}


def entries(script: str) -> list[tuple[float, str]]:
    return [(float(at), what) for at, _, what in (e.partition(":") for e in script.split(","))]


def test_container_numbers_carry_their_iso6346_check_digit() -> None:
    assert scenario.container_number("CSQU", 305438) == "CSQU3054383"   # the standard's own example
    assert scenario.container_number("MSKU", 123456) == "MSKU1234565"


def test_the_stream_is_mostly_clean_with_every_problem_in_each_cycle() -> None:
    vehicles = scenario.stream(3 * len(scenario.CYCLE), run=1)
    cycle = len(scenario.CYCLE)
    for start in range(0, len(vehicles), cycle):
        problems = Counter(v.problem for v in vehicles[start:start + cycle])
        assert set(problems) - {None} == set(scenario.PROBLEMS) and max(problems[p] for p in scenario.PROBLEMS) == 1
        assert 0.55 <= problems[None] / cycle <= 0.65
    runs = [len(list(group)) for group in "".join("c" if v.problem is None else "p" for v in vehicles).split("p")]
    assert all(1 <= run <= 2 for run in runs[1:-1]), "problems spread out: one or two clean trucks between"
    # fresh trucks every cycle: no container or lock twice, and no plate or card twice but the
    # truck back with something under it (found by comparing it with its own last clean pass)
    for key in ("container", "lock_id"):
        values = [getattr(v, key) for v in vehicles]
        assert len(set(values)) == len(values), key
    for key in ("plate", "driver_card"):
        values = [getattr(v, key) for v in vehicles if v.problem != "object_under"]
        assert len(set(values)) == len(values), key
    for n, truck in enumerate(vehicles):
        if truck.problem == "object_under":
            earlier = [v for v in vehicles[:n] if v.plate == truck.plate]
            assert earlier and earlier[-1].problem is None and earlier[-1].driver_card == truck.driver_card
            assert truck.arrive_s - earlier[-1].arrive_s >= scenario.RETURN_S  # its clean pass decided by then
    gaps = [b.arrive_s - a.arrive_s for a, b in zip(vehicles, vehicles[1:])]
    plain = [g for g, a, b in zip(gaps, vehicles, vehicles[1:])
             if a.problem not in scenario.TAIL_S and b.problem not in scenario.LEAD_S]
    assert min(plain) >= 15 and max(plain) <= 20 and 17 <= sum(plain) / len(plain) <= 19


def test_declarations_are_valid_and_the_undeclared_truck_has_none() -> None:
    vehicles = scenario.stream(len(scenario.CYCLE), run=4)
    lines = scenario.declarations_jsonl(vehicles).splitlines()
    declared = [parse_json(line, f"line {n}") for n, line in enumerate(lines, 1)]
    assert [d.plate for d in declared] == [v.plate for v in vehicles if v.problem != "undeclared"]
    by_id = {v.declaration_id: v for v in vehicles}
    for declaration in declared:
        truck = by_id[declaration.id]
        (container,) = declaration.containers
        assert (declaration.driver_card, container.number, container.lock_id) == (
            truck.driver_card, truck.container, truck.lock_id)
        assert container.declared_empty == (truck.problem != "scan_referred")
        assert json.loads(lines[0])["declared_at"] is None   # declared when the edge loads it


@pytest.mark.parametrize("make", [lambda: scenario.stream(2 * len(scenario.CYCLE), run=7),
                                  lambda: scenario.sampler(run=1)], ids=["stream", "sampler"])
def test_every_stub_accepts_its_script_and_each_truck_meets_the_camera_first(make) -> None:
    vehicles = make()
    scripts = scenario.scripts(vehicles)
    assert set(scripts) == set(PARSERS)
    for device, script in scripts.items():
        assert PARSERS[device](script), device
    for lock in ("lock-serial", "lock-mqtt"):   # silent until their first lock: no idle lock opens a passage
        first = entries(scripts[lock])
        assert first[0] == (0.0, "silent") and first[1][1].startswith("lock=") and first[2] == (first[1][0], "resume")
    passes = [at for at, _ in entries(scripts["uvss"])]
    assert passes == [v.arrive_s for v in vehicles]
    for device in ("lock-serial", "iris", "empty-box", "scanner"):
        for at, what in entries(scripts[device]):
            if what in ("silent", "resume"):
                continue
            truck = max((v for v in vehicles if v.arrive_s <= at), key=lambda v: v.arrive_s)
            assert 2 <= at - truck.arrive_s <= 5, (device, what)   # after its pass, before the next truck
            assert any(key in what for key in (truck.lock_read, truck.driver_card, truck.container)), (device, what)


def test_each_problem_is_played_by_the_device_it_concerns() -> None:
    vehicles = scenario.sampler(run=1)
    scripts = {device: entries(script) for device, script in scenario.scripts(vehicles).items()}
    by_problem = {v.problem: v for v in vehicles}
    said = {device: " ".join(what for _, what in items) for device, items in scripts.items()}
    assert f"pass={by_problem['object_under'].plate}/object=box" in said["uvss"]
    assert f"present={by_problem['iris_impostor'].driver_card}/impostor" in said["iris"]
    assert f"present={by_problem['iris_poor'].driver_card}/poor" in said["iris"]
    assert by_problem["iris_silent"].driver_card not in said["iris"]
    wrong = by_problem["wrong_lock"]
    assert wrong.lock_read != wrong.lock_id and f"lock={wrong.lock_read}" in said["lock-serial"]
    assert f"truck={by_problem['not_empty'].container}/full/declared=empty" in said["empty-box"]
    loaded = by_problem["scan_referred"]
    assert f"truck={loaded.container}/full/declared=loaded" in said["empty-box"]
    assert f"scan={loaded.container}/cargo/dual/plate={loaded.plate}" in said["scanner"]
    # the lock opened in transit: lock=, opened, sealed on the uplink before the truck arrives, nothing between
    transit = by_problem["transit_opened"]
    uplink = scripts["lock-mqtt"]
    at = uplink.index((transit.arrive_s + scenario.TRANSIT_AT[0], f"lock={transit.lock_id}"))
    assert [what for _, what in uplink[at:at + 3]] == [f"lock={transit.lock_id}", "opened", "sealed"]
    assert uplink[at + 2][0] < transit.arrive_s < uplink[at + 3][0]
    assert by_problem["undeclared"].declaration() is None
    assert {v.expected_reason for v in vehicles} == {None, *(p.code for p in scenario.PROBLEMS.values())}


def test_the_sampler_has_each_problem_once_and_two_clean_within_the_test_budget() -> None:
    vehicles = scenario.sampler(run=1)
    assert Counter(v.problem for v in vehicles) == {None: 2, **dict.fromkeys(scenario.PROBLEMS, 1)}
    assert vehicles[-1].arrive_s <= 75
    line = scenario.describe(vehicles)
    assert "\n" not in line and line.startswith("11 trucks") and "nobody declared it" in line
