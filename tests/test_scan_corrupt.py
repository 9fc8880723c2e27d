"""Scan files whose header cannot be read (a TIFF tag with no values, a DICOS element of a bad length
or an unknown VR) are refused with a reason everywhere: the scanner codec, the hub's upload, the
edge's scanner intake. None of them crashes, 500s or is retried forever."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from contract.uplink import Refusal
from drivers.scanner import ScanNotice, ScanRefused, load_scan, notice_topic
from drivers.scanner.dicos import read_dicos_header
from drivers.scanner.headers import read_tiff_header
from edge.device_status import DeviceStatus
from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.scanner import intake as intake_module
from edge.kinds.scanner.config import ScannerConfig, ScannerDefaults
from edge.media import MediaStore
from hub import image_check
from hub.image_check import ImageRefused, check_image
from tests import hub_images
from tests.conftest import Broker
from tests.hub_harness import Hub, hub, upload_blob  # noqa: F401  (hub: fixture)
from tests.lane_harness import MqttListener, wait_until
from tests.test_scanner_kind import event, lane, publisher  # noqa: F401  (lane: fixture)

BLOB = "/api/v1/blobs/{}"
ROWS = b"\x28\x00\x10\x00US\x02\x00"  # (0028,0010) Rows, explicit VR little endian, 2-byte value


def tiff_zero_count(tag: int = 277) -> bytes:
    """A single-energy TIFF whose tag `tag` (SamplesPerPixel) says it has no values."""
    data = bytearray(hub_images.tiff(1))
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if struct.unpack(order + "H", data[entry:entry + 2])[0] == tag:
            data[entry + 4:entry + 8] = struct.pack(order + "I", 0)
            return bytes(data)
    raise AssertionError(f"tag {tag} not in the TIFF")


def dicos_rows(change: Callable[[bytearray, int], None]) -> bytes:
    data = bytearray(hub_images.dicos(1))
    at = data.find(ROWS)
    assert at > 0
    change(data, at)
    return bytes(data)


def _bad_length(data: bytearray, at: int) -> None:
    data[at + 6:at + 8] = b"\x01\x00"  # Rows (US) 1 byte long
    del data[at + 9]


def _unknown_vr(data: bytearray, at: int) -> None:
    data[at + 4:at + 6] = b"XX"


CORRUPT: dict[str, tuple[bytes, str, str]] = {  # name: (file, format, what the reason names)
    "tiff zero count": (tiff_zero_count(), "tiff", "TIFF tag 277 has no values"),
    "dicos bad length": (dicos_rows(_bad_length), "dicos", r"\(0028,0010\) Rows cannot be read: BytesLength"),
    "dicos unknown vr": (dicos_rows(_unknown_vr), "dicos", r"\(0028,0010\) Rows.*Unknown Value Representation 'XX'"),
}
MEDIA = {"tiff": "image/tiff", "dicos": "application/dicom"}
TZ = timezone(timedelta(hours=8))


def notice_for(data: bytes, fmt: str, scan_id: str, container: str = "CSQU3054383") -> ScanNotice:
    name = f"{scan_id}.{'tif' if fmt == 'tiff' else 'dcm'}"
    return ScanNotice("scanner1", scan_id, (container,), None, datetime.now(TZ).replace(microsecond=0), name, fmt,
                      len(data), hashlib.sha256(data).hexdigest(), "single", 64, 40)


# ---------------------------------------------------------------------------------- the codec


@pytest.mark.parametrize("name", CORRUPT)
def test_header_that_cannot_be_read_is_scan_refused_corrupt(name: str, tmp_path: Path) -> None:
    data, fmt, reason = CORRUPT[name]
    reader = read_tiff_header if fmt == "tiff" else read_dicos_header
    with pytest.raises(ScanRefused, match=reason) as refused:
        reader(io.BytesIO(data), len(data))
    assert refused.value.reason == "corrupt"
    notice = notice_for(data, fmt, "scanner1-corrupt-0001")
    (tmp_path / notice.file_name).write_bytes(data)
    with pytest.raises(ScanRefused, match=reason) as loaded:
        load_scan(tmp_path / notice.file_name, notice)
    assert loaded.value.reason == "corrupt"


# ---------------------------------------------------------------------------------- the hub


@pytest.mark.parametrize("name", CORRUPT)
def test_hub_refuses_the_upload_422_and_holds_nothing(hub: Hub, name: str) -> None:
    data, fmt, reason = CORRUPT[name]
    digest = hashlib.sha256(data).hexdigest()
    for _ in range(2):  # a re-send is refused the same way, never a 500
        answer = upload_blob(hub.edge, data, MEDIA[fmt], chunk=1000)
        assert answer.status_code == 422, answer.text
        refusal = Refusal.model_validate(answer.json())
        assert refusal.code == "truncated"  # the hub's code for a damaged file (ScanRefused "corrupt")
        assert re.search(reason, refusal.detail), refusal.detail
        assert hub.edge.head(BLOB.format(digest)).status_code == 404  # nothing held, nothing open
        partial = hub.config.blobs.root / "partial"
        assert not [p for p in partial.iterdir() if p.name.startswith(digest)]


def test_check_image_refuses_whatever_a_reader_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(image_check, "read_tiff_header", broken)
    path = tmp_path / f"{'ab' * 32}.part"
    path.write_bytes(hub_images.tiff(1))
    with caplog.at_level(logging.WARNING, "hub.image_check"), pytest.raises(ImageRefused) as refused:
        check_image(path, "image/tiff", 10_000)
    assert refused.value.code == "truncated" and "IndexError: list index out of range" in refused.value.detail
    assert path.name in caplog.text and "IndexError" in caplog.text


# ---------------------------------------------------------------------------------- the edge's intake


class StoringIngest:
    """Stores every reading at once (runs its `on_stored`), as the edge's store does once it is written."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def submit(self, reading: Reading) -> None:
        self.readings.append(reading)
        if reading.on_stored is not None:
            reading.on_stored()


class NoMqtt:
    """The intake subscribes to its notices topic; this test hands notices over directly."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def subscribe(self, topic: str, *_: Any, **__: Any) -> None:
        self.topics.append(topic)


def run_intake(tmp_path: Path, data: bytes, notice: ScanNotice) -> tuple[StoringIngest, DeviceStatus, list[int]]:
    """The real ScannerIntake given one notice and its file; returns once the file is moved or removed."""
    folder = tmp_path / "scans"
    folder.mkdir()
    config = ScannerConfig(id="scanner1", kind="scanner", folder=folder, poll_period_s=0.1)
    status = DeviceStatus("scanner1", "scanner", "mqtt", "", "", 3600.0)
    ingest = StoringIngest()
    ctx = DeviceContext(config, ScannerDefaults(), "lane1", status, ingest, NoMqtt(),  # type: ignore[arg-type]
                        lambda _id: None, MediaStore(tmp_path / "media"))
    intake = intake_module.ScannerIntake(ctx)
    acks: list[int] = []
    lock = threading.Lock()

    def ack() -> None:
        with lock:
            acks.append(1)

    (folder / notice.file_name).write_bytes(data)
    intake.start()
    try:
        intake.on_mqtt_message(intake.notice_topic, notice.to_json(), ack)
        wait_until(lambda: not (folder / notice.file_name).exists(), 10, what="the file settled")
        time.sleep(0.3)  # a retry, if there were one, would show now
    finally:
        intake.stop()
    return ingest, status, acks


@pytest.mark.parametrize("name", CORRUPT)
def test_intake_refuses_counts_acknowledges_and_moves_aside(name: str, tmp_path: Path) -> None:
    data, fmt, reason = CORRUPT[name]
    notice = notice_for(data, fmt, "scanner1-corrupt-0002")
    ingest, status, acks = run_intake(tmp_path, data, notice)
    assert [r.message for r in ingest.readings] == ["notice", "refused"]
    refused = ingest.readings[1].payload
    assert refused["reason"] == "corrupt"
    assert re.search(reason, refused["message"]), refused["message"]
    assert status.counters["refused"] == 1 and status.counters["scans"] == 0
    assert acks == [1]
    assert (tmp_path / "scans" / "refused" / notice.file_name).read_bytes() == data


def test_intake_refuses_a_file_a_reader_fails_on_unexpectedly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(intake_module, "load_scan", broken)
    data = hub_images.tiff(1)
    notice = notice_for(data, "tiff", "scanner1-corrupt-0003")
    with caplog.at_level(logging.ERROR, "edge.kinds.scanner.intake"):
        ingest, status, acks = run_intake(tmp_path, data, notice)
    assert [r.message for r in ingest.readings] == ["notice", "refused"]
    assert ingest.readings[1].payload["reason"] == "corrupt"
    assert "IndexError: list index out of range" in ingest.readings[1].payload["message"]
    assert "could not be read" in caplog.text and "worker step failed" not in caplog.text
    assert status.counters["refused"] == 1 and acks == [1]
    assert (tmp_path / "scans" / "refused" / notice.file_name).is_file()


def test_edge_refuses_corrupt_scans_as_events_and_goes_on(lane: dict[str, Any],  # noqa: F811
                                                          mosquitto: Broker) -> None:
    """Through a running edge: MQTT notices, the watched folder, the store, the events."""
    listener: MqttListener = lane["listener"]
    folder: Path = lane["folder"]
    client = publisher(mosquitto)
    lane["closers"].append(client.loop_stop)
    containers = {"tiff zero count": "CSQU3054383", "dicos bad length": "MSKU1234565",
                  "dicos unknown vr": "TGHU1234567"}
    notices = {}
    for i, (name, (data, fmt, _)) in enumerate(CORRUPT.items()):
        notice = notices[name] = notice_for(data, fmt, f"scanner1-corrupt-{i:04d}", containers[name])
        (folder / f".{notice.file_name}.part").write_bytes(data)
        os.replace(folder / f".{notice.file_name}.part", folder / notice.file_name)
        client.publish(notice_topic(lane["lane"], "scanner1"), notice.to_json(), qos=1).wait_for_publish(5)
    for name, notice in notices.items():
        refused = event(listener, "scan_refused", containers[name])
        assert "file is damaged (its header cannot be read)" in refused["detail"], refused
        assert re.search(CORRUPT[name][2], refused["detail"]), refused["detail"]
    edge = lane["edge"]

    def device() -> dict[str, Any]:
        return next(d for d in edge.get("/api/devices") if d["id"] == "scanner1")

    wait_until(lambda: not device()["state"].get("pending"), 10, what="every notice settled and acknowledged")
    assert device()["counters"]["refused"] == 3 and device()["counters"]["scans"] == 0
    for notice in notices.values():
        wait_until(lambda n=notice: (folder / "refused" / n.file_name).is_file(), 5, what="moved to refused/")
        assert not edge.runtime.media.has(notice.sha256)
