"""`[normal]`: which devices keep the images of their clean passes, within what budget, and how
the lane's own model is refitted from them and judged before it replaces the current one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# What `[normal.device.<id>]` may set for one device: its retention budgets and how its model is
# made, judged and started; the models folder, the versions kept and the schedule's period stay lane-wide.
PER_DEVICE = ("keep_images", "keep_bytes", "keep_finds", "baseline", "canaries", "hold_back", "min_held_back",
              "min_images", "min_new_images", "tolerance_clean_flagged", "tolerance_canary_recall",
              "tolerance_canary_auroc", "refit", "calibrate_quantile", "calibrate_margin", "method", "features", "tile",
              "shrink", "bank", "max_tiles", "min_finds", "min_new_finds", "find_quantile", "min_find_auroc", "quantile",
              "margin", "threads", "backbone")


class NormalConfig(BaseModel):
    """The lane learns its normal (`edge/normal`, docs/operations.md "The lane learns its normal")."""

    model_config = ConfigDict(extra="forbid")

    devices: list[str] = Field(
        min_length=1,
        description="Devices whose clean passes are kept and whose lane model is refitted from them (ids from "
                    "[[devices]]). A device configured with model = \"lane\" must be one of them.")
    keep_images: int = Field(500, ge=1, description="Retention budget per device: at most this many images; "
                             "the oldest is dropped first.")
    keep_bytes: int = Field(2 * 1024**3, ge=0, description="Retention budget per device in bytes of image files "
                            "(0: no byte limit); the oldest is dropped first.")
    models_dir: Path = Field(Path("var/models"), description="The lane's model folders: <models_dir>/<device>/<version>/ "
                             "with a `current` pointer; relative to the config file.")
    baseline: str | None = Field(
        None, description="The model a device with model = \"lane\" runs before the lane has one of its own, and what "
                          "the first refit must beat: a model name or folder (e.g. \"under_vehicle\"); none: no model "
                          "(the comparison alone judges, and the first refit is judged against flagging nothing).")
    canaries: Path | None = Field(
        None, description="Folder of canaries (canaries.json + images + masks) every candidate must keep finding; "
                          "default: the repository's models/canaries/<kind>/. Relative to the config file.")
    hold_back: float = Field(0.2, gt=0, lt=1, description="Share of the newest retained images held back from the "
                             "fit to judge the candidate and the current model on.")
    min_held_back: int = Field(8, ge=2, description="Fewest held-back images a judgement needs; fewer: no refit.")
    min_images: int = Field(40, ge=4, description="Fewest retained images (fit and held back together) before a refit.")
    refit_every_h: float | None = Field(None, gt=0, description="The edge refits each device this often, in hours, "
                                        "off the event loop (none: only `kouan model fit --from-store`).")
    min_new_images: int = Field(20, ge=1, description="The schedule refits a device only when at least this many "
                                "images were retained since its last refit (adopted or refused).")
    keep_versions: int = Field(5, ge=2, description="Model versions kept per device (the current one and those "
                               "before it, for rollback); older ones are deleted.")
    tolerance_clean_flagged: float = Field(0.0, ge=0, le=1, description="The candidate may flag this much larger a "
                                           "share of the held-back clean passes than the current model (0: none).")
    tolerance_canary_recall: float = Field(0.0, ge=0, le=1, description="The candidate may find this much smaller a "
                                           "share of the canaries than the current model (0: none).")
    tolerance_canary_auroc: float = Field(0.0, ge=0, le=1, description="The candidate's canary AUROC (canaries "
                                          "against the held-back clean passes) may be this much lower (0: none).")
    refit: Literal["fit", "calibrate"] = Field(
        "fit", description="What a refit makes: fit, a new model fitted on the retained clean passes (`kouan model "
                           "fit`); calibrate, the current model (or the baseline) with its threshold re-picked on them "
                           "(`kouan model calibrate`), for a model that ranks this lane's vehicles well but flags too "
                           "many clean ones at its card threshold. Either is judged by the same rule.")
    calibrate_quantile: float = Field(0.98, ge=0.5, lt=1, description="refit = \"calibrate\": quantile of the "
                                      "clean passes' scores (as `kouan model calibrate --quantile`).")
    calibrate_margin: float = Field(0.25, ge=0, description="refit = \"calibrate\": threshold = Q + margin x "
                                    "(Q - median) of those scores (as `kouan model calibrate --margin`).")
    method: Literal["knn", "gaussian", "padim", "patchcore", "auto"] | None = Field(
        None, description="The fit's head (as `kouan model fit --method`); none: the device kind's default "
                          "(under-vehicle knn, empty-box patchcore).")
    features: Literal["filterbank", "lite0"] | None = Field(
        None, description="The fit's features (as `kouan model fit --backbone`); none: the device kind's default "
                          "(under-vehicle filterbank, empty-box lite0).")
    tile: int | None = Field(None, ge=32, description="Tile side in working pixels (after `shrink`); none: the "
                             "device kind's default (under-vehicle 128, empty-box 256).")
    shrink: tuple[int, int] | None = Field(
        None, description="(rows, columns) averaged into one working pixel inside the model graph, knn and gaussian "
                          "only; none: the device kind's default (under-vehicle (1, 8): a 4096-px line as 512 "
                          "working pixels; empty-box (1, 1)).")
    bank: int | None = Field(None, ge=16, description="knn: normal patches kept in the memory bank; none: the "
                             "device kind's default (256).")
    max_tiles: int | None = Field(None, ge=1, description="Tiles sampled per image for the fit; none: the device "
                                  "kind's default (under-vehicle 8, empty-box 16).")
    keep_finds: int = Field(200, ge=0, description="Confirmed finds kept per device (images of passages the hub judged "
                            "suspicious where the device held the vehicle), newest first; 0: none are kept and "
                            "refits use the threshold rule alone.")
    min_finds: int = Field(5, ge=1, description="Fewest confirmed finds before a refit lets them lower its threshold.")
    min_new_finds: int = Field(3, ge=0, description="The schedule also refits a device once at least this many "
                               "confirmed finds were kept since its last refit (and it holds `min_finds` in all), "
                               "so a new find moves the threshold without waiting for `min_new_images` clean "
                               "passes; 0: only new clean passes make a refit due.")
    find_quantile: float = Field(0.2, ge=0, lt=1, description="With enough finds, a candidate's threshold (fitted "
                                 "or re-calibrated) is lowered (never raised) to this quantile of the finds' scores, "
                                 "so it catches at least 1 - find_quantile of them, but never below Q (the rule with "
                                 "margin 0).")
    min_find_auroc: float = Field(0.9, ge=0.5, le=1, description="The finds lower a candidate's threshold only when "
                                  "it tells them at least this well (AUROC) from the clean passes its threshold came "
                                  "from (out-of-fold for a fit).")
    quantile: float = Field(0.99, gt=0.5, lt=1, description="Threshold rule: quantile of out-of-fold clean scores.")
    margin: float = Field(1.0, ge=0, description="Threshold rule: Q + margin x (Q - median).")
    threads: int = Field(2, ge=1, le=64, description="onnxruntime threads for the fit and the judgement.")
    backbone: Path | None = Field(None, description="Backbone folder for the fit (default: `kouan model fit`'s); "
                                  "relative to the config file.")
    device: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per device of `devices`, settings that differ from the lane's ([normal.device.<id>]): the "
                    "retention budgets, the baseline, the canaries, the refit (fit or calibrate) and its fit, "
                    "threshold, finds and judgement settings (PER_DEVICE); e.g. an empty-box detector that re-calibrates the shipped "
                    "empty_container beside an under-vehicle camera that fits its own model.")

    @model_validator(mode="after")
    def _distinct(self) -> NormalConfig:
        if len(set(self.devices)) != len(self.devices):
            raise ValueError("normal.devices names a device twice")
        if self.shrink is not None and min(self.shrink) < 1:
            raise ValueError("normal.shrink: factors must be at least 1")
        for device_id, settings in self.device.items():
            if device_id not in self.devices:
                raise ValueError(f"normal.device.{device_id}: {device_id!r} is not one of normal.devices")
            lane_wide = sorted(set(settings) - set(PER_DEVICE))
            if lane_wide:
                raise ValueError(f"normal.device.{device_id}.{lane_wide[0]}: not a per-device setting (per device: "
                                 f"{', '.join(PER_DEVICE)})")
            try:
                self.for_device(device_id)
            except ValidationError as exc:
                item = exc.errors()[0]
                where = "".join(f".{part}" for part in item["loc"])
                message = item["msg"].removeprefix("Value error, ")
                raise ValueError(f"normal.device.{device_id}{where}: {message}") from None
        return self

    def for_device(self, device_id: str) -> NormalConfig:
        """The settings one device runs with: the lane's, with its `[normal.device.<id>]` on top."""
        settings = self.device.get(device_id)
        if not settings:
            return self
        return NormalConfig.model_validate({**self.model_dump(exclude={"device"}), **settings})


@dataclass(frozen=True)
class LaneFit:
    """How a device kind's lane model is fitted (`kouan model fit`'s options); a kind that learns
    its normal ships its defaults (`DeviceKind.lane_fit`), and [normal] may override each."""

    method: str
    features: str
    tile: int
    shrink: tuple[int, int]
    bank: int
    max_tiles: int

    def overridden(self, normal: NormalConfig) -> LaneFit:
        """These defaults with every fit setting [normal] gives instead."""
        given = {name: getattr(normal, name) for name in ("method", "features", "tile", "shrink", "bank", "max_tiles")}
        return replace(self, **{name: value for name, value in given.items() if value is not None})
