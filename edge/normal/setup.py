"""What a refit needs to know of one device, from the edge's config (no fitting imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.media import MediaStore
from edge.normal.config import LaneFit, NormalConfig


class RefitError(RuntimeError):
    """A refit cannot be attempted (no [normal], too few images, no canaries); the message says why."""


@dataclass(frozen=True)
class LaneSetup:
    """What a refit needs from the edge's config for one device."""

    device_id: str
    kind: str
    normal: NormalConfig
    store_path: Path
    media: MediaStore

    @property
    def root(self) -> Path:
        return self.normal.models_dir / self.device_id

    @property
    def fit(self) -> LaneFit:
        """The fit settings: the kind's defaults, with what [normal] gives instead."""
        from edge.kinds import KINDS

        kind = KINDS.get(self.kind)
        if kind is None or kind.lane_fit is None:
            raise RefitError(f"device {self.device_id!r}: a {self.kind} device cannot learn its normal "
                             f"(kinds that can: {', '.join(k for k, v in KINDS.items() if v.lane_fit)})")
        return kind.lane_fit.overridden(self.normal)


def lane_setup(config: Any, device_id: str) -> LaneSetup:
    """From an `EdgeConfig`: the device's [normal] settings, store and media; RefitError if it has none."""
    normal: NormalConfig | None = config.normal
    if normal is None or device_id not in normal.devices:
        raise RefitError(f"device {device_id!r} does not learn its normal: add it to [normal] devices")
    kind = next(d.kind for d in config.devices if d.id == device_id)
    return LaneSetup(device_id, kind, normal.for_device(device_id), config.store.path, MediaStore(config.store.media_dir))
