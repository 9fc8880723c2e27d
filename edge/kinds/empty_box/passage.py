"""What a scan of the empty-box detector means for the passage: the container number, what the
detector says of its interior, and the interior image. `check` holds it against the declaration:
a container declared empty that the detector finds not empty (or cannot judge) is a reason.

The scan result (Modbus) and its image (MQTT) arrive apart; both readings carry what the device
has of that scan, so whichever comes second makes the whole observation (`ref` is the scan's
sequence number); an image before its scan result is pending.
"""

from __future__ import annotations

from typing import Any

from edge.passages.observation import Declared, Finding, ImageRef, Observation, ReadingView, Region, norm
from edge.store import Txn


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    state = view.state or {}
    if view.message == "scan":
        sequence, container = state.get("sequence"), state.get("container")
    elif view.message == "image":
        sequence, container = view.payload.get("sequence"), view.payload.get("container")
        if state.get("sequence") != sequence:
            state = {"image_sha256": state.get("image_sha256")}
    else:
        return []
    if sequence is None:
        return []
    images: tuple[ImageRef, ...] = ()
    if state.get("image_sha256"):
        width, height = view.payload.get("width"), view.payload.get("height")
        regions = tuple(Region(*r["box"], score=r.get("score")) for r in state.get("regions", ()))
        images = (ImageRef(str(state["image_sha256"]), "container interior", width, height, regions),)
    verdict = state.get("verdict_words")
    confidence = state.get("confidence")
    said = (f"{container or 'no container number'}: " + (f"{verdict}" + (f" ({confidence:.2f})" if confidence is not None else "")
                                                        if verdict else "image, waiting for the scan result"))
    return [Observation(device_id=view.device_id, kind="empty_box", ref=f"scan-{sequence}", said=said,
                        containers=(container,) if container else (), pending=verdict is None, images=images,
                        facts={"verdict": verdict, "confidence": confidence, "sequence": sequence})]


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
        if verdict == "not empty":
            found.append(Finding("not_empty", f"container {norm(number)} is declared empty; the detector finds it not empty",
                                 evidence))
        elif verdict == "unknown":
            found.append(Finding("empty_unknown", f"container {norm(number)} is declared empty; the detector gave no verdict",
                                 evidence))
    return found
