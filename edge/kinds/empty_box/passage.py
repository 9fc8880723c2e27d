"""What a scan of the empty-box detector means for the passage: the container number, what the
detector says of its interior, and the interior image. `check` holds it against the declaration:
a container declared empty that the detector finds not empty (or cannot judge) is a reason.

The scan result (Modbus) and its image (MQTT) arrive apart; both readings carry what the device
has of that scan, so whichever comes second makes the whole observation (`ref` is the scan's
sequence number); an image before its scan result is pending.
"""

from __future__ import annotations

from typing import Any

from edge.kinds.empty_box.config import interior_label
from edge.passages.observation import Declared, Finding, ImageRef, Observation, ReadingView, Region, norm
from edge.store import Txn


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    state = view.state or {}
    if view.message == "scan":
        sequence, container = state.get("sequence"), state.get("container")
    elif view.message in ("image", "analysis"):
        sequence, container = view.payload.get("sequence"), view.payload.get("container")
        if state.get("sequence") != sequence:
            state = {k: v for k, v in state.items() if k in ("image_sha256", "analysed", "regions", "analysis_error",
                                                              "model_skipped")}
    else:
        return []
    if sequence is None:
        return []
    image_kind = state.get("image_kind") or view.payload.get("kind") or view.payload.get("image_kind")
    images: tuple[ImageRef, ...] = ()
    if state.get("image_sha256"):
        width, height = (view.payload.get("width"), view.payload.get("height")) if view.message == "image" else (None, None)
        regions = tuple(Region(*r["box"], score=r.get("score")) for r in state.get("regions", ()))
        images = (ImageRef(str(state["image_sha256"]), interior_label(image_kind), width, height, regions),)
    verdict = state.get("verdict_words")
    confidence = state.get("confidence")
    said = (f"{container or 'no container number'}: " + (f"{verdict}" + (f" ({confidence:.2f})" if confidence is not None else "")
                                                        if verdict else "image, waiting for the scan result"))
    awaited = bool(config.models.for_kind(image_kind)) and not state.get("analysed")  # the model still to look
    findings = ()
    if state.get("analysis_error"):
        findings = (Finding("image_not_analysed", f"interior image could not be analysed: {state['analysis_error']}",
                            {"image_sha256": state.get("image_sha256")}),)
    elif state.get("model_skipped"):
        said += "; model: none yet"
    elif state.get("analysed"):
        said += f"; model: {len(state.get('regions') or [])} region(s)" if state.get("interior_flagged") else "; model: empty"
    return [Observation(device_id=view.device_id, kind="empty_box", ref=f"scan-{sequence}", said=said,
                        containers=(container,) if container else (), pending=verdict is None or awaited,
                        images=images, findings=findings,
                        facts={"verdict": verdict, "confidence": confidence, "sequence": sequence,
                               "interior_flagged": state.get("interior_flagged")})]


def check(observation: Observation, declared: Declared) -> list[Finding]:
    """A container declared empty must be found empty."""
    found = []
    verdict = observation.facts.get("verdict")
    for number in observation.containers:
        if not declared.containers.get(norm(number)):
            continue  # declared loaded (or not declared: the passage's own check says so)
        evidence: dict[str, Any] = {"container": norm(number), "verdict": verdict,
                                    "confidence": observation.facts.get("confidence")}
        if observation.images:
            evidence.update(image_sha256=observation.images[0].sha256,
                            regions=[r.__dict__ for r in observation.images[0].regions])
        regions = len(evidence.get("regions") or [])
        where = f" ({regions} region{'s' * (regions != 1)} on the interior image)" if regions else ""
        if verdict == "not empty":
            found.append(Finding("not_empty", f"container {norm(number)} is declared empty; the detector finds it "
                                 f"not empty{where}", evidence))
        elif observation.facts.get("interior_flagged"):
            found.append(Finding("not_empty", f"container {norm(number)} is declared empty; the detector says empty, "
                                 f"but the interior image is not{where}", evidence))
        elif verdict == "unknown":
            found.append(Finding("empty_unknown", f"container {norm(number)} is declared empty; the detector gave no verdict",
                                 evidence))
    return found
