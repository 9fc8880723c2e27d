"""What a device kind is to the edge: one package per kind, found from one table (`edge.kinds`).

A kind brings its config model (a member of the union discriminated on `kind`), its site-wide
defaults (`[kinds.<name>]`), its store migrations, an adapter per channel (built by `build`),
the events it derives (through the `Deriver` its readings carry into the store), what its
readings mean for a vehicle's passage (`observe`, `check`) and what the lane terminal shows of
it (`summary`), and how its lane model is fitted when it learns its normal (`lane_fit`). Ingest,
store, runtime and web know only this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from drivers.mqtt_transport import MqttTransport
from edge.device_config import DeviceBase, KindDefaults
from edge.device_status import DeviceStatus
from edge.ingest import Ingest
from edge.media import MediaStore
from edge.migrations import Migration
from edge.normal.config import LaneFit
from edge.passages.observation import Declared, Finding, Observation, ReadingView
from edge.store import Txn


class LaneDevice(Protocol):
    """What the runtime needs of every device adapter."""

    status: DeviceStatus

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def handles_topic(self, topic: str) -> bool: ...

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """Handle a message on one of this device's topics; call `ack` once it is stored or refused."""


@dataclass
class DeviceContext:
    """Everything an adapter is built from."""

    config: Any  # the kind's own DeviceBase subclass
    defaults: Any  # the kind's KindDefaults subclass, with the site's overrides
    lane_id: str
    status: DeviceStatus
    ingest: Ingest
    mqtt: MqttTransport
    changed: Callable[[str], None]  # call from any thread when status changed
    media: MediaStore | None = None  # images and scans by SHA-256 (rows hold the hash)
    # A read-only SELECT on the store, for an adapter's own thread (e.g. at start, to carry on
    # with what a previous run left in the kind's tables); never call it on the event loop.
    read_store: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]] | None = None
    # The device's own lane model (edge.normal.lane_models.LaneModelPointer), when it learns its normal.
    lane_model: Any = None
    # Files by SHA-256 that the lane terminal never serves (biometric templates): apart from `media`.
    private_media: MediaStore | None = None

    @property
    def topic_prefix(self) -> str:
        """Where an MQTT device of this lane publishes: kouan/<lane>/<device>."""
        return f"kouan/{self.lane_id}/{self.config.id}"


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device; see the module docstring."""

    name: str
    description: str
    config_model: type[DeviceBase]
    defaults_model: type[KindDefaults]
    build: Callable[[DeviceContext], LaneDevice]
    channels: Callable[[Any, str], tuple[str, str]]  # (config, topic prefix) -> (transport, address) shown
    summary: Callable[[dict[str, Any]], str] = lambda state: ""
    event_topic: str = ""  # events go out on kouan/<lane>/events/<event_topic or name>
    migrations: tuple[Migration, ...] = field(default_factory=tuple)
    # What a stored reading means for the vehicle's passage, inside the reading's transaction
    # (config, txn, reading) -> observations; and the kind's checks against the declaration.
    observe: Callable[[Any, Txn, ReadingView], list[Observation]] = lambda config, txn, view: []
    check: Callable[[Observation, Declared], list[Finding]] | None = None
    # How the lane's own model is fitted for a device of this kind ([normal]); None: it cannot learn its normal.
    lane_fit: LaneFit | None = None

    @property
    def events_level(self) -> str:
        return self.event_topic or self.name


def defaults_type(kinds: dict[str, DeviceKind]) -> type[BaseModel]:
    """The `[kinds]` table's model: one optional sub-table per kind, nothing else."""
    from pydantic import ConfigDict, Field, create_model, model_validator

    fields: dict[str, Any] = {
        name: (kind.defaults_model, Field(default_factory=kind.defaults_model, description=kind.description))
        for name, kind in kinds.items()
    }

    def _known(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(kinds))
            if unknown:
                raise ValueError(f"unknown kind '{unknown[0]}' (known: {', '.join(sorted(kinds))})")
        return data

    return create_model(  # type: ignore[call-overload,no-any-return]
        "KindsConfig", __config__=ConfigDict(extra="forbid"),
        __validators__={"_known": model_validator(mode="before")(classmethod(_known))}, **fields,
    )
