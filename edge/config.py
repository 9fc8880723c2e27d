"""The edge node's configuration file (TOML), validated by pydantic.

Device *kinds* (what a device speaks and how long it may stay silent) are kept apart from
device *instances* (which device, on which channels), as EdgeX splits device profiles from
devices: each kind's package brings its own device model (`devices` is their union,
discriminated on `kind`) and its site-wide defaults (`[kinds.<kind>]`). A bad file is refused
with the file, the field and the reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.device_config import TopicId
from edge.normal.config import NormalConfig
from edge.passages.config import PassagesConfig
from edge.uplink.config import UplinkConfig


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
    media: Path | None = Field(None, description="Folder for images, scans and DICOS files, stored by SHA-256; default: a 'media' folder beside the database. Relative paths are relative to the config file.")

    private_media: Path | None = Field(None, description="Folder for files the lane terminal never serves (a driver's iris codes and masks), stored by SHA-256; default: a 'private-media' folder beside the database. Relative paths are relative to the config file.")

    @property
    def media_dir(self) -> Path:
        return self.media if self.media is not None else self.path.parent / "media"

    @property
    def private_media_dir(self) -> Path:
        return self.private_media if self.private_media is not None else self.path.parent / "private-media"


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
    session_lifetime_s: float = Field(12 * 3600.0, gt=0, description="A login lasts at most this long (default 12 h, a shift), however busy.")
    session_idle_s: float = Field(30 * 60.0, gt=0, description="A login ends after this long without a request from it (default 30 min).")
    metrics_token: str | None = Field(None, min_length=16, description="Bearer token that lets a machine (Prometheus) read /metrics without a login: `Authorization: Bearer <token>`; at least 16 characters. Unset: only a logged-in user may read /metrics.")


def _device_union() -> Any:
    """Each kind's config model, the one to use picked by the device's `kind`."""
    from edge.kinds import KINDS

    models = tuple(kind.config_model for kind in KINDS.values())
    if len(models) < 2:
        raise RuntimeError("the device union needs two kinds or more (a discriminated union of one is a plain model)")
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 (built at run time)


def _kinds_model() -> Any:
    from edge.kinds import KINDS
    from edge.kinds.base import defaults_type

    return defaults_type(KINDS)


DeviceConfig = _device_union()
KindsConfig = _kinds_model()


class EdgeConfig(BaseModel):
    """The whole edge node configuration."""

    model_config = ConfigDict(extra="forbid")

    lane: LaneConfig
    store: StoreConfig = Field(default_factory=StoreConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    kinds: KindsConfig = Field(default_factory=KindsConfig, description="Site-wide settings per device kind ([kinds.<kind>]).")
    devices: list[DeviceConfig] = Field(default_factory=list, description="The lane's device instances, each with its kind's own fields.")
    passages: PassagesConfig = Field(default_factory=PassagesConfig, description="How readings become passages and decisions ([passages]).")
    uplink: UplinkConfig | None = Field(None, description="The image-review hub this lane uploads to ([uplink]); none: no uplink, nothing queued.")
    normal: NormalConfig | None = Field(None, description="The lane learns its normal ([normal]): clean passes kept and the lane's own model refitted from them; none: nothing kept.")

    @field_validator("devices")
    @classmethod
    def _unique_ids(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        seen: set[str] = set()
        for device in devices:
            if device.id in seen:
                raise ValueError(f"device id '{device.id}' is used twice")
            seen.add(device.id)
        return devices

    @model_validator(mode="after")
    def _deadlines_name_devices(self) -> EdgeConfig:
        known = {device.id for device in self.devices}
        for device_id in self.passages.deadlines:
            if device_id not in known:
                raise ValueError(f"passages.deadlines names device '{device_id}', which is not in devices "
                                 f"(known: {', '.join(sorted(known)) or 'none'})")
        learning = set(self.normal.devices) if self.normal is not None else set()
        for device_id in sorted(learning - known):
            raise ValueError(f"normal.devices names device '{device_id}', which is not in devices "
                             f"(known: {', '.join(sorted(known)) or 'none'})")
        from edge.kinds import KINDS

        for device in self.devices:
            if device.id in learning and KINDS[device.kind].lane_fit is None:
                raise ValueError(f"normal.devices names device '{device.id}', a {device.kind}, which cannot learn its "
                                 f"normal (kinds that can: {', '.join(k for k, v in KINDS.items() if v.lane_fit)})")
            if device.uses_lane_model() and device.id not in learning:
                raise ValueError(f"device '{device.id}' runs the lane's own model (\"lane\") but does not learn its "
                                 "normal: add it to [normal] devices")
        return self

    @property
    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"kouan-edge-{self.lane.id}"

    def kind_defaults(self, kind: str) -> Any:
        """The site-wide settings of one kind (its defaults with `[kinds.<kind>]` applied)."""
        return getattr(self.kinds, kind)


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"config error in {path}:"]
    for item in error.errors():
        parts = list(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):  # no kind we know, or none at all
            parts.append("kind")
            known = ", ".join(sorted(_kind_names()))
            tag = (item.get("ctx") or {}).get("tag")
            message = f"unknown kind '{tag}' (known: {known})" if tag is not None else f"missing (known kinds: {known})"
        elif parts[:1] == ["devices"] and len(parts) > 2 and parts[2] in _kind_names():
            del parts[2]  # the union's branch name adds nothing for the operator
        loc = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in parts)
        loc = loc.replace(".[", "[") or "(top level)"
        lines.append(f"  {loc}: {message}")
    return "\n".join(lines)


def _kind_names() -> set[str]:
    from edge.kinds import KINDS

    return set(KINDS)


def load_config(path: Path | str) -> EdgeConfig:
    """Read, parse and validate a TOML config file; relative store paths resolve against its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config error: {path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, not UTF-8
        raise ConfigError(f"config error: {path}: cannot be read: {exc}") from exc
    try:
        config = EdgeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from exc
    if not config.store.path.is_absolute():
        config.store.path = (path.parent / config.store.path).resolve()
    if config.store.media is not None and not config.store.media.is_absolute():
        config.store.media = (path.parent / config.store.media).resolve()
    if config.store.private_media is not None and not config.store.private_media.is_absolute():
        config.store.private_media = (path.parent / config.store.private_media).resolve()
    declarations = config.passages.declarations_file
    if declarations is not None and not declarations.is_absolute():
        config.passages.declarations_file = (path.parent / declarations).resolve()
    if config.normal is not None:
        for name in ("models_dir", "canaries", "backbone"):
            value = getattr(config.normal, name)
            if value is not None and not value.is_absolute():
                setattr(config.normal, name, (path.parent / value).resolve())
        for settings in config.normal.device.values():
            for name in ("canaries", "backbone"):
                if settings.get(name) is not None and not Path(settings[name]).is_absolute():
                    settings[name] = (path.parent / settings[name]).resolve()
    if config.uplink is not None and config.uplink.token_file is not None and not config.uplink.token_file.is_absolute():
        config.uplink.token_file = (path.parent / config.uplink.token_file).resolve()
    return config
