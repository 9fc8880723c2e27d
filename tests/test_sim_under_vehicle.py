"""The UVSS stub against a real Mosquitto: passes decoded by a subscriber, per-plate stability, objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from drivers.under_vehicle import UnderVehiclePass, decode_pass
from firmware_stubs.under_vehicle import CameraConfig, PassTruth, UnderVehicleCamera, parse_events
from firmware_stubs.undercarriage import VehicleType, vehicle_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Listener:
    """A paho 2 subscriber collecting (topic, payload, retain)."""

    def __init__(self, host: str, port: int, pattern: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(pattern, qos=1), None)[1]
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscription not acknowledged"

    def passes(self, topic: str, device: str) -> list[UnderVehiclePass]:
        return [decode_pass(p, device) for t, p, _ in list(self.messages) if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll until `predicate` holds; the bound only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def vehicle_only(image: np.ndarray) -> np.ndarray:
    """The lines that show the vehicle (the road scanned before and after it is dark)."""
    rows = np.nonzero(image[:, 1024:3072].mean(axis=1) > 35)[0]
    return image[rows[0]:rows[-1] + 1]


def best_alignment(a: np.ndarray, b: np.ndarray, high_pass: float = 0.0, max_shift: int = 60) -> tuple[float, int]:
    """Highest correlation of two passes' vehicle lines, both resampled to 512 x 384, over lateral
    shifts (a[x + shift] ~ b[x]) and a few lines along; returns it and the shift in full-width pixels.
    `high_pass` (sigma, px) keeps only detail: what tells one vehicle of a type from another."""
    size = (512, 384)
    sa, sb = (cv2.resize(vehicle_only(x), size, interpolation=cv2.INTER_AREA).astype(np.float32) for x in (a, b))
    if high_pass:
        sa, sb = (x - cv2.GaussianBlur(x, (0, 0), high_pass) for x in (sa, sb))
    best = (-1.0, 0)
    for dy in range(-6, 7):
        for shift in range(-max_shift, max_shift + 1):
            pa = sa[max(0, dy):384 + min(0, dy), max(0, shift):512 + min(0, shift)]
            pb = sb[max(0, -dy):384 + min(0, -dy), max(0, -shift):512 + min(0, -shift)]
            best = max(best, (float(np.corrcoef(pa.ravel(), pb.ravel())[0, 1]), shift * 8))
    return best


def diff_in_box(clean: np.ndarray, other: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Mean |difference| inside `box` of `other` and in a ring around it, after finding the same spot
    of the vehicle in `clean` by matching the window (box plus ring) locally."""
    r0, r1, c0, c1 = box
    mr, mc = 40, 200
    wr0, wr1, wc0, wc1 = max(0, r0 - mr), r1 + mr, max(0, c0 - mc), min(4096, c1 + mc)
    window = other[wr0:wr1, wc0:wc1].astype(np.float32)
    sr0, sc0 = max(0, wr0 - 120), max(0, wc0 - 500)
    search = clean[sr0:wr1 + 120, sc0:min(4096, wc1 + 500)].astype(np.float32)
    _, _, _, (dx, dy) = cv2.minMaxLoc(cv2.matchTemplate(search, window, cv2.TM_CCOEFF_NORMED))
    match = search[dy:dy + window.shape[0], dx:dx + window.shape[1]]
    diff = cv2.GaussianBlur(np.abs(window - match), (0, 0), 3)
    inside = np.zeros(window.shape, bool)
    inside[r0 - wr0:r1 - wr0, c0 - wc0:c1 - wc0] = True
    return float(diff[inside].mean()), float(diff[~inside].mean())


PLATE, OTHER = "新F12345", "苏E88888"


@pytest.fixture(scope="module")
def passes(mosquitto) -> tuple[list[UnderVehiclePass], list[PassTruth], Listener]:
    """Four passes at default settings: the plate clean, with a magnetic box, another plate, the plate again."""
    listener = Listener(mosquitto.host, mosquitto.port, "kouan/laneU/#")
    events = parse_events(f"0.1:pass={PLATE}/clean,0.2:pass={PLATE}/object=box,0.3:pass={OTHER}/clean,"
                          f"0.4:pass={PLATE}/clean")
    camera = UnderVehicleCamera(CameraConfig(lane="laneU", device="uv7", events=events), mosquitto.url)
    camera.start()
    try:
        assert wait_for(lambda: len(listener.passes("kouan/laneU/uv7/pass", "uv7")) == 4)
        assert wait_for(lambda: camera.waiting == 0)
    finally:
        camera.stop()
    assert camera.counters["passes"] == camera.counters["passes_acked"] == 4
    return listener.passes("kouan/laneU/uv7/pass", "uv7"), camera.truth, listener


def test_passes_arrive_decoded_with_availability(passes) -> None:
    got, truth, listener = passes
    assert [p.header.plate for p in got] == [PLATE, PLATE, OTHER, PLATE]
    assert [p.header.pass_id for p in got] == [t.pass_id for t in truth]
    assert len({p.header.pass_id for p in got}) == 4
    assert all(p.header.encoding == "jpeg" and 0 < p.header.plate_confidence <= 1 for p in got)
    assert all(p.header.start_time < p.header.end_time for p in got)
    topics = [(t, p) for t, p, _ in listener.messages]
    assert ("kouan/laneU/uv7/availability", b"online") in topics
    assert wait_for(lambda: ("kouan/laneU/uv7/availability", b"offline") in [(t, p) for t, p, _ in listener.messages])


def test_full_image_at_default_settings(passes) -> None:
    """4096 x N, N following the vehicle's length at the default 12 mm per line (scale 0.25)."""
    got, truth, _ = passes
    for p, t in zip(got, truth):
        image = p.image()
        assert image.shape == (t.height, 4096) and image.dtype == np.uint8
        assert p.header.mm_per_line == pytest.approx(12.0, rel=0.25)
        scanned_mm = image.shape[0] * p.header.mm_per_line
        assert t.length_mm + 400 < scanned_mm < t.length_mm + 1_000   # vehicle + road before and after it
        assert 10 < image[:, 1024:3072].mean() < 200 and image.std() > 15


def test_same_plate_correlates_after_the_offset(passes) -> None:
    got, truth, _ = passes
    first, again, other = got[0].image(), got[3].image(), got[2].image()
    assert truth[0].kind is truth[3].kind is vehicle_for(PLATE).kind
    same, shift = best_alignment(first, again)
    assert same > 0.95
    assert abs(shift - (truth[0].offset_px - truth[3].offset_px)) <= 24   # a[x + shift] matches b[x]
    detail_same, _ = best_alignment(first, again, high_pass=4)
    detail_other, _ = best_alignment(first, other, high_pass=4)
    # each run draws other pass conditions (seeded by the stub's boot time): over 80 boot times
    # detail_same was 0.80-0.93 and detail_other 0.13-0.17, and one suite run under load met 0.72,
    # so the bound sits well inside the gap rather than at the edge of the same-plate spread
    assert detail_same > 0.6 and detail_other < 0.3


def test_object_pass_differs_in_the_object_region(passes) -> None:
    got, truth, _ = passes
    clean, with_box, clean_again = got[0].image(), got[1].image(), got[3].image()
    assert truth[1].object == "box" and truth[1].object_box is not None
    inside, ring = diff_in_box(clean, with_box, truth[1].object_box)
    assert inside > 3 * ring and inside > 15
    # the same spot on the other clean pass: no more difference inside than around it
    control_inside, control_ring = diff_in_box(clean, clean_again, _same_spot(truth[1], truth[3], with_box.shape[0],
                                                                             clean_again.shape[0]))
    assert control_inside < 2 * control_ring + 3


def _same_spot(src: PassTruth, dst: PassTruth, src_rows: int, dst_rows: int) -> tuple[int, int, int, int]:
    """Roughly where `src`'s object box lies in `dst`'s image (rows by proportion, columns by offset)."""
    r0, r1, c0, c1 = src.object_box or (0, 0, 0, 0)
    k, dc = dst_rows / src_rows, dst.offset_px - src.offset_px
    return int(r0 * k), max(int(r0 * k) + 1, int(r1 * k)), c0 + dc, c1 + dc


def test_silent_keeps_passes_until_resumed(mosquitto) -> None:
    listener = Listener(mosquitto.host, mosquitto.port, "kouan/laneS/#")
    events = parse_events(f"0:silent,0.1:pass={OTHER}/clean/type=car,0.2:pass={OTHER}/object=plate/type=car")
    camera = UnderVehicleCamera(CameraConfig(lane="laneS", device="uv8", encoding="png", events=events),
                                mosquitto.url)
    camera.start()
    try:
        assert wait_for(lambda: camera.counters["passes"] == 2)
        assert camera.waiting == 2 and listener.passes("kouan/laneS/uv8/pass", "uv8") == []
        camera.set_silent(False)
        assert wait_for(lambda: len(listener.passes("kouan/laneS/uv8/pass", "uv8")) == 2)
        got = listener.passes("kouan/laneS/uv8/pass", "uv8")
        assert [p.header.pass_id for p in got] == [t.pass_id for t in camera.truth]
        assert all(p.header.encoding == "png" for p in got) and got[0].image().shape[1] == 4096
        assert wait_for(lambda: camera.waiting == 0)
    finally:
        camera.stop()
        listener.close()


def test_parse_events() -> None:
    events = parse_events("8:pass=新F12345/object=box,2:pass=新F12345/clean,14:pass=苏E88888/clean/type=van/speed=7.5,"
                          "20:silent,25:resume,30:pass=123ABC02/reverse")
    assert [(e.at_s, e.action, e.plate, e.object) for e in events[:3]] == [
        (2.0, "pass", "新F12345", None), (8.0, "pass", "新F12345", "box"), (14.0, "pass", "苏E88888", None)]
    assert events[2].kind is VehicleType.VAN and events[2].speed_kmh == 7.5
    assert [e.action for e in events[3:5]] == ["silent", "resume"] and events[5].direction == "reverse"
    for bad, needle in [("x:pass=新F12345", "SECONDS:ACTION"), ("2:drive", "unknown action"),
                        ("2:pass=新F1", "Chinese plate"), ("2:pass=新F12345/object=bomb", "bad option"),
                        ("2:pass=新F12345/speed=200", "bad option")]:
        with pytest.raises(ValueError, match=needle):
            parse_events(bad)


def test_vehicle_is_stable_per_plate() -> None:
    assert vehicle_for(PLATE) == vehicle_for(PLATE)
    kinds = {vehicle_for(f"新F{n:05d}").kind for n in range(40)}
    assert kinds == set(VehicleType)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_signal_cleans_up(mosquitto, sig: signal.Signals) -> None:
    listener = Listener(mosquitto.host, mosquitto.port, "kouan/laneC/#")
    code = ("import argparse, sys; from firmware_stubs.under_vehicle import configure, run; p = argparse.ArgumentParser();"
            " configure(p); sys.exit(run(p.parse_args(sys.argv[1:])))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--mqtt", mosquitto.url, "--lane", "laneC", "--device",
                             "uvc", "--events", "0:pass=新F54321/clean/type=car"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(listener.passes("kouan/laneC/uvc/pass", "uvc")) == 1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 0, err
    assert "publishing on kouan/laneC/uvc/pass" in out
    assert "'passes': 1" in err and "'passes_acked': 1" in err
    late = Listener(mosquitto.host, mosquitto.port, "kouan/laneC/uvc/availability")   # retained for newcomers
    try:
        assert wait_for(lambda: late.messages == [("kouan/laneC/uvc/availability", b"offline", True)], 10)
    finally:
        late.close()
