"""What a pass and its analysis mean for the vehicle's passage: the plate, the undercarriage
image, and, once the model has run, the objects it flagged with their regions on the image."""

from __future__ import annotations

from typing import Any

from edge.kinds.under_vehicle.readings import ANALYSIS_MESSAGE, PASS_MESSAGE
from edge.passages.observation import Finding, ImageRef, Observation, ReadingView, Region
from edge.store import Txn


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    state = view.state or {}
    if view.message not in (PASS_MESSAGE, ANALYSIS_MESSAGE) or not state.get("pass_id"):
        return []
    image = ImageRef(str(state["image_sha256"]), "undercarriage", state.get("width"), state.get("height"))
    base = {"device_id": view.device_id, "kind": "under_vehicle", "ref": str(state["pass_id"]),
            "plate": state.get("plate") or None}
    speed = f"pass {state.get('speed_kmh', 0):.0f} km/h"
    if view.message == PASS_MESSAGE:
        pending = state.get("analysis") == "pending"
        said = f"{speed}, " + ("analysing" if pending else f"not analysed ({state.get('analysis')})")
        findings = () if pending else (Finding("image_not_analysed", f"under-vehicle image not analysed: {state.get('analysis')}",
                                                {"image_sha256": image.sha256}),)
        return [Observation(**base, said=said, pending=pending, images=(image,), findings=findings)]
    payload = view.payload
    if payload.get("error"):
        return [Observation(**base, said=f"{speed}, analysis failed", images=(image,), findings=(Finding(
            "image_not_analysed", f"under-vehicle image could not be analysed: {payload['error']}",
            {"image_sha256": image.sha256}),))]
    regions = tuple(Region(*r["box"], score=r.get("score")) for r in payload.get("regions", ()))
    image = ImageRef(image.sha256, image.label, image.width, image.height, regions)
    score = float(payload.get("score", 0.0))
    if not payload.get("flagged"):
        return [Observation(**base, said=f"{speed}, clear (score {score:.2g})", images=(image,))]
    words = f"object under the vehicle: {len(regions)} region{'s' * (len(regions) != 1)} flagged (score {score:.2g})"
    evidence = {"image_sha256": image.sha256, "regions": [r.__dict__ for r in regions], "score": score,
                "model": payload.get("model"), "version": payload.get("version")}
    return [Observation(**base, said=f"{speed}, object flagged", images=(image,),
                        findings=(Finding("foreign_object", words, evidence),))]
