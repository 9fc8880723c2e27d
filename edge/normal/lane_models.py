"""A device's own model versions: `<models_dir>/<device>/v<n>/` (model.onnx, card.json, fit.json),
a `current` pointer, and `history.jsonl` (every adoption, refusal and rollback, with figures).

The pointer is a one-line file replaced atomically (written beside, fsynced, renamed), so a
reader sees the old version or the new one, never half of either. A candidate is fitted in a
folder of its own under the device's folder and renamed into place when adopted (one
filesystem: the rename is atomic). The edge's schedule and `kouan model fit --from-store` may
run at the same time: whoever changes a device's folder holds its lock (`flock` on `.lock`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CURRENT = "current"
HISTORY = "history.jsonl"
FIT_RECORD = "fit.json"
_VERSION = re.compile(r"^v([0-9]+)$")


class LaneModelError(RuntimeError):
    """A lane model folder cannot do what was asked; the message says why."""


class LaneModelBusy(LaneModelError):
    """Another process holds the device folder's lock (a refit) longer than the caller would wait."""


class LaneModels:
    """One device's model folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ------------------------------------------------------------ reading

    def current_version(self) -> str | None:
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if _VERSION.match(name) and (self.root / name).is_dir() else None

    def current_folder(self) -> Path | None:
        version = self.current_version()
        return self.root / version if version else None

    def versions(self) -> list[str]:
        """Version folders present, oldest first."""
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in self.root.iterdir() if p.is_dir() and (m := _VERSION.match(p.name))]
        return [name for _, name in sorted(found)]

    def history(self) -> list[dict[str, Any]]:
        """Every entry of history.jsonl, oldest first (a line that does not parse is logged and left out)."""
        path = self.root / HISTORY
        if not path.is_file():
            return []
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                log.warning("%s line %d does not parse; left out", path, number)
        return entries

    def fit_record(self, version: str | None = None) -> dict[str, Any]:
        """A version's fit.json (the current one's by default); {} when there is none."""
        version = version or self.current_version()
        if version is None:
            return {}
        try:
            return json.loads((self.root / version / FIT_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def attempts(self) -> list[dict[str, Any]]:
        """The history's refits and proposals that were judged (adopted or refused), oldest first."""
        return [e for e in self.history() if e.get("action") in ("adopted", "refused")]

    def watermarks(self) -> tuple[int, int]:
        """(the newest retained-image row, the newest confirmed-find row) the refits saw, 0 before any:
        the schedule counts what came after. A proposed model's entry has no find row (it saw none),
        so the find row is the last refit's that has one."""
        attempts = self.attempts()
        row = int(attempts[-1].get("last_row_id", 0)) if attempts else 0
        find = next((int(e["last_find_id"]) for e in reversed(attempts) if "last_find_id" in e), 0)
        return row, find

    # ------------------------------------------------------------ changing (hold `locked()`)

    @contextmanager
    def locked(self, wait_s: float | None = None) -> Iterator[None]:
        """Hold the device folder's lock: wait while another holds it (a refit takes minutes), or with
        `wait_s` at most that long, then LaneModelBusy."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            if wait_s is None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise LaneModelBusy(f"{self.root}: a refit of this device's model is running (its lock "
                                                f"was held for {wait_s:g} s)") from None
                        time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def candidate_folder(self) -> Path:
        """A fresh folder to fit a candidate in (removed by `adopt`'s rename, or by `refuse`). Call it
        holding the lock: no other candidate is in use then, so those a killed refit left are removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        for leftover in self.root.glob(".candidate-*"):
            shutil.rmtree(leftover, ignore_errors=True)
            log.warning("lane model %s: %s, left by a refit that did not finish, removed", self.root, leftover.name)
        folder = self.root / f".candidate-{os.getpid()}-{time.time_ns()}"
        folder.mkdir()
        return folder

    def next_version(self) -> str:
        numbers = [int(v[1:]) for v in self.versions()]
        numbers += [int(str(e.get("version", "v0"))[1:]) for e in self.history() if _VERSION.match(str(e.get("version")))]
        return f"v{max(numbers, default=0) + 1}"

    def adopt(self, candidate: Path, version: str, record: dict[str, Any], keep: int) -> Path:
        """Move `candidate` to `<root>/<version>`, note it, point `current` at it, prune old versions.
        Noted first: if the note fails the version is removed and `current` stays; once noted, a
        rollback finds the version it replaced even if `current` was never moved."""
        target = self.root / version
        if target.exists():
            raise LaneModelError(f"{target} exists already")
        (candidate / FIT_RECORD).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(candidate, target)
        previous = self.current_version()
        try:
            self._note({**_short(record), "action": "adopted", "version": version, "previous": previous})
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self._point(version)
        self._prune(keep)
        return target

    def refuse(self, candidate: Path | None, record: dict[str, Any]) -> None:
        """Note a refused candidate (with its figures) and delete its folder; `current` stays."""
        self._note({**_short(record), "action": "refused", "current": self.current_version()})
        if candidate is not None:
            shutil.rmtree(candidate, ignore_errors=True)

    def rollback_target(self, history: list[dict[str, Any]] | None = None) -> str | None:
        """The version a rollback would point `current` at: the one current before it, if still kept
        (`history`: entries already read)."""
        current = self.current_version()
        if current is None:
            return None
        stack = self._adopted_stack(self.history() if history is None else history)
        while stack and stack[-1] != current:
            stack.pop()
        earlier = [v for v in stack[:-1] if (self.root / v).is_dir()]
        return earlier[-1] if earlier else None

    def rollback(self, by: str = "", reason: str = "", expect: str | None = None) -> tuple[str, str]:
        """Point `current` back at the version that was current before it; (from, to). `by` and
        `reason` (who asked, and why) go into the history with it. With `expect`, the version the
        caller saw running: refused if another has been adopted since."""
        current = self.current_version()
        if current is None:
            raise LaneModelError(f"{self.root}: no current lane model to roll back from")
        if expect is not None and current != expect:
            raise LaneModelError(f"{self.root}: the current model is {current}, not {expect} (it changed "
                                 "meanwhile); nothing rolled back")
        target = self.rollback_target()
        if target is None:
            raise LaneModelError(f"{self.root}: {current} is the first lane model kept here; nothing to roll back to")
        self._point(target)
        self._note({"action": "rollback", "from": current, "version": target, "by": by, "reason": reason})
        return current, target

    # ------------------------------------------------------------ inside

    @staticmethod
    def _adopted_stack(history: list[dict[str, Any]]) -> list[str]:
        """The versions that were current, in order, with rolled-back ones taken off (and any above
        the one an adoption replaced: an adoption noted whose pointer never moved)."""
        stack: list[str] = []
        for entry in history:
            if entry.get("action") == "adopted":
                while entry.get("previous") in stack and stack[-1] != entry["previous"]:
                    stack.pop()
                stack.append(str(entry["version"]))
            elif entry.get("action") == "rollback":
                while stack and stack[-1] != entry.get("version"):
                    stack.pop()
        return stack

    def _point(self, version: str) -> None:
        tmp = self.root / f".{CURRENT}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / CURRENT)
        log.info("lane model %s: current is now %s", self.root, version)

    def _note(self, entry: dict[str, Any]) -> None:
        """Append one line to the history, fsynced; after a torn last line (a killed write) on a line of its own."""
        line = json.dumps({"at": time.time(), **entry}, ensure_ascii=False) + "\n"
        with (self.root / HISTORY).open("a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = "\n" + line
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def _prune(self, keep: int) -> None:
        """Keep `keep` versions: the current one, those below it on the adopted stack (what rollbacks go
        back to, newest first), then the newest others (rolled back from, or never current); delete the rest."""
        current = self.current_version()
        stack = self._adopted_stack(self.history())
        while stack and stack[-1] != current:
            stack.pop()
        present = self.versions()
        ranked = list(dict.fromkeys([v for v in [current, *reversed(stack)] if v in present] + present[::-1]))
        for version in ranked[max(keep, 1):]:
            shutil.rmtree(self.root / version, ignore_errors=True)
            log.info("lane model %s: old version %s deleted (keep_versions %d)", self.root, version, keep)


def _short(record: dict[str, Any]) -> dict[str, Any]:
    """What history.jsonl keeps of a fit record: the figures and the verdict, not the image lists."""
    return {k: v for k, v in record.items() if k not in ("fitted", "held_back")}


@dataclass(frozen=True)
class LaneModelPointer:
    """What a device configured with model = "lane" runs: its current lane model, else the baseline."""

    root: Path
    baseline: str | None = None

    def resolve(self) -> tuple[str | None, str]:
        """(model folder or name to load, a token that changes when it does); (None, "none"): no model."""
        folder = LaneModels(self.root).current_folder()
        if folder is not None:
            return str(folder), f"lane:{folder.name}"
        if self.baseline:
            return self.baseline, f"baseline:{self.baseline}"
        return None, "none"
