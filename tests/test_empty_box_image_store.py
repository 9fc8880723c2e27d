"""An empty-box image the media store cannot write (disk full) is counted, logged and left
unacknowledged, so the broker delivers it again; once the disk has room it is stored and
acknowledged."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path

from drivers.empty_box import encode_image_message
from edge.device_status import DeviceStatus
from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.empty_box.config import EmptyBoxConfig, EmptyBoxDefaults
from edge.kinds.empty_box.images import ImageChannel
from edge.media import MediaStore, Stored
from firmware_stubs.empty_box_image import render_interior


class FullDisk(MediaStore):
    """A media store on a disk that is full until `room` is set (a full disk cannot be made here)."""

    room = False

    def put_bytes(self, data: bytes, expected_sha256: str | None = None) -> Stored:
        if not self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().put_bytes(data, expected_sha256)


class Ingest:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def submit(self, reading: Reading) -> None:
        self.readings.append(reading)


def test_an_image_not_stored_is_counted_and_not_acknowledged(tmp_path: Path) -> None:
    payload = encode_image_message(render_interior("camera", full=False, seed=5), sequence=7, container="CSQU3054383",
                                   kind="camera", time=datetime.now(UTC))
    media, ingest = FullDisk(tmp_path / "media"), Ingest()
    status = DeviceStatus("box1", "empty_box", "modbus", "", "", 60.0)
    config = EmptyBoxConfig(id="box1", kind="empty_box", modbus={"port": "/dev/null"})  # type: ignore[arg-type]
    ctx = DeviceContext(config, EmptyBoxDefaults(), "l1", status, ingest, None, lambda _: None, media)  # type: ignore[arg-type]
    channel = ImageChannel(ctx, liveness=None, on_image=lambda *_: None)  # type: ignore[arg-type]
    acks: list[int] = []

    channel.on_mqtt_message(channel.image_topic, payload, lambda: acks.append(1))
    assert (acks, ingest.readings) == ([], [])
    assert status.counters["store_errors"] == 1 and status.counters["bad_images"] == 0

    media.room = True  # the broker delivers it again
    channel.on_mqtt_message(channel.image_topic, payload, lambda: acks.append(2))
    assert len(ingest.readings) == 1 and status.counters["images_stored"] == 1 and acks == []
    ingest.readings[0].on_stored()  # type: ignore[misc]
    assert acks == [2]
