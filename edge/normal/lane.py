"""The lane's normal as the runtime holds it: retention inside the passage transactions, each
device's model pointer for its kind, and the refit schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge.media import MediaStore
from edge.normal.config import NormalConfig
from edge.normal.finds import count_finds_after
from edge.normal.lane_models import CURRENT, HISTORY, LaneModelError, LaneModelPointer, LaneModels
from edge.normal.refit import rollback
from edge.normal.retention import Retention, count_after
from edge.normal.schedule import RefitSchedule
from edge.normal.setup import LaneSetup, lane_setup
from edge.store import AsyncStore, Store

log = logging.getLogger(__name__)

WATCH_PERIOD_S = 2.0  # how soon open terminals see a device's models folder change
ROLLBACK_WAIT_S = 5.0  # a rollback from the terminal waits this long for a running refit, then says so (409)
OnChange = Callable[[str], Awaitable[None]]  # awaited with the device id when its models folder changed


class LaneNormal:
    """Built from the edge's config when it has `[normal]`."""

    def __init__(self, config: Any, media: MediaStore) -> None:
        self.config: NormalConfig = config.normal
        labels = {d.id: label for d in config.devices
                  if d.id in self.config.devices and (label := d.lane_image_label()) is not None}
        self.retention = Retention(self.config, media, labels=labels)
        self.setups: list[LaneSetup] = [lane_setup(config, device_id) for device_id in self.config.devices]
        self._setup = {setup.device_id: setup for setup in self.setups}  # each with its own [normal] merged in
        self.schedule: RefitSchedule | None = None

    def pointer(self, device_id: str) -> LaneModelPointer | None:
        """What a device with model = "lane" loads (None: the device does not learn its normal)."""
        setup = self._setup.get(device_id)
        if setup is None:
            return None
        return LaneModelPointer(setup.root, setup.normal.baseline)

    def state(self, device_id: str) -> dict[str, Any] | None:
        """What the lane terminal shows of a device's normal (file reads: call it off the event loop):
        the model it runs, the newest refit's outcome and figures, and how many clean passes and
        finds the store keeps; None for a device that does not learn its normal."""
        pointer = self.pointer(device_id)
        if pointer is None:
            return None
        models = LaneModels(pointer.root)
        history = models.history()
        attempts = [e for e in history if e.get("action") in ("adopted", "refused")]
        refit = None
        if attempts:
            last = attempts[-1]
            candidate = last.get("candidate") or {}
            refit = {"action": last["action"], "at": last.get("at"), "version": last.get("version"),
                     "fitted": last.get("fitted_n"), **{k: candidate.get(k) for k in (
                         "clean_flagged_n", "clean_n", "canary_found_n", "canary_n")}}
        current = models.current_version()
        runs = f"lane {current}" if current else f"baseline {pointer.baseline}" if pointer.baseline else None
        rolled = history[-1] if history and history[-1].get("action") == "rollback" else None
        last_rollback = None if rolled is None else {
            k: rolled.get(k) for k in ("at", "from", "version", "by", "reason")}
        return {"current": current, "runs": runs, "last_refit": refit, "rollback_to": models.rollback_target(history),
                "last_rollback": last_rollback}

    def rollback(self, device_id: str, by: str, reason: str, expect: str | None = None) -> tuple[str, str]:
        """Point a learning device (one `pointer` knows) back at its model before the current one,
        if `expect` is still current (file work: off the event loop); (from, to). LaneModelError
        when there is nothing to roll back to, the current model is not `expect`, or a refit holds
        the device's folder for more than ROLLBACK_WAIT_S (the terminal's request does not wait minutes)."""
        setup = self._setup[device_id]
        try:
            return rollback(setup, by, reason, expect, wait_s=ROLLBACK_WAIT_S)
        except LaneModelError as exc:  # the terminal gets the device, not the server's folder
            raise LaneModelError(f"{device_id}: {str(exc).removeprefix(f'{setup.root}: ')}") from None

    @staticmethod
    def kept(store: Store, device_id: str) -> tuple[int, int]:
        """(clean passes, confirmed finds) the store keeps for the device (on the store thread)."""
        return count_after(store.read, device_id, 0), count_finds_after(store.read, device_id, 0)

    def start(self, store: AsyncStore, on_change: OnChange | None = None) -> list[asyncio.Task[Any]]:
        """The refit schedule's task, when `refit_every_h` is set, and a watcher that awaits
        `on_change(device_id)` whenever a device's models folder changed: a refit by the schedule
        or by `kouan model` in another process, a proposal, a rollback from the terminal or the
        command. One mechanism for all of them, so none is pushed twice or missed."""
        tasks = []
        if on_change is not None:
            tasks.append(asyncio.create_task(self._watch(on_change), name="normal-watch"))
        if self.config.refit_every_h is not None:
            self.schedule = RefitSchedule(self.setups, self.config.refit_every_h * 3600.0, store)
            tasks.append(asyncio.create_task(self.schedule.run(), name="normal-refit"))
        return tasks

    def _stamps(self) -> dict[str, tuple[tuple[int, int], ...]]:
        """Each device's models folder as (mtime, size) of its history and pointer (file reads)."""
        def stamp(path: Path) -> tuple[int, int]:
            try:
                info = path.stat()
            except OSError:
                return (0, 0)
            return (info.st_mtime_ns, info.st_size)

        return {s.device_id: (stamp(s.root / HISTORY), stamp(s.root / CURRENT)) for s in self.setups}

    async def _watch(self, on_change: OnChange) -> None:
        seen = await asyncio.to_thread(self._stamps)
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            now = await asyncio.to_thread(self._stamps)
            for device_id, stamps in now.items():
                if stamps != seen.get(device_id):
                    try:
                        await on_change(device_id)
                    except Exception:  # telling the terminal failed; the watch goes on
                        log.exception("lane model %s changed; the terminal was not told", device_id)
            seen = now
