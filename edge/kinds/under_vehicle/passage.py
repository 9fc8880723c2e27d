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
            "plate": state.get("plate") or None, "facts": {"reads_plate": True}}
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
    model_regions = _regions(payload.get("regions", ()))
    comparison = payload.get("comparison") or {}
    changed = _regions(comparison.get("regions", ()))
    image = ImageRef(image.sha256, image.label, image.width, image.height, model_regions + changed)
    images = [image]
    findings: list[Finding] = []
    said: list[str] = []
    if payload.get("model_skipped"):
        said.append("model not run (the comparison judges)")
    if payload.get("model"):
        score = float(payload.get("score", 0.0))
        said.append(f"model {'flagged' if payload.get('flagged') else 'clear'} ({score:.2g})")
        if payload.get("flagged"):
            words = (f"object under the vehicle: {len(model_regions)} region{'s' * (len(model_regions) != 1)} "
                     f"flagged by the model (score {score:.2g})")
            findings.append(Finding("foreign_object", words, {
                "image_sha256": image.sha256, "regions": [r.__dict__ for r in model_regions], "score": score,
                "model": payload.get("model"), "version": payload.get("version")}))
    if comparison:
        reference = comparison.get("reference_sha256")
        unchecked = not payload.get("model")  # nothing else looks at this image
        if reference is None and unchecked and (not base["plate"] or comparison.get("reference_error")):
            why = ("its plate was not read, so no earlier clean pass could be looked up" if not base["plate"]
                   else f"the plate's last clean pass could not be read ({comparison['reference_error']})")
            said.append("not compared")
            findings.append(Finding("image_not_analysed", f"under-vehicle image not checked: {why}, and no model "
                                    "judged it", {"image_sha256": image.sha256}))
        elif reference is None:
            said.append("no earlier clean pass")
            findings.append(Finding("no_reference", "first clean pass of this plate here: nothing to compare the "
                                    "undercarriage with", {"image_sha256": image.sha256}))
        else:
            images.append(ImageRef(str(reference), "last clean pass", None, None))
            score = float(comparison.get("score", 0.0))
            if not comparison.get("registered", True):
                matched = float(comparison.get("matched_fraction", 0.0))
                said.append(f"does not match the last clean pass ({matched:.0%} of it registered)")
                findings.append(Finding("undercarriage_mismatch", f"the undercarriage does not register onto the "
                                        f"plate's last clean pass ({matched:.0%} of its rows did): another vehicle "
                                        "with this plate, or a pass cut short; "
                                        + ("not compared" if not matched else "compared only there"),
                                        {"image_sha256": image.sha256, "reference_sha256": reference,
                                         "matched_fraction": matched}))
            else:
                said.append(f"{'changed' if comparison.get('flagged') else 'unchanged'} since the last clean pass")
                if not comparison.get("full", True):  # readings from before `full` was written count as whole
                    findings.extend(_partly_compared(comparison, said, unchecked, image.sha256, str(reference)))
            if comparison.get("flagged"):
                words = (f"object under the vehicle: {len(changed)} region{'s' * (len(changed) != 1)} changed since "
                         f"the plate's last clean pass (score {score:.2g})")
                findings.append(Finding("foreign_object", words, {
                    "image_sha256": image.sha256, "reference_sha256": reference, "score": score,
                    "regions": [r.__dict__ for r in changed]}))
    return [Observation(**base, said=f"{speed}, " + ("; ".join(said) or "analysed"), images=tuple(images),
                        findings=tuple(findings))]


def _partly_compared(comparison: dict[str, Any], said: list[str], unchecked: bool, image: str,
                     reference: str) -> list[Finding]:
    """A pass that registered onto its last clean pass over part of its rows only: the rest was not
    compared. With a model beside it, the model judged the whole image; without, that part is unchecked."""
    matched = float(comparison.get("matched_fraction", 0.0))
    said[-1] += f" over {matched:.0%} of the pass"
    if not unchecked:
        said.append("the model judged the whole image")
        return []
    return [Finding("image_not_analysed", f"under-vehicle image only partly checked: {1.0 - matched:.0%} of its rows "
                    "did not register onto the plate's last clean pass (a tail cut off, or rows that do not match) "
                    "and no model judged them", {"image_sha256": image, "reference_sha256": reference,
                                                 "matched_fraction": matched})]


def _regions(items: Any) -> tuple[Region, ...]:
    return tuple(Region(*r["box"], score=r.get("score")) for r in items)
