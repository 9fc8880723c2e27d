"""The edge node's configuration file (TOML), validated by pydantic.

Device *kinds* (what a device speaks and how long it may stay silent) are kept apart from
device *instances* (which device, on which transport, at which address), as EdgeX splits
device profiles from devices. A bad file is refused with the file, the field and the reason.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Topic levels the edge publishes under kouan/<lane>/...; a device may not take these names.
RESERVED_DEVICE_IDS = frozenset({"edge", "events", "passages", "verdicts"})


def _topic_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


# An id that is safe as one MQTT topic level and in file names.
TopicId = Annotated[str, AfterValidator(_topic_id)]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


class LaneConfig(BaseModel):
    """Which lane this edge node serves."""

    model_config = ConfigDict(extra="forbid")

    id: TopicId = Field(description="Lane id, used in MQTT topics (kouan/<lane>/...) and uploads.")
    name: str = Field("", description="Human name shown on the lane terminal, e.g. 'Lane 3 inbound'.")


class StoreConfig(BaseModel):
    """Where the lane keeps its readings and events."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(Path("var/kouan-edge.sqlite3"), description="SQLite database file (WAL mode); relative paths are relative to the config file.")


class MqttConfig(BaseModel):
    """The site broker the edge talks to."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL, mqtt://[user:pass@]host:port.")
    client_id: str | None = Field(None, description="MQTT client id; default kouan-edge-<lane>. Must be stable for the persistent session.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith("mqtt://"):
            raise ValueError("must start with mqtt://")
        return value


class WebConfig(BaseModel):
    """The lane-terminal web page."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address the lane terminal listens on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port of the lane terminal; 0 picks a free one.")


class KindConfig(BaseModel):
    """Site overrides for a built-in device kind (see edge/device_kinds.py)."""

    model_config = ConfigDict(extra="forbid")

    offline_after_s: float | None = Field(None, gt=0, description="A device of this kind silent for longer is shown offline.")
    low_battery_pct: int | None = Field(None, ge=0, le=100, description="Battery at or below this raises a low-battery event.")


class DeviceConfig(BaseModel):
    """One device instance at the lane."""

    model_config = ConfigDict(extra="forbid")

    id: TopicId = Field(description="Device id, unique at the lane; used in topics kouan/<lane>/<device>/...")
    kind: str = Field(description="Device kind, e.g. 'smart_lock' (see edge/device_kinds.py).")
    transport: Literal["serial", "mqtt"] = Field(description="How the edge reaches the device.")
    address: str | None = Field(
        None,
        description="serial: a pyserial URL (/dev/ttyUSB0, a pty or its symlink, socket://host:port, rfc2217://...); "
        "mqtt: the topic prefix the device publishes under (default kouan/<lane>/<id>).",
    )
    baudrate: int = Field(115200, gt=0, description="Serial baud rate (ignored for MQTT).")
    name: str = Field("", description="Human name shown on the lane terminal.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_DEVICE_IDS:
            raise ValueError(f"'{value}' is reserved for the edge's own topics")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from edge.device_kinds import KINDS

        if value not in KINDS:
            raise ValueError(f"unknown kind '{value}' (known: {', '.join(sorted(KINDS))})")
        return value

    @model_validator(mode="after")
    def _check_transport(self) -> "DeviceConfig":
        from edge.device_kinds import KINDS

        if self.transport not in KINDS[self.kind].transports:
            raise ValueError(f"kind '{self.kind}' does not speak {self.transport} (it speaks {', '.join(KINDS[self.kind].transports)})")
        if self.transport == "serial" and not self.address:
            raise ValueError("a serial device needs an address (a port path or pyserial URL)")
        return self


class EdgeConfig(BaseModel):
    """The whole edge node configuration."""

    model_config = ConfigDict(extra="forbid")

    lane: LaneConfig
    store: StoreConfig = Field(default_factory=StoreConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    kinds: dict[str, KindConfig] = Field(default_factory=dict, description="Overrides of built-in device kinds, keyed by kind name.")
    devices: list[DeviceConfig] = Field(default_factory=list, description="The lane's device instances.")

    @field_validator("devices")
    @classmethod
    def _unique_ids(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        seen: set[str] = set()
        for device in devices:
            if device.id in seen:
                raise ValueError(f"device id '{device.id}' is used twice")
            seen.add(device.id)
        return devices

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, KindConfig]) -> dict[str, KindConfig]:
        from edge.device_kinds import KINDS

        for name in kinds:
            if name not in KINDS:
                raise ValueError(f"unknown kind '{name}' (known: {', '.join(sorted(KINDS))})")
        return kinds

    @property
    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"kouan-edge-{self.lane.id}"

    def device_topic(self, device: DeviceConfig) -> str:
        """Topic prefix an MQTT device publishes under."""
        return device.address or f"kouan/{self.lane.id}/{device.id}"


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"config error in {path}:"]
    for item in error.errors():
        loc = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in item["loc"])
        loc = loc.replace(".[", "[") or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {message}")
    return "\n".join(lines)


def load_config(path: Path | str) -> EdgeConfig:
    """Read, parse and validate a TOML config file; relative store paths resolve against its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config error: {path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: not valid TOML: {exc}") from exc
    try:
        config = EdgeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from exc
    if not config.store.path.is_absolute():
        config.store.path = (path.parent / config.store.path).resolve()
    return config
