"""The under-vehicle camera's config: one MQTT channel (a KUV1 pass message per vehicle) and its model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.device_config import DeviceBase, KindDefaults


class UnderVehicleConfig(DeviceBase):
    """An HD under-vehicle camera (UVSS) in the lane's road surface."""

    kind: Literal["under_vehicle"] = Field(description="Device kind: an HD under-vehicle line-scan camera (UVSS).")
    address: str | None = Field(
        None, description="The MQTT topic prefix the camera publishes under (default kouan/<lane>/<id>); "
        "passes arrive on <prefix>/pass, availability on <prefix>/availability.",
    )
    model: str = Field(
        "under_vehicle", min_length=1,
        description="Model that analyses each pass image: a folder name, a card name or a folder path "
        "(found by the inference registry: KOUAN_MODELS_DIR, else the repository's models/); \"lane\": this lane's "
        "own current model (refitted from its clean passes, [normal]; before the first, [normal] baseline).",
    )
    analyse: bool = Field(True, description="Analyse each stored pass image (the model and/or the comparison below); "
                          "false: store the passes only.")
    model_check: bool = Field(True, description="Run the model on each pass; false where no model holds on this "
                              "lane's vehicles (the comparison alone then judges).")
    compare: bool = Field(True, description="Compare each pass with the same plate's last clean pass at this lane "
                          "(released with no reason that holds) and flag what changed.")
    model_check_when: Literal["always", "no_reference"] = Field(
        "always", description="always: the model runs on every pass (beside the comparison); no_reference: the "
        "comparison judges a plate with a clean pass on file that the pass registers onto, the model the others.")
    compare_full_from: float = Field(
        0.9, gt=0.0, le=1.0,
        description="Share of a pass's vehicle rows the comparison must cover to count as having checked the whole "
        "undercarriage. A pass compared over less (a tail cut off, rows that did not register) is also given to the "
        "model under model_check_when = no_reference, and when no model judges it the passage is held as partly "
        "not analysed.")

    def uses_lane_model(self) -> bool:
        return self.model == "lane"


class UnderVehicleDefaults(KindDefaults):
    """Site-wide settings for under-vehicle cameras (`[kinds.under_vehicle]`)."""

    offline_after_s: float = Field(
        1800.0, gt=0,
        description="A camera silent for longer is shown offline; it speaks only when a vehicle passes, so the "
        "default is long (half an hour).",
    )
    analysis_queue: int = Field(
        4, ge=1, le=64,
        description="Stored passes waiting for the model, at most; a pass arriving when it is full is counted, "
        "logged and left unanalysed (its image stays stored).",
    )
