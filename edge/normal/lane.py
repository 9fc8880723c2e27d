"""The lane's normal as the runtime holds it: retention inside the passage transactions, each
device's model pointer for its kind, and the refit schedule."""

from __future__ import annotations

import asyncio
from typing import Any

from edge.media import MediaStore
from edge.normal.config import NormalConfig
from edge.normal.lane_models import LaneModelPointer
from edge.normal.retention import Retention
from edge.normal.schedule import RefitSchedule
from edge.normal.setup import LaneSetup, lane_setup
from edge.store import AsyncStore


class LaneNormal:
    """Built from the edge's config when it has `[normal]`."""

    def __init__(self, config: Any, media: MediaStore) -> None:
        self.config: NormalConfig = config.normal
        labels = {d.id: label for d in config.devices
                  if d.id in self.config.devices and (label := d.lane_image_label()) is not None}
        self.retention = Retention(self.config, media, labels=labels)
        self.setups: list[LaneSetup] = [lane_setup(config, device_id) for device_id in self.config.devices]
        self.schedule: RefitSchedule | None = None

    def pointer(self, device_id: str) -> LaneModelPointer | None:
        """What a device with model = "lane" loads (None: the device does not learn its normal)."""
        if device_id not in self.config.devices:
            return None
        return LaneModelPointer(self.config.models_dir / device_id, self.config.for_device(device_id).baseline)

    def start(self, store: AsyncStore) -> list[asyncio.Task[Any]]:
        """The refit schedule's task, when `refit_every_h` is set."""
        if self.config.refit_every_h is None:
            return []
        self.schedule = RefitSchedule(self.setups, self.config.refit_every_h * 3600.0, store)
        return [asyncio.create_task(self.schedule.run(), name="normal-refit")]
