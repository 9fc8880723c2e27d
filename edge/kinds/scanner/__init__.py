"""The large container scanner: a notice on MQTT per scan, the scan file in a watched folder."""

from __future__ import annotations

from typing import Any

from edge.kinds.base import DeviceContext, DeviceKind, LaneDevice
from edge.kinds.scanner.config import ScannerConfig, ScannerDefaults
from edge.kinds.scanner.pending import MIGRATIONS
from edge.kinds.scanner import passage


def build(ctx: DeviceContext) -> LaneDevice:
    """The scanner's adapter: its MQTT notice channel and its watched folder, paired by file name."""
    from edge.kinds.scanner.intake import ScannerIntake

    return ScannerIntake(ctx)


def channels(config: ScannerConfig, topic_prefix: str) -> tuple[str, str]:
    """What the page shows: the notice topic prefix and the folder."""
    return "mqtt+folder", f"{config.topic_prefix or topic_prefix} + {config.folder}"


def summary(state: dict[str, Any]) -> str:
    """The device row: the last outcome (e.g. "CSQU3054383: scan 3000x5000 dual energy"), and what waits."""
    last = state.get("last") or {}
    waiting = len(state.get("pending") or ())
    text = ""
    if last.get("event") == "scan_received":
        text = f"{last.get('subject')}: scan {last.get('height')}x{last.get('width')} {last.get('energy')} energy"
    elif last.get("event") == "scan_refused":
        text = f"{last.get('subject')}: scan refused, {last.get('reason')}"
    elif last.get("event") == "file_missing":
        text = f"{last.get('subject')}: scan file never came"
    elif last.get("event") == "file_without_notice":
        text = f"{last.get('subject')}: file without notice"
    if waiting:
        text += ("; " if text else "") + f"{waiting} notice{'s' if waiting > 1 else ''} waiting for the file"
    return text


KIND = DeviceKind(
    name="scanner",
    description="Large container scanner (scan notice on MQTT, 16-bit TIFF/PNG/DICOS files in a watched folder).",
    config_model=ScannerConfig,
    defaults_model=ScannerDefaults,
    build=build,
    channels=channels,
    summary=summary,
    event_topic="scanner",
    migrations=MIGRATIONS,
    observe=passage.observe,
    check=passage.check,
)
