"""A pass that registers onto its plate's last clean pass over part of its rows only (the reference
started late or ended early): the rows it could not compare are not taken as unchanged. Real stub
renders, a real media store and the camera's own analyser; the model is the shipped one."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import cv2

from drivers.under_vehicle import decode_pass
from edge.device_status import DeviceStatus
from edge.kinds.under_vehicle.analysis import Analyser, Job
from edge.kinds.under_vehicle.readings import pass_state
from edge.media import MediaStore
from firmware_stubs.under_vehicle import CameraConfig, PassEvent, render_pass
from firmware_stubs.undercarriage import VehicleType

sys.path.insert(0, str(Path(__file__).parent))
from test_compare import PASS_TIME, PLATES, stub_pass  # noqa: E402

KIND = VehicleType.TRACTOR_TRAILER
PLATE = PLATES[KIND]


def analyse(tmp_path: Path, model: str | None, only_without_reference: bool) -> tuple[dict[str, Any], Any]:
    """The truck back with a box strapped under its front, against a clean pass that lacks its first rows
    (those down to just past the box): what the analyser hands on, and where the box is."""
    media = MediaStore(tmp_path / "media")
    reference, _ = stub_pass(PLATE, KIND, None, "ref")
    message, truth = render_pass(PassEvent(0.0, "pass", PLATE, "box", KIND), CameraConfig(), "p1", PASS_TIME)
    assert truth.object_box is not None
    late_start = reference[truth.object_box[1] + 40:]  # the reference's camera started after the box's rows
    ok, png = cv2.imencode(".png", late_start)
    assert ok
    reference_sha = media.put_bytes(png.tobytes()).sha256
    decoded = decode_pass(message, "uvss")
    media.put_bytes(decoded.image_bytes, decoded.sha256)
    status = DeviceStatus("uvss", "under_vehicle", "mqtt", "", "", 1800.0)
    done = threading.Event()
    results: list[dict[str, Any]] = []

    def submit(state: dict[str, Any], payload: dict[str, Any]) -> None:
        results.append(payload)
        done.set()

    analyser = Analyser("uvss", model, media, status, 4, submit, reference=lambda plate, sha: reference_sha,
                        model_only_without_reference=only_without_reference)
    analyser.start()
    try:
        analyser.offer(Job(decoded.header, pass_state(decoded.header, "pending")))
        assert done.wait(120), "the pass was not analysed"
    finally:
        analyser.stop()
    assert status.counters["compare_partial"] == 1
    return results[0], truth


def test_a_box_in_rows_the_reference_lacks_is_not_called_unchanged(tmp_path: Path) -> None:
    payload, _ = analyse(tmp_path, None, False)
    comparison = payload["comparison"]
    assert comparison["registered"] and not comparison["flagged"]  # the box lies where nothing was compared
    assert 0.5 < comparison["matched_fraction"] < 0.9
    assert comparison["full"] is False


def test_the_model_judges_a_pass_compared_over_part_of_it_only(tmp_path: Path) -> None:
    """Under `model_check_when = "no_reference"` a plate on file skips the model, but only when the
    comparison covered the whole pass."""
    payload, _ = analyse(tmp_path, "under_vehicle", True)
    assert payload["comparison"]["full"] is False
    assert payload["model"] == "under_vehicle" and "model_skipped" not in payload
    assert "score" in payload and "error" not in payload
