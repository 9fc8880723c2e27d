"""Scripted events for the lock stub ("5:tamper,8:battery=10,12:silent,20:lock=SEAL-0042") and the
lock's mutable state.

`lock=ID` makes one stub play successive locks (a lane's lock reader, or a transit uplink, seeing
one truck's lock after another): from then on it reports as lock ID, a fresh lock (sealed, no
tamper flags; the battery stays), and a report goes out at once, even when ID is the lock it
already plays (the lock has just been read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.jt808.lock_items import LockStateCode, LockStatus

ACTIONS = ("sealed", "seal", "open", "opened", "tamper", "rope_cut", "shell_opened", "battery", "silent", "resume",
           "lock")
LOCK_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")  # fits the 0xE0 item (1-32 ASCII bytes) and the script grammar


@dataclass(frozen=True)
class ScriptedEvent:
    """At `at_s` seconds after start, do `action` (with `value` for battery=N, `lock_id` for lock=ID)."""

    at_s: float
    action: str
    value: int | None = None
    lock_id: str | None = None


def parse_events(text: str) -> list[ScriptedEvent]:
    """Parse a comma-separated list of `SECONDS:ACTION[=VALUE]`; a bad entry raises ValueError naming it."""
    events: list[ScriptedEvent] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        at, sep, action = entry.partition(":")
        if not sep:
            raise ValueError(f"event {entry!r}: expected SECONDS:ACTION, e.g. 5:tamper")
        try:
            at_s = float(at)
        except ValueError:
            raise ValueError(f"event {entry!r}: {at!r} is not a number of seconds") from None
        name, eq, raw = action.strip().partition("=")
        if name not in ACTIONS:
            raise ValueError(f"event {entry!r}: unknown action {name!r} (known: {', '.join(ACTIONS)})")
        value = None
        if name == "battery":
            if not eq or not raw.isdigit() or not 0 <= int(raw) <= 100:
                raise ValueError(f"event {entry!r}: battery needs a percent, e.g. battery=10")
            value = int(raw)
        elif name == "lock":
            if not eq or not LOCK_ID.match(raw):
                raise ValueError(f"event {entry!r}: lock needs an id of 1-32 letters, digits, '.', '_' or '-', "
                                 "e.g. lock=SEAL-0042")
            events.append(ScriptedEvent(at_s, name, lock_id=raw))
            continue
        elif eq:
            raise ValueError(f"event {entry!r}: {name} takes no value")
        events.append(ScriptedEvent(at_s, name, value))
    return sorted(events, key=lambda e: e.at_s)


@dataclass
class SimLock:
    """What the lock firmware knows about itself."""

    lock_id: str
    state: LockStateCode = LockStateCode.SEALED
    rope_cut: bool = False
    shell_opened: bool = False
    battery_pct: int = 95
    silent: bool = False

    def apply(self, event: ScriptedEvent) -> bool:
        """Apply an event; True when the lock status changed or a lock was read (a report goes out at once)."""
        before = self.status()
        action = event.action
        if action == "lock" and event.lock_id:
            self.lock_id, self.state, self.rope_cut, self.shell_opened = event.lock_id, LockStateCode.SEALED, False, False
            return True
        if action in ("sealed", "seal"):
            self.state, self.rope_cut, self.shell_opened = LockStateCode.SEALED, False, False
        elif action in ("open", "opened"):
            self.state = LockStateCode.OPENED
        elif action in ("tamper", "rope_cut"):
            self.state, self.rope_cut = LockStateCode.TAMPERED, True
        elif action == "shell_opened":
            self.state, self.shell_opened = LockStateCode.TAMPERED, True
        elif action == "battery" and event.value is not None:
            self.battery_pct = event.value
        elif action == "silent":
            self.silent = True
        elif action == "resume":
            was_silent, self.silent = self.silent, False
            return was_silent
        return self.status() != before

    def status(self) -> LockStatus:
        """The 0xE0 item content."""
        return LockStatus(self.lock_id, self.state, self.rope_cut, self.shell_opened, self.battery_pct)
