"""The demo lane's trucks: who comes when, what each declared and what goes wrong, turned into
the advance declarations (JSON lines) and each device stub's `--events` script.

Pure functions, so the scenario is tested without a lane (tests/test_demo_scenario.py). Each
truck has a plate, a driver's card, one container (ISO 6346, check digit and all), the lock on
it, what it declared, and one problem or none. At the lane it meets the devices in the order a
truck drives through: the under-vehicle camera (its plate, so its passage opens first), the lock
reader, the lock's own MQTT uplink, the iris reader, the empty-box detector, the scanner. Times
are seconds from the stubs' common start (KOUAN_SIM_EPOCH, firmware_stubs/script_clock.py); the
devices after the camera come a few seconds after it, so that the camera's pass (the plate) opens
the passage, and a truck whose readings only join the lane's newest passage (one nobody declared,
or a wrong lock) gets a few seconds more before the next truck.

The under-vehicle camera's passes are judged by comparing each with the same plate's last clean
pass, so the truck with something strapped under it is a shuttle truck back on its next trip: it
has the plate and driver of the last clean truck at least RETURN_S before it (another container,
another lock), whose passage is decided by then, so its pass is on file as the reference.

At this lane the scanner refers every loaded container to central review (`refer = "loaded"`),
so a truck that passes clean is one bringing an empty container back; a loaded one is the
`scan_referred` problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from drivers.iso6346 import iso6346_check_digit


@dataclass(frozen=True)
class Problem:
    """One way a truck is not clean: the reason code its passage must hold for, in words."""

    code: str
    words: str


PROBLEMS: dict[str, Problem] = {
    "transit_opened": Problem("lock_opened", "lock opened and sealed again in transit"),
    "wrong_lock": Problem("lock_not_declared", "a lock other than the declared one"),
    "iris_impostor": Problem("iris_mismatch", "someone else's eye on the driver's card"),
    "iris_poor": Problem("iris_poor", "poor iris capture"),
    "object_under": Problem("foreign_object", "a box strapped under the vehicle"),
    "not_empty": Problem("not_empty", "declared empty, not empty"),
    "scan_referred": Problem("scan_referred", "loaded: scan referred to central review"),
    "iris_silent": Problem("device_missing", "no iris presentation (the reader is silent for it)"),
    "undeclared": Problem("vehicle_not_declared", "nobody declared it"),
}

# One cycle of the stream: 14 clean trucks of 23 (61 %), every problem once, spread out.
CYCLE: tuple[str | None, ...] = (
    None, "iris_impostor", None, "object_under", None, None, "wrong_lock", None, "not_empty", None, None,
    "transit_opened", None, "iris_silent", None, None, "scan_referred", None, "iris_poor", None, None,
    "undeclared", None)
# The sampler (the demo test): each problem once and two clean, the slow one (a silent device) early.
SAMPLER: tuple[str | None, ...] = (
    None, "iris_silent", "transit_opened", "iris_impostor", "wrong_lock", "not_empty", "undeclared",
    "object_under", "iris_poor", "scan_referred", None)

# When each device sees a truck, in seconds after it reaches the under-vehicle camera.
LOCK_READER_AT = 2.5
UPLINK_AT = 3.0
IRIS_AT = 3.0
EMPTY_BOX_AT = 3.5
SCANNER_AT = 4.0
TRANSIT_AT = (-3.5, -2.5, -1.5)  # the uplink of a lock opened in transit: lock=ID, opened, sealed
LEAD_S = {"transit_opened": 4.0}  # more time before it: its uplink plays while the lane is free
TAIL_S = {"undeclared": 3.0, "wrong_lock": 3.0}  # more time after it: its readings join the newest passage
RETURN_S = 30.0  # a shuttle truck's turnaround at least: its clean pass is decided and on file when it is back

_REGIONS = (("新", "F"), ("新", "A"), ("苏", "E"), ("甘", "B"), ("陕", "A"), ("豫", "C"), ("鲁", "B"), ("川", "A"))
_OWNERS = ("CSQU", "MSKU", "TGHU", "OOLU", "CMAU", "TCLU")
VEHICLE_TYPE = "tractor_trailer"  # a container lane: tractors with a trailer


def container_number(owner: str, serial: int) -> str:
    """An ISO 6346 number: owner code and category (4 letters), 6-digit serial, its check digit."""
    first_ten = f"{owner}{serial % 1_000_000:06d}"
    return first_ten + str(iso6346_check_digit(first_ten))


@dataclass(frozen=True)
class Vehicle:
    """One truck: who and what it is, what it declared, when it arrives, its problem (None: clean)."""

    number: int  # in this run, from 0
    run: int
    arrive_s: float  # at the under-vehicle camera, seconds from the stubs' start
    plate: str
    driver_card: str
    container: str
    lock_id: str
    declared_empty: bool
    problem: str | None = None

    @property
    def declaration_id(self) -> str:
        return f"DEMO-{self.run:03d}-{self.number:04d}"

    @property
    def expected_reason(self) -> str | None:
        """The reason code its passage must hold for (None: released by the machine)."""
        return PROBLEMS[self.problem].code if self.problem else None

    @property
    def lock_read(self) -> str:
        """The lock the truck really carries (the lane reads it)."""
        return f"{self.lock_id}X" if self.problem == "wrong_lock" else self.lock_id

    @property
    def empty(self) -> bool:
        """Whether its container really is empty."""
        return self.declared_empty and self.problem != "not_empty"

    def declaration(self) -> dict[str, object] | None:
        """Its advance declaration as the single window sends it (None: nobody declared it)."""
        if self.problem == "undeclared":
            return None
        return {"id": self.declaration_id, "plate": self.plate, "trailer": None, "driver_card": self.driver_card,
                "cargo": "empty container, returning" if self.declared_empty else "machine parts, 18 pallets",
                "containers": [{"number": self.container, "lock_id": self.lock_id,
                                "declared_empty": self.declared_empty}], "declared_at": None}


def make_vehicle(run: int, number: int, arrive_s: float, problem: str | None) -> Vehicle:
    """Truck `number` of run `run`: its plate, card, container and lock are its own (no two trucks
    of a run, nor of runs in a row, share one: a key shared within the match window joins passages)."""
    if problem is not None and problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r} (known: {', '.join(PROBLEMS)})")
    ident = run % 100 * 1000 + number
    province, letter = _REGIONS[number % len(_REGIONS)]
    return Vehicle(
        number=number, run=run, arrive_s=round(arrive_s, 1), plate=f"{province}{letter}{ident % 100_000:05d}",
        driver_card=f"CARD{ident:06d}", container=container_number(_OWNERS[number % len(_OWNERS)], ident),
        lock_id=f"SEAL-{ident:06d}", declared_empty=problem != "scan_referred", problem=problem)


def schedule(problems: Sequence[str | None], run: int, first_s: float, spacing_s: float,
             jitter_s: float = 0.0) -> list[Vehicle]:
    """Trucks with these problems in this order, the first at `first_s`, then one every `spacing_s`
    (give or take `jitter_s`, the same every run), with more room around those that need it."""
    vehicles: list[Vehicle] = []
    at = first_s
    for number, problem in enumerate(problems):
        if number:
            swing = ((number * 37) % 5 - 2) / 2 * jitter_s  # -jitter .. +jitter in five steps
            at += spacing_s + swing + TAIL_S.get(problems[number - 1] or "", 0.0) + LEAD_S.get(problem or "", 0.0)
        elif problem in LEAD_S:
            at += LEAD_S[problem]
        vehicle = make_vehicle(run, number, at, problem)
        if problem == "object_under":  # a shuttle truck back on its next trip, something strapped under it now
            earlier = next((v for v in reversed(vehicles)
                            if v.problem is None and vehicle.arrive_s - v.arrive_s >= RETURN_S), None)
            if earlier is None:
                raise ValueError("an object under a truck is found by comparing it with its last clean pass: "
                                 f"a clean truck must come at least {RETURN_S:.0f} s before it")
            vehicle = replace(vehicle, plate=earlier.plate, driver_card=earlier.driver_card)
        vehicles.append(vehicle)
    return vehicles


def stream(count: int, run: int, first_s: float = 10.0, spacing_s: float = 18.0) -> list[Vehicle]:
    """The demo's stream: `count` trucks, the cycle over and over with fresh trucks, ~2 s jitter."""
    return schedule([CYCLE[i % len(CYCLE)] for i in range(count)], run, first_s, spacing_s, jitter_s=2.0)


def sampler(run: int, first_s: float = 9.0, spacing_s: float = 5.0) -> list[Vehicle]:
    """Each problem once and two clean trucks, as close together as the stubs allow."""
    return schedule(SAMPLER, run, first_s, spacing_s)


def declarations_jsonl(vehicles: Iterable[Vehicle]) -> str:
    """The declarations file: one JSON line per declared truck."""
    lines = [json.dumps(d, ensure_ascii=False) for v in vehicles if (d := v.declaration()) is not None]
    return "".join(line + "\n" for line in lines)


def scripts(vehicles: Sequence[Vehicle]) -> dict[str, str]:
    """Each stub's `--events` script, by demo device id (uvss, lock-serial, lock-mqtt, iris, empty-box,
    scanner). Both lock stubs are silent until their first lock (they would report an idle lock id
    that no truck carries, and open a passage for it)."""
    entries: dict[str, list[tuple[float, str]]] = {d: [] for d in ("uvss", "lock-serial", "lock-mqtt", "iris",
                                                                    "empty-box", "scanner")}
    for v in vehicles:
        t = v.arrive_s
        look = "object=box" if v.problem == "object_under" else "clean"
        entries["uvss"].append((t, f"pass={v.plate}/{look}/type={VEHICLE_TYPE}"))
        entries["lock-serial"].append((t + LOCK_READER_AT, f"lock={v.lock_read}"))
        if v.problem == "transit_opened":
            entries["lock-mqtt"] += [(t + TRANSIT_AT[0], f"lock={v.lock_id}"), (t + TRANSIT_AT[1], "opened"),
                                     (t + TRANSIT_AT[2], "sealed")]
        else:
            entries["lock-mqtt"].append((t + UPLINK_AT, f"lock={v.lock_read}"))
        if v.problem != "iris_silent":
            eye = {"iris_impostor": "impostor", "iris_poor": "poor"}.get(v.problem or "", "genuine")
            entries["iris"].append((t + IRIS_AT, f"present={v.driver_card}/{eye}"))
        declared = "unknown" if v.problem == "undeclared" else "empty" if v.declared_empty else "loaded"
        entries["empty-box"].append((t + EMPTY_BOX_AT, f"truck={v.container}/{'empty' if v.empty else 'full'}"
                                                        f"/declared={declared}"))
        cargo = "empty" if v.empty else "cargo" if v.declared_empty else "cargo/dual"
        entries["scanner"].append((t + SCANNER_AT, f"scan={v.container}/{cargo}/plate={v.plate}"))
    for lock in ("lock-serial", "lock-mqtt"):
        first = min((at for at, _ in entries[lock]), default=None)
        entries[lock] += [(0.0, "silent")] + ([(first, "resume")] if first is not None else [])
    return {device: ",".join(f"{at:.1f}:{what}" for at, what in sorted(items, key=lambda e: e[0]))
            for device, items in entries.items()}


def describe(vehicles: Sequence[Vehicle]) -> str:
    """The scenario in one line, for the demo's start."""
    if not vehicles:
        return "no trucks"
    clean = sum(1 for v in vehicles if v.problem is None)
    span = vehicles[-1].arrive_s - vehicles[0].arrive_s
    each = span / (len(vehicles) - 1) if len(vehicles) > 1 else 0.0
    seen = list(dict.fromkeys(v.problem for v in vehicles if v.problem))
    return (f"{len(vehicles)} trucks, one every ~{each:.0f} s from {vehicles[0].arrive_s:.0f} s "
            f"({span / 60:.0f} min), {clean * 100 // len(vehicles)} % clean; the others: "
            + "; ".join(PROBLEMS[p].words for p in seen))
