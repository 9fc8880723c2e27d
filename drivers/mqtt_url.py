"""`mqtt://[user[:pass]@]host[:port]` URLs, as device addresses and broker settings are written."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class MqttUrl:
    """Where the broker is: parsed from `mqtt://[user[:pass]@]host[:port]`."""

    host: str
    port: int
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> MqttUrl:
    """Parse an `mqtt://` URL; anything else is a ValueError naming the URL."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt":
        raise ValueError(f"MQTT URL must start with mqtt:// (TLS is not supported yet): {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ValueError(f"MQTT URL has a bad port: {url!r}") from exc
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return MqttUrl(parts.hostname, port, username, password)
