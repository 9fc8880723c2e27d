"""Time from a vehicle's last device reading to its decision on MQTT, against a bare MQTT round trip.

    python bench/passage_decision.py [--vehicles 30] [--slot 2.5] [--order uvss-last|uvss-first]
                                     [--check compare|model|both] [--objects N]

The real edge (`tests.lane_harness.EdgeThread`: `EdgeRuntime` on its own event-loop thread, SQLite
store and media store on disk, web server up) and the real device stubs, all in this process, on
a private Mosquitto started for the run. All five device kinds report for every vehicle:

- smart lock (MQTT, `MqttSmartLock`): one lock per vehicle, the lane's lock reader brought up
  for it and stopped after its decision (it reports at once on connect);
- iris reader (MQTT, `MqttIrisReader`): the driver's card and genuine eye;
- empty-box detector (`EmptyBoxStub`): Modbus RTU on a pty, polled by the edge every 0.2 s, and
  its interior image on MQTT; the container declared empty and found empty;
- container scanner (`MqttScanner`): a TIFF renamed into the watched folder (polled every
  0.2 s), then its notice on MQTT;
- under-vehicle camera (`UnderVehicleCamera`, JPEG, scale chosen so that a tractor-trailer's
  image is 4096 px wide and ~2048 lines long, ~1.8 MB a pass), with analysis ON and the checks
  of `--check`: `compare` (the default, what `kouan demo` runs: `model_check = false`,
  `compare = true`), `model` (`model_check = true`, `compare = false`: the model,
  `models/demo_lane/under_vehicle` if that folder holds a card and a model, else the shipped
  `under_vehicle`; `--model` to choose) or `both`.

With `compare` or `both`, every measured pass has a reference: after the iris enrolment and before
the measured run, an edge on the same store with the under-vehicle camera alone (the same checks)
passes each plate once clean, each under its own declaration (`R-<n>`: the plate only, so that
the measured vehicle's lock, card and container readings share no key with that passage and do
not join it), one every 1 s; each of these passages should be released by the machine
(state released, no holding reason; the first pass only informs, `no_reference`). One that is
held (the model's false alarm on a clean first pass, with `--check both`) leaves its plate with no
reference: it is reported on a line of its own with its reasons, and that vehicle's measured pass
is left out of every other figure. The measured pass is then the plate's second. `--objects N` (default 3 with a comparison, 0
with the model alone) of the measured vehicles carry a box under the vehicle (`object=box`); they
are reported on their own line and left out of the other figures.

Each vehicle has an advance declaration (plate, driver's card, one container with a valid ISO 6346
check digit, declared empty, and its lock) loaded from the `[passages]` declarations file;
`[passages] deadlines` names all five devices with a generous 30 s, so a decision comes from the
last reading, never from a deadline. Iris matching needs enrolled cards: before the measured edge
starts, an edge on the same store runs with the iris reader configured but not waited for (so its
captures open no passage), each card presents two genuine captures, and each card is enrolled
with `edge.kinds.iris.enrol_store.enrol_card` (what `kouan iris enrol --from-captures 2` does).
No reason code is moved to `inform`.

Vehicles come one per `--slot` seconds. With `--order uvss-last` (the default) the under-vehicle
pass is each vehicle's last reading, so its analysis is on the critical path; `--order uvss-first`
puts the pass first and the others after it. The first `--warmup` vehicles are not counted.

"Last reading": the latest hand-over of the vehicle's five readings, each taken as
- MQTT (lock report, iris capture, scanner notice, under-vehicle pass): the moment the stub's
  `paho.Client.publish()` call returned (the message queued in paho, which writes it from its
  network thread; not the PUBACK);
- Modbus (empty-box result): the moment the stub's firmware tick that put the result into the
  input registers let go of the register lock, i.e. from when a poll can read it;
- folder (scanner file): the return of the rename into the watched folder (after the fsyncs); the
  scanner's notice is published after it, so the notice is the scanner's last hand-over.
The empty-box image is published within that same tick, before the result is readable; it is
checked (printed), not counted.

Decision: the first message on `kouan/<lane>/passages/<id>` for that vehicle's passage whose state
is clear, flagged or released, as a paho subscriber in this process receives it (`on_message`).

Baseline: in the same process and on the same broker, a bare paho publish -> on_message round trip
(QoS 1 both ways) of the vehicle's own under-vehicle pass message (the same bytes, on a topic the
edge does not read; with uvss-last that is the last reading), one per vehicle, done in the idle
time after its decision. ratio = edge / baseline (medians, and p99s): how many bare transport
round trips of that message the edge's work amounts to. The aim: p99 under 1.5 s.

Also printed, from each passage's published timeline, the stored analysis readings and a timing
probe around the edge's `MediaStore.put_bytes` (the call itself unchanged): where the time goes
(hand-over -> the intake's media write -> pass received -> analysis received, with the model's
own decode and inference times -> decision on the topic), the three slowest vehicles, and,
afterwards with the edge stopped, the same model on some of the same passes alone.
Stubs and edge share this process (and its GIL) and the machine's cores; the stubs' rendering of
the next vehicle starts only in its own slot.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.private_broker import start_private_broker  # noqa: E402

from decision_lane import (  # noqa: E402  (bench/ is the script's folder, first on sys.path)
    CHECKS, DEVICES, IMAGE_LINES, LANE, OFFSETS, TRAILER_MM, Times, Vehicle, enrol, make_vehicles, references, run,
)

AIM_P99_S = 1.5


def analysis_payloads(db: Path) -> dict[str, dict[str, Any]]:
    """pass id -> the stored analysis payload (the last one stored for that pass)."""
    out = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT payload_json FROM readings WHERE device_id='uvss' AND message='analysis' "
                            "ORDER BY id")
        for (payload,) in rows:
            p = json.loads(payload)
            out[str(p.get("pass_id"))] = p
    return out


def model_alone(model: str, payloads: list[bytes]) -> tuple[list[float], list[float]]:
    """Decode + Detector.infer of the same pass messages with the edge stopped (s each), as the analyser does."""
    from drivers.under_vehicle import decode_pass
    from edge.inference.config import InferenceConfig
    from edge.inference.core import Detector

    detector = Detector.load(model, InferenceConfig())
    decode, infer = [], []
    detector.infer(decode_pass(payloads[0], "uvss").image())   # warm
    for payload in payloads:
        start = time.perf_counter()
        image = decode_pass(payload, "uvss").image()
        mid = time.perf_counter()
        detector.infer(image)
        decode.append(mid - start)
        infer.append(time.perf_counter() - mid)
    return decode, infer


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=30, help="vehicles measured (default 30)")
    parser.add_argument("--warmup", type=int, default=1, help="vehicles before them, not counted (default 1)")
    parser.add_argument("--slot", type=float, default=2.5, help="seconds between vehicles (default 2.5)")
    parser.add_argument("--order", choices=sorted(OFFSETS), default="uvss-last",
                        help="the under-vehicle pass as each vehicle's last reading (default) or first")
    parser.add_argument("--scale", type=float, default=round(IMAGE_LINES * 3.0 / TRAILER_MM, 4),
                        help="camera line-rate fraction (default: ~2048 lines for a 17 m tractor-trailer)")
    parser.add_argument("--model", help="model for the under-vehicle analysis (default: models/demo_lane/"
                        "under_vehicle if it holds a model, else the shipped under_vehicle)")
    parser.add_argument("--check", choices=sorted(CHECKS), default="compare",
                        help="the under-vehicle checks: compare (default, as `kouan demo`: model_check = false, "
                        "compare = true), model (model_check = true, compare = false) or both")
    parser.add_argument("--objects", type=int, metavar="N",
                        help="measured vehicles with a box under them, reported apart (default 3 with a "
                        "comparison, 0 with the model alone)")
    parser.add_argument("--alone", type=int, default=8, metavar="N",
                        help="afterwards, with the edge stopped, decode + infer N of the passes alone (default 8)")
    parser.add_argument("--show-log", type=int, default=6, metavar="N",
                        help="print the N commonest warnings of the run (default 6)")
    args = parser.parse_args()
    if args.model is None:
        demo = ROOT / "models" / "demo_lane" / "under_vehicle"
        args.model = str(demo) if (demo / "card.json").is_file() and (demo / "model.onnx").is_file() \
            else "under_vehicle"
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:200])

    logging.basicConfig(level=logging.WARNING, handlers=[Keep()])
    vehicles = make_vehicles(args.warmup + args.vehicles)
    if args.objects is None:
        args.objects = 0 if args.check == "model" else 3
    n_obj = max(0, min(args.objects, args.vehicles - 1))
    args.object_indices = {args.warmup + int((j + 0.5) * args.vehicles / n_obj) for j in range(n_obj)}
    compares = CHECKS[args.check][1]
    ref_s, ref_shas, ref_held = 0.0, {}, {}
    with tempfile.TemporaryDirectory(prefix="kouan-bench-decision-") as name:
        tmp = Path(name)
        broker, port = start_private_broker(tmp, "max_queued_messages 100000\nmessage_size_limit 0\n")
        try:
            enrol_s = enrol(tmp, port, vehicles)
            if compares:
                ref_s, ref_shas, ref_held = references(args, tmp, port, vehicles)
            result = run(args, tmp, port, args.model, vehicles)
            analyses = analysis_payloads(tmp / "edge.sqlite3")
            payloads = result["times"].last_payload
            alone = model_alone(args.model, [payloads[k] for k in sorted(payloads)[args.warmup:][:args.alone]]) \
                if CHECKS[args.check][0] else ([], [])
        finally:
            broker.terminate()
            try:
                broker.wait(5)
            except subprocess.TimeoutExpired:
                broker.kill()

    times: Times = result["times"]
    wall = time.time() - time.monotonic()   # monotonic -> wall clock (the edge stamps with time.time())
    measured = [v for v in vehicles[args.warmup:] if v.plate not in ref_held]
    with_object = [v for v in measured if v.index in args.object_indices]
    counted = [v for v in measured if v.index not in args.object_indices]

    def analysis_of(v: Vehicle) -> dict[str, Any]:
        passage = times.decided[v.declaration][1]
        ref = next((o["ref"] for o in passage.get("observations", []) if o["device_id"] == "uvss"), "")
        return analyses.get(ref, {})
    latency, base, order_ok, ebox_image_before = [], [], 0, 0
    stage: dict[str, list[float]] = {k: [] for k in ("intake", "transport", "media", "analysis", "decode", "infer",
                                                     "compare", "rest", "publish")}
    per_vehicle: list[tuple[float, int, dict[str, float]]] = []
    by_last: dict[str, list[float]] = {}
    last_devices: dict[str, int] = {}
    heights = [t.height for t in result["truth"]]
    for v in counted:
        handed = times.handed[v.index]
        missing = [d for d in DEVICES if d not in handed]
        if missing:
            raise RuntimeError(f"vehicle {v.index}: no hand-over noted for {missing}")
        last_device = max(handed, key=handed.__getitem__)
        last_devices[last_device] = last_devices.get(last_device, 0) + 1
        last = handed[last_device]
        arrived, passage = times.decided[v.declaration]
        latency.append(arrived - last)
        by_last.setdefault(last_device, []).append(arrived - last)
        base.append(result["baseline"][v.index])
        extra = times.extra.get(v.index, {})
        ebox_image_before += extra.get("ebox image", float("inf")) < last
        order_ok += last_device == "uvss"
        timeline = passage.get("timeline") or []
        pass_at = next((e["at"] for e in timeline if e["what"] == "reading" and "analysing" in e["detail"]
                        and e["detail"].startswith("uvss")), None)
        analysed_at = next((e["at"] for e in timeline if e["what"] == "reading" and e["detail"].startswith("uvss")
                            and "analysing" not in e["detail"]), None)
        if args.order == "uvss-last" and last_device == "uvss" and pass_at and analysed_at:
            a = analysis_of(v)
            decode, infer = float(a.get("decode_ms", "nan")), float(a.get("ms", 0.0))
            comp = float((a.get("comparison") or {}).get("ms", 0.0))
            put = times.media_put.get(v.index, (float("nan"), float("nan")))
            mine = {"intake": pass_at - (handed["uvss"] + wall), "transport": put[0] - handed["uvss"],
                    "media": put[1] - put[0], "analysis": analysed_at - pass_at, "decode": decode / 1000,
                    "infer": infer / 1000, "compare": comp / 1000,
                    "rest": analysed_at - pass_at - (decode + infer + comp) / 1000,
                    "publish": (arrived + wall) - passage["decided_at"]}
            for key, value in mine.items():
                stage[key].append(value)
            per_vehicle.append((arrived - last, v.index, mine))
    states: dict[str, int] = {}
    for v in counted:
        state = times.decided[v.declaration][1]["state"]
        states[state] = states.get(state, 0) + 1
    held = sorted({r["code"] for v in counted for r in times.decided[v.declaration][1]["reasons"] if r["holds"]})

    load = os.getloadavg()
    med, p99 = statistics.median(latency), pct(latency, 99)
    bmed, bp99 = statistics.median(base), pct(base, 99)
    sizes = [times.sizes[v.index] for v in counted]
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"lane: 5 devices (smart lock MQTT, iris MQTT, empty-box Modbus RTU + MQTT image, scanner folder + "
          f"MQTT notice, under-vehicle MQTT with analysis: {'model ' + args.model if CHECKS[args.check][0] else ''}"
          f"{' + ' if CHECKS[args.check] == (True, True) else ''}{'comparison' if CHECKS[args.check][1] else ''}); deadlines 30 s each; "
          f"vehicles {args.vehicles} (+{args.warmup} warm-up), one every {args.slot:g} s; order {args.order}")
    print(f"iris: {len(vehicles)} cards enrolled from 2 genuine captures each through the edge first "
          f"({enrol_s:.1f} s); no reason code moved to inform")
    print(f"under-vehicle image: 4096 x {min(heights)}-{max(heights)} lines (median {int(np.median(heights))}), "
          f"JPEG, pass message {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB; "
          f"measured run {result['seconds']:.0f} s")
    print(f"last reading per vehicle: {', '.join(f'{d} {n}' for d, n in sorted(last_devices.items()))} "
          f"(of {len(counted)}); empty-box image handed over before the last reading: {ebox_image_before}")
    model_check, _ = CHECKS[args.check]
    print(f"check: {args.check} (model_check = {str(model_check).lower()}, compare = {str(compares).lower()})"
          + (f"; references: each plate's first pass, clean, camera alone, {len(ref_shas) - len(ref_held)} of "
             f"{len(ref_shas)} released by the machine ({ref_s:.1f} s)" if compares else ""))
    if ref_held:
        print(f"   REFERENCES HELD (false alarms on clean first passes): {len(ref_held)}: "
              + "; ".join(f"{plate} {', '.join(codes)}" for plate, codes in sorted(ref_held.items()))
              + f"; their {sum(v.plate in ref_held for v in vehicles[args.warmup:])} measured passes are left out")
    print(f"decisions, {len(counted)} clean measured passes: {', '.join(f'{s} {n}' for s, n in sorted(states.items()))}"
          + (f"; holding reasons seen: {', '.join(held)}" if held else ""))
    clean = [analysis_of(v) for v in counted]
    if model_check:
        scored = [a for a in clean if a.get("model")]
        print(f"model on the clean passes: score median {statistics.median(a['score'] for a in scored):.3f} "
              f"(min {min(a['score'] for a in scored):.3f}), threshold {scored[0].get('threshold'):.3f}, flagged "
              f"{sum(bool(a['flagged']) for a in scored)} of {len(scored)}")
    if compares:
        comps = [a.get("comparison") or {} for a in clean]
        against = sum(c.get("reference_sha256") is not None and c.get("reference_sha256") == ref_shas.get(v.plate)
                      for c, v in zip(comps, counted))
        done = [c for c in comps if c.get("reference_sha256")]
        print(f"comparison on the clean passes: compared with the plate's reference pass {against} of {len(counted)} "
              f"(stored comparison.reference_sha256); counter compared {result['counters'].get('uvss', {}).get('compared')} "
              f"(of {len(vehicles) - args.warmup} measured + {args.warmup} warm-up); changed "
              f"{sum(bool(c.get('flagged')) for c in done)} of {len(done)}"
              + (f", score median {statistics.median(c['score'] for c in done):.3g} (max "
                 f"{max(c['score'] for c in done):.3g}), compare() median "
                 f"{statistics.median(c['ms'] for c in done):.0f} ms" if done else ""))
        if against != len(counted):
            print(f"   NOT EVERY MEASURED PASS WAS COMPARED: {len(counted) - against} without their reference")
    if with_object:
        lat = [times.decided[v.declaration][0] - max(times.handed[v.index].values()) for v in with_object]
        ostates: dict[str, int] = {}
        for v in with_object:
            state = times.decided[v.declaration][1]["state"]
            ostates[state] = ostates.get(state, 0) + 1
        oheld = sorted({r["code"] for v in with_object for r in times.decided[v.declaration][1]["reasons"]
                        if r["holds"]})
        ocomp = [analysis_of(v).get("comparison") or {} for v in with_object]
        print(f"with a box under the vehicle (not in the other figures), {len(with_object)} passes (vehicles "
              f"{', '.join(str(v.index) for v in with_object)}): {', '.join(f'{s} {n}' for s, n in sorted(ostates.items()))}"
              + (f"; holding reasons: {', '.join(oheld)}" if oheld else "")
              + (f"; compared {sum(c.get('reference_sha256') is not None for c in ocomp)}, changed "
                 f"{sum(bool(c.get('flagged')) for c in ocomp)}" if compares else "")
              + f"; last reading -> decision median {statistics.median(lat) * 1000:.1f} ms, max "
              f"{max(lat) * 1000:.1f} ms")
    print(f"last reading -> decision on kouan/{LANE}/passages/<id>:  median {med * 1000:7.1f} ms  "
          f"p99 {p99 * 1000:7.1f} ms  max {max(latency) * 1000:7.1f} ms")
    if len(by_last) > 1:
        print("   by the device that was last: " + ", ".join(
            f"{d} median {statistics.median(x) * 1000:.1f} ms max {max(x) * 1000:.1f} ms ({len(x)})"
            for d, x in sorted(by_last.items())))
    print(f"baseline paho publish -> receive, same message:      median {bmed * 1000:7.1f} ms  "
          f"p99 {bp99 * 1000:7.1f} ms  max {max(base) * 1000:7.1f} ms")
    print(f"ratio edge / baseline: median {med / bmed:.1f}  p99 {p99 / bp99:.1f}")
    print(f"aim: p99 under {AIM_P99_S:g} s: {'PASS' if p99 < AIM_P99_S else 'MISS'} (p99 {p99:.3f} s)")
    if stage["intake"]:
        print("where the time goes (median / max, ms; from the passage timeline and the stored analysis):")
        for key, words in (("intake", "pass handed over -> pass reading received"),
                           ("transport", "  of which to the intake's media write (broker, paho, KUV1 check)"),
                           ("media", "  of which the image into the media store (write + fsync)"),
                           ("analysis", "pass received -> analysis received"),
                           ("decode", "  of which media read (hash check) + JPEG decode"),
                           ("infer", "  of which Detector.infer"),
                           ("compare", "  of which compare() with the reference"),
                           ("rest", "  of which the rest (pass committed, PUBACK, queued, reference lookup + "
                                    "decode, submit)"),
                           ("publish", "analysis received = decided -> on the passage topic (commit, read back, "
                                       "publish)")):
            values = [x * 1000 for x in stage[key]]
            if key in ("infer", "compare") and not any(values):
                continue
            print(f"   {words:82s} {statistics.median(values):7.1f} / {max(values):7.1f}")
        slowest = sorted(per_vehicle, reverse=True)[:3]
        print("   slowest: " + "; ".join(
            f"vehicle {index} {total * 1000:.0f} ms = " + " + ".join(
                f"{key} {mine[key] * 1000:.0f}" for key in ("transport", "media", "analysis", "publish"))
            for total, index, mine in slowest))
        if alone[0]:
            print(f"   the same model alone afterwards, same process, edge stopped, {len(alone[0])} of the passes: "
                  f"decode {statistics.median(alone[0]) * 1000:.1f} ms, Detector.infer "
                  f"{statistics.median(alone[1]) * 1000:.1f} ms (medians)")
    uv = result["counters"].get("uvss", {})
    print(f"under-vehicle counters: analysed {uv.get('analysed')}, compared {uv.get('compared')}, dropped "
          f"{uv.get('analysis_dropped')}, errors {uv.get('analysis_errors')}, intake waits {uv.get('intake_waits')}")
    if warnings:
        kinds: dict[str, int] = {}
        for line in warnings:
            line = re.sub(r"\d+(\.\d+)?", "N", line)[:90]
            kinds[line] = kinds.get(line, 0) + 1
        print(f"log: {len(warnings)} warning(s) or worse (the lock reader stopped after each vehicle, the "
              "ports and links closed at the start and end are expected):")
        for line, n in sorted(kinds.items(), key=lambda item: -item[1])[:args.show_log]:
            print(f"   {n:3d} x {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
