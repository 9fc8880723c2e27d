"""The edge's own refits: every `refit_every_h`, each device of `[normal] devices` that holds
`min_images` retained images and has kept at least `min_new_images` of them, or `min_new_finds`
confirmed finds (with `min_finds` in all), since its last refit is refitted on a worker thread
(`asyncio.to_thread`), never on the event loop. A device's analysis picks up an adopted version
at its next pass (`LaneModelPointer`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.normal.config import NormalConfig
from edge.normal.finds import count_finds_after
from edge.normal.lane_models import LaneModels
from edge.normal.retention import count_after
from edge.normal.setup import LaneSetup, RefitError
from edge.store import AsyncStore, Store

log = logging.getLogger(__name__)


@dataclass
class ScheduleStats:
    """Per device: refits tried, adopted, refused, failed; the last outcome in words."""

    attempts: dict[str, int] = field(default_factory=dict)
    adopted: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)

    def add(self, counter: dict[str, int], device_id: str) -> None:
        counter[device_id] = counter.get(device_id, 0) + 1


@dataclass(frozen=True)
class Kept:
    """What a device's store holds: retained clean images and confirmed finds, new since the last refit and in all."""

    new_images: int
    images: int
    new_finds: int
    finds: int

    def due(self, normal: NormalConfig) -> str | None:
        """Why a refit is due, in words; None when it is not."""
        if self.images < normal.min_images:
            return None
        if self.new_images >= normal.min_new_images:
            return f"{self.new_images} clean passes retained since the last refit"
        if (normal.keep_finds and normal.min_new_finds and self.new_finds >= normal.min_new_finds
                and self.finds >= normal.min_finds):
            return f"{self.new_finds} confirmed finds kept since the last refit ({self.finds} in all)"
        return None


def _count(store: Store, device_id: str, after_image: int, after_find: int) -> Kept:
    return Kept(count_after(store.read, device_id, after_image), count_after(store.read, device_id, 0),
                count_finds_after(store.read, device_id, after_find), count_finds_after(store.read, device_id, 0))


def _writer(device_id: str) -> Any:
    def write(line: str) -> None:
        log.log(logging.INFO if line.startswith(("[normal]", "[judge]", "[done]")) else logging.DEBUG,
                "refit %s: %s", device_id, line)
    return write


class RefitSchedule:
    """See the module docstring."""

    def __init__(self, setups: Sequence[LaneSetup], every_s: float, store: AsyncStore) -> None:
        self.setups = list(setups)
        self.every_s = every_s
        self.store = store
        self.stats = ScheduleStats()

    async def run(self) -> None:
        while True:
            for setup in self.setups:
                await self.maybe_refit(setup)
            await asyncio.sleep(self.every_s)

    async def maybe_refit(self, setup: LaneSetup) -> bool:
        """Refit one device if it is due; True if a refit ran (adopted or refused)."""
        device_id, normal = setup.device_id, setup.normal
        try:
            last_image, last_find = await asyncio.to_thread(LaneModels(setup.root).watermarks)
            kept = await self.store.call(_count, device_id, last_image, last_find)
            reason = kept.due(normal)
            if reason is None:
                log.debug("refit %s not due: %d new of %d retained (min_new_images %d, min_images %d), %d new of %d "
                          "finds (min_new_finds %d)", device_id, kept.new_images, kept.images, normal.min_new_images,
                          normal.min_images, kept.new_finds, kept.finds, normal.min_new_finds)
                return False
            self.stats.add(self.stats.attempts, device_id)
            log.info("refit %s: %s; refitting", device_id, reason)
            from edge.normal.refit import refit_device  # the fitting stack, only once a refit is due

            outcome = await asyncio.to_thread(refit_device, setup, _writer(device_id))
        except RefitError as exc:
            self.stats.last[device_id] = f"not refitted: {exc}"
            log.info("refit %s: not refitted: %s", device_id, exc)
            return False
        except Exception as exc:  # a failed refit leaves the current model; the next period tries again
            self.stats.add(self.stats.errors, device_id)
            self.stats.last[device_id] = f"failed: {exc}"
            log.exception("refit %s failed; the current model stays", device_id)
            return False
        self.stats.add(self.stats.adopted if outcome.adopted else self.stats.refused, device_id)
        self.stats.last[device_id] = outcome.message
        return True
