"""Kouan's vendor extra item (id 0xE0) carrying the lock's own state inside a 0x0200 report.

Layout of the value (all one byte unless said):
  0  layout version (1)
  1  state: 0 sealed, 1 opened, 2 tampered
  2  flags: bit 0 rope cut, bit 1 shell opened, bit 2 battery low; bits 3-7 zero
  3  battery percent 0-100, 0xFF unknown
  4  n = lock id length (1-32)
  5  lock id, n bytes ASCII
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.jt808.errors import Jt808DecodeError, Reason
from drivers.jt808.location import ExtraItem, LocationReport

LOCK_STATUS_ITEM = 0xE0
LAYOUT_VERSION = 1
FLAG_ROPE_CUT = 1 << 0
FLAG_SHELL_OPENED = 1 << 1
FLAG_BATTERY_LOW = 1 << 2
BATTERY_UNKNOWN = 0xFF
LOW_BATTERY_PCT = 20


class LockStateCode(IntEnum):
    """Byte 1 of the lock status item."""

    SEALED = 0
    OPENED = 1
    TAMPERED = 2


@dataclass(frozen=True)
class LockStatus:
    """The decoded 0xE0 item."""

    lock_id: str
    state: LockStateCode
    rope_cut: bool = False
    shell_opened: bool = False
    battery_pct: int | None = None

    @property
    def battery_low(self) -> bool:
        return self.battery_pct is not None and self.battery_pct <= LOW_BATTERY_PCT


def encode_lock_status(status: LockStatus) -> ExtraItem:
    """Build the 0xE0 extra item."""
    lock_id = status.lock_id.encode("ascii")
    if not 1 <= len(lock_id) <= 32:
        raise ValueError(f"lock id must be 1-32 ASCII bytes, got {status.lock_id!r}")
    if status.battery_pct is not None and not 0 <= status.battery_pct <= 100:
        raise ValueError(f"battery_pct must be 0-100, got {status.battery_pct}")
    flags = ((FLAG_ROPE_CUT if status.rope_cut else 0) | (FLAG_SHELL_OPENED if status.shell_opened else 0)
             | (FLAG_BATTERY_LOW if status.battery_low else 0))
    battery = BATTERY_UNKNOWN if status.battery_pct is None else status.battery_pct
    value = bytes([LAYOUT_VERSION, int(status.state), flags, battery, len(lock_id)]) + lock_id
    return ExtraItem(LOCK_STATUS_ITEM, value)


def decode_lock_status(value: bytes) -> LockStatus:
    """Parse the value of a 0xE0 item."""
    if len(value) < 6:
        raise Jt808DecodeError(Reason.BAD_BODY, f"lock status item is {len(value)} bytes, needs at least 6")
    version, state, flags, battery, n = value[:5]
    if version != LAYOUT_VERSION:
        raise Jt808DecodeError(Reason.BAD_BODY, f"lock status layout version {version} is not {LAYOUT_VERSION}")
    if state not in LockStateCode.__members__.values():
        raise Jt808DecodeError(Reason.BAD_BODY, f"lock state code {state} is not 0, 1 or 2")
    if len(value) != 5 + n or n == 0:
        raise Jt808DecodeError(Reason.BAD_BODY, f"lock id length {n} does not match the item ({len(value)} B)")
    if battery != BATTERY_UNKNOWN and battery > 100:
        raise Jt808DecodeError(Reason.BAD_BODY, f"battery {battery} % is above 100")
    return LockStatus(
        lock_id=value[5:].decode("ascii", errors="replace"), state=LockStateCode(state),
        rope_cut=bool(flags & FLAG_ROPE_CUT), shell_opened=bool(flags & FLAG_SHELL_OPENED),
        battery_pct=None if battery == BATTERY_UNKNOWN else battery,
    )


def find_lock_status(report: LocationReport) -> LockStatus | None:
    """The lock status carried by a location report, or None if it has no 0xE0 item."""
    item = report.extra(LOCK_STATUS_ITEM)
    return None if item is None else decode_lock_status(item.value)
