"""Reads of the passage tables for the lane terminal and the MQTT topic: a page of the list,
one passage whole, the day's figures. Run on the store thread (through `Store.transact` or a
`Txn`), like everything else that touches the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.passages.observation import plate_norm
from edge.passages.reasons import reason_kind, release_needs_note
from edge.passages.rows import declaration_of, seen_in
from edge.store import Txn

_HOLDS_LIKE = '%"holds": true%'  # a passage with a reason that holds (reasons_json as json.dumps writes it)
_ROW = ("id, state, plate, containers, declaration_id, arrived_at, deadline_at, decided_at, acted_at, acted_by, "
        "note, reason_word, reasons_json, verdict_json, version, updated_at, waiting_for")


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    (pid, state, plate, containers, declaration_id, arrived_at, deadline_at, decided_at, acted_at, acted_by, note,
     word, reasons_json, verdict_json, version, updated_at, waiting_for) = row
    reasons = json.loads(reasons_json)
    verdict = json.loads(verdict_json) if verdict_json else None
    return {
        "id": pid, "state": state, "plate": plate, "containers": [c for c in containers.split(",") if c],
        "declaration_id": declaration_id, "arrived_at": arrived_at, "deadline_at": deadline_at,
        "decided_at": decided_at, "acted_at": acted_at, "acted_by": acted_by, "note": note, "reason": word,
        "holding": sum(1 for r in reasons if r["holds"]), "reasons": len(reasons),
        "verdict": verdict, "version": version, "updated_at": updated_at,
        "waiting_for": [d for d in waiting_for.split(",") if d],
        "release_needs_note": release_needs_note(state, verdict, reasons),
    }


def page(txn: Txn, before: int | None, limit: int, state: str | None = None) -> dict[str, Any]:
    """Newest first, `limit` passages older than id `before` (keyset paging: as fast on page 200
    as on page 1), optionally of one state; `next` is the cursor of the page after."""
    where, params = [], []
    if before is not None:
        where.append("id < ?")
        params.append(before)
    if state is not None:
        where.append("state = ?")
        params.append(state)
    sql = f"SELECT {_ROW} FROM passages" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
    rows = txn.execute(sql, (*params, limit + 1)).fetchall()
    items = [_summary(row) for row in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}


def detail(txn: Txn, passage_id: int, names: dict[str, str]) -> dict[str, Any] | None:
    """One passage whole: what each device said, the declaration beside it, reasons, timeline."""
    row = txn.execute(f"SELECT {_ROW} FROM passages WHERE id=?", (passage_id,)).fetchone()
    if row is None:
        return None
    out = _summary(row)
    out["reasons"] = json.loads(row[12])
    declaration = declaration_of(txn, row[4])
    out["declaration"] = declaration.model_dump(mode="json") if declaration else None
    out["observations"] = [
        {**s.observation.as_dict(), "at": s.at, "late": s.late,
         "device_name": names.get(s.observation.device_id, s.observation.device_id)}
        for s in seen_in(txn, passage_id)]
    out["timeline"] = [{"at": at, "what": what, "detail": detail_, "by": by} for at, what, detail_, by in txn.execute(
        "SELECT at, what, detail, by FROM passage_timeline WHERE passage_id=? ORDER BY id", (passage_id,))]
    return out


def stats(txn: Txn, since: float) -> dict[str, Any]:
    """The numbers the port is judged by, since `since`: passages, share released directly after
    machine inspection, time from arrival to decision (median, p95), and how many of the vehicles
    the machine held were let go anyway (`machine_holds`)."""
    counts = dict(txn.execute("SELECT state, COUNT(*) FROM passages WHERE arrived_at >= ? GROUP BY state", (since,)).fetchall())
    direct = txn.execute("SELECT COUNT(*) FROM passages WHERE arrived_at >= ? AND acted_by='machine' "
                         "AND state='released'", (since,)).fetchone()[0]
    times = [r[0] for r in txn.execute("SELECT decided_at - arrived_at FROM passages WHERE arrived_at >= ? AND "
                                       "decided_at IS NOT NULL ORDER BY 1", (since,))]
    decided = sum(n for s, n in counts.items() if s not in ("open", "analysing"))
    holds = machine_holds(txn, since)
    return {
        "since": since, "passages": sum(counts.values()), "by_state": counts, "decided": decided,
        "released_directly": direct, "released_directly_share": round(direct / decided, 4) if decided else None,
        "decision_s_p50": _quantile(times, 0.5), "decision_s_p95": _quantile(times, 0.95),
        "machine_held": holds.held, "machine_held_let_go": holds.let_go,
        "machine_held_let_go_share": round(holds.let_go / holds.held, 4) if holds.held else None,
        "holds_by_reason": holds.by_reason,
    }


@dataclass
class MachineHolds:
    """Passages the machine held, and how many of them were let go anyway (in all and per reason)."""

    held: int = 0
    let_go: int = 0
    by_reason: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> its word, held, let go


def machine_holds(txn: Txn, since: float) -> MachineHolds:
    """Decided passages since `since` that a reason held, and those of them released by an officer or
    cleared by the hub's reviewer, in all and per holding reason. A check whose holds are mostly let
    go holds clean vehicles: a model to recalibrate or refit, a device to look at."""
    out = MachineHolds()
    for reasons_json, state, acted_by, verdict_json in txn.execute(
            "SELECT reasons_json, state, acted_by, verdict_json FROM passages WHERE arrived_at >= ? AND "
            "decided_at IS NOT NULL AND reasons_json LIKE ?", (since, _HOLDS_LIKE)):
        codes = sorted({r["code"] for r in json.loads(reasons_json or "[]") if r.get("holds")})
        if not codes:
            continue
        given = (json.loads(verdict_json) or {}) if verdict_json else {}
        cleared = given.get("verdict") == "clear" and "held_again_at" not in given
        let_go = int((state == "released" and acted_by != "machine") or cleared)
        out.held += 1
        out.let_go += let_go
        for code in codes:
            row = out.by_reason.setdefault(code, {"word": reason_kind(code).word, "held": 0, "let_go": 0})
            row["held"] += 1
            row["let_go"] += let_go
    out.by_reason = dict(sorted(out.by_reason.items()))
    return out


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def last_clean_images(read: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]], plate: str, device_id: str,
                      limit: int = 5) -> list[str]:
    """The SHA-256s of the first image `device_id` saw in `plate`'s last clean passages, newest first:
    released (by the machine or an officer) with no reason that holds, the device's own report not
    late (an analysis that came after the release, whatever it found, is no reference), a plate read
    by the device itself (a pass joined by other keys may be another vehicle's), and no suspicious
    hub verdict. For a kind's own thread (`read` is `DeviceContext.read_store`), so the passage
    tables' layout stays in this package."""
    rows = read(
        "SELECT json_extract(o.observation_json, '$.images[0].sha256') FROM passages p "
        "JOIN passage_observations o ON o.passage_id = p.id "
        "WHERE p.plate = ? AND p.state IN ('released', 'reviewed') AND p.reasons_json NOT LIKE ? "
        "AND COALESCE(json_extract(p.verdict_json, '$.verdict'), '') != 'suspicious' "
        "AND o.device_id = ? AND o.pending = 0 AND o.late = 0 "
        "AND COALESCE(json_extract(o.observation_json, '$.plate'), '') != '' "
        "ORDER BY p.id DESC LIMIT ?", (plate_norm(plate), _HOLDS_LIKE, device_id, limit))
    return [row[0] for row in rows if row[0]]


ImageRef = tuple[str, str, int | None, int | None]  # (device id, SHA-256, width, height)


def clean_images(txn: Txn, passage_id: int, labels: Mapping[str, str] | None = None
                 ) -> tuple[str, list[ImageRef]] | None:
    """Why a passage counts as clean and each device's own image of it (`_own_images`); None when it does not
    count. Clean: released with no reason that holds, or cleared by the hub's reviewer (a clear verdict
    given before the vehicle was held again for something new, `held_again_at`, clears nothing); never
    after a suspicious verdict."""
    row = txn.execute("SELECT state, reasons_json, verdict_json FROM passages WHERE id=?", (passage_id,)).fetchone()
    if row is None:
        return None
    state, reasons_json, verdict_json = row
    given = (json.loads(verdict_json) or {}) if verdict_json else {}
    verdict = given.get("verdict")
    if verdict == "suspicious":
        return None
    if verdict == "clear" and "held_again_at" not in given and state in ("reviewed", "released"):
        why = "cleared by the hub"
    elif state == "released" and not any(r.get("holds") for r in json.loads(reasons_json)):
        why = "released clean"
    else:
        return None
    return why, _own_images(txn, passage_id, labels)


def find_images(txn: Txn, passage_id: int, labels: Mapping[str, str] | None = None
                ) -> list[tuple[ImageRef, list[str]]]:
    """A passage the hub's reviewer judged suspicious: the own image of each device that gave it a
    reason that holds, with those reasons' codes (a confirmed find of that device). Empty for any
    other passage, and for a suspicious one whose holds came from no device (the declaration's)."""
    row = txn.execute("SELECT reasons_json, verdict_json FROM passages WHERE id=?", (passage_id,)).fetchone()
    if row is None or not row[1] or (json.loads(row[1]) or {}).get("verdict") != "suspicious":
        return []
    codes: dict[str, list[str]] = {}
    for reason in json.loads(row[0]):
        if reason.get("holds") and reason.get("device_id"):
            codes.setdefault(str(reason["device_id"]), []).append(str(reason["code"]))
    return [(image, codes[image[0]]) for image in _own_images(txn, passage_id, labels) if image[0] in codes]


def _own_images(txn: Txn, passage_id: int, labels: Mapping[str, str] | None = None) -> list[ImageRef]:
    """Each device's own image of the passage, none that came late: an observation's first image
    (later ones are references such as the last clean pass), or, for a device in `labels`, its
    first image with that label (an observation with none gives none)."""
    labels = labels or {}
    images = []
    for device_id, data in txn.execute("SELECT device_id, observation_json FROM passage_observations WHERE "
                                       "passage_id=? AND pending=0 AND late=0 ORDER BY id", (passage_id,)):
        found = json.loads(data).get("images") or []
        wanted = labels.get(device_id)
        own = next((image for image in found if wanted is None or image.get("label") == wanted), None)
        if own and own.get("sha256"):
            images.append((device_id, str(own["sha256"]), own.get("width"), own.get("height")))
    return images


def waiting_counts(txn: Txn) -> dict[str, int]:
    """How many passages are in each state short of released, over the whole store (not a page of
    the list): the lane page's "(N flagged)" title and its filters' counts. Counted on the state index,
    so the day's released passages cost nothing; every such state is there, 0 when none."""
    waiting = ("open", "analysing", "clear", "flagged", "held", "reviewed")
    marks = ", ".join("?" * len(waiting))
    counts = dict(txn.execute(f"SELECT state, COUNT(*) FROM passages WHERE state IN ({marks}) GROUP BY state",
                              waiting).fetchall())
    return {state: int(counts.get(state, 0)) for state in waiting}
