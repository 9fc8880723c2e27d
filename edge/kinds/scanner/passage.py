"""What a scan means for the passage: the containers and plate it names, the X-ray image, and
whether the lane refers it to central image review (the scanner's `refer` setting)."""

from __future__ import annotations

from typing import Any

from edge.passages.observation import Declared, Finding, ImageRef, Observation, ReadingView, norm
from edge.store import Txn


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    if view.message not in ("scan", "refused", "file_missing"):
        return []
    notice = view.payload.get("notice") or {}
    base = {"device_id": view.device_id, "kind": "scanner", "ref": str(notice.get("scan_id")),
            "containers": tuple(notice.get("containers") or ()), "plate": notice.get("plate") or None}
    if view.message == "scan":
        image = ImageRef(str(view.payload["media_sha256"]), "X-ray scan", view.payload.get("width"), view.payload.get("height"))
        said = f"scan {view.payload.get('width')}x{view.payload.get('height')} {view.payload.get('energy')} energy"
        return [Observation(**base, said=said, images=(image,), facts={"refer": config.refer})]
    why = view.payload.get("message") if view.message == "refused" else "the scan file never arrived"
    return [Observation(**base, said=f"scan {notice.get('scan_id')} refused", findings=(Finding(
        "scan_refused", f"scan {notice.get('scan_id')} unusable: {why}", {"scan_id": notice.get("scan_id")}),))]


def check(observation: Observation, declared: Declared) -> list[Finding]:
    """`refer = "all"`: every scan goes to central review; "loaded": those of a container not
    declared empty; "none": none."""
    refer = observation.facts.get("refer")
    if refer is None or refer == "none" or not observation.images:
        return []
    loaded = [c for c in observation.containers if not declared.containers.get(norm(c))]
    if refer == "loaded" and not loaded:
        return []
    what = ", ".join(norm(c) for c in (loaded or observation.containers)) or "the vehicle"
    return [Finding("scan_referred", f"scan of {what} referred to central image review",
                    {"scan_id": observation.ref, "image_sha256": observation.images[0].sha256})]
