"""Refit a device's lane model from its retained clean passes, judge it, adopt it or refuse it.

Shared by `kouan model fit --from-store` and the edge's schedule (on a worker thread). Steps:
the device's retained images (the store opened read-only, so the edge may keep running) ->
the newest `hold_back` share that the current model was not fitted on is held back -> the
rest are fitted (`edge.fitting.fit_model`, the [normal] fit settings; or, with refit =
"calibrate", the current model's threshold re-picked on them) into a candidate folder -> where
the lane holds enough confirmed finds, the candidate's threshold may be lowered to catch them
(`find_threshold.py`) -> the candidate and the current model (or the baseline, or no model) are
measured on the held-back passes and the canaries (`judge.py`) -> adopted as the next version,
both figures on its card, or refused with both figures in the message, the current model left
in place.
`propose` judges a model fitted elsewhere the same way.
"""

from __future__ import annotations

import logging
import math
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.fitting import FitInputError, FitOptions, fit_model
from edge.fitting.calibrate import calibrate_model
from edge.fitting.progress import Writer, stderr_writer
from edge.fitting.threshold import spread_threshold
from edge.inference.card import load_card, write_card
from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from edge.inference.preprocess import decode_image
from edge.media import MediaStore
from edge.normal.canaries import CanarySet, canary_folder, load_canaries
from edge.normal.config import NormalConfig
from edge.normal.find_threshold import FindThreshold, lower_to_finds
from edge.normal.finds import FoundImage, retained_finds
from edge.normal.judge import RULE, Judgement, judge, measure
from edge.normal.lane_models import LaneModelBusy, LaneModels
from edge.normal.retention import RetainedImage, retained
from edge.normal.setup import LaneSetup, RefitError, lane_setup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefitOutcome:
    """What a refit or a proposal did: adopted as `version`, or refused; the judgement's figures."""

    device_id: str
    adopted: bool
    version: str | None
    judgement: Judgement
    seconds: float
    fitted: int
    held_back: int
    finds: FindThreshold | None = None  # what the lane's confirmed finds did to the candidate's threshold

    @property
    def message(self) -> str:
        head = f"lane model for {self.device_id}: " + (f"{self.version} " if self.adopted else "candidate ")
        return head + (f"({self.finds.text()}) " if self.finds else "") + self.judgement.text()

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device_id, "adopted": self.adopted, "version": self.version,
                "fitted": self.fitted, "held_back": self.held_back, "seconds": round(self.seconds, 2),
                "finds": self.finds.as_dict() if self.finds else None, **self.judgement.as_dict()}


def retained_images(setup: LaneSetup) -> tuple[list[RetainedImage], list[FoundImage]]:
    """The device's retained clean images and confirmed finds, from the store opened read-only
    (the edge may be running)."""
    if not setup.store_path.is_file():
        raise RefitError(f"no store at {setup.store_path}: the edge has not run with this config")
    conn = sqlite3.connect(f"file:{setup.store_path}?mode=ro", uri=True, timeout=30)
    try:
        def read(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            return conn.execute(sql, params).fetchall()
        return retained(read, setup.device_id), retained_finds(read, setup.device_id)
    except sqlite3.OperationalError as exc:
        raise RefitError(f"store {setup.store_path}: no retained images ({exc}); start the edge once with "
                         "[normal] configured") from exc
    finally:
        conn.close()


def split(images: Sequence[RetainedImage], fitted_before: set[str], normal: NormalConfig
          ) -> tuple[list[RetainedImage], list[RetainedImage]]:
    """(to fit, held back): the newest `hold_back` share not fitted by the current model is held back."""
    if len(images) < normal.min_images:
        raise RefitError(f"{len(images)} retained clean passes, at least {normal.min_images} are needed "
                         "([normal] min_images)")
    want = max(normal.min_held_back, math.ceil(normal.hold_back * len(images)))
    unseen = [im for im in images if im.sha256 not in fitted_before]
    held = unseen[-want:]
    if len(held) < normal.min_held_back:
        raise RefitError(f"only {len(unseen)} retained clean passes the current model was not fitted on, "
                         f"{normal.min_held_back} are needed to judge a candidate ([normal] min_held_back)")
    held_ids = {im.row_id for im in held}
    return [im for im in images if im.row_id not in held_ids], held


def _suffix(head: bytes) -> str:
    return ".png" if head.startswith(b"\x89PNG") else ".jpg" if head.startswith(b"\xff\xd8") else ".tif"


def _link_folder(media: MediaStore, images: Sequence[RetainedImage], folder: Path) -> None:
    """The images as files with an image suffix (links into the media store), for `fit_model`."""
    for im in images:
        source = media.path(im.sha256)
        with source.open("rb") as handle:
            suffix = _suffix(handle.read(8))
        (folder / f"{im.row_id:08d}_{im.sha256[:16]}{suffix}").symlink_to(source)


def _decoded(media: MediaStore, images: Sequence[RetainedImage | FoundImage]) -> Iterator[np.ndarray]:
    for im in images:
        with media.open(im.sha256, verify=True) as handle:
            yield decode_image(handle.read(), im.sha256)


def _load(model: str | Path | None, normal: NormalConfig) -> Detector | None:
    return None if model is None else Detector.load(model, InferenceConfig(intra_op_threads=normal.threads))


def _current(models: LaneModels, normal: NormalConfig) -> tuple[str | None, str]:
    folder = models.current_folder()
    if folder is not None:
        card = load_card(folder)
        return str(folder), f"current {card.name} {card.version} ({folder.name})"
    if normal.baseline:
        return normal.baseline, f"current: baseline {normal.baseline}"
    return None, "current: no model"


def _card_figures(folder: Path, device_id: str, version: str, judgement: Judgement, held: int, canaries: CanarySet) -> None:
    """Both figures on the adopted model's card (the ONNX file, and so its hash, is unchanged)."""
    card = load_card(folder)
    new, old = judgement.candidate, judgement.current
    card.name = f"lane_{device_id}"
    card.version = f"{int(version[1:])}.0.0"
    card.metrics.image_auroc = round(new.canary_auroc, 4)
    card.metrics.n_normal = held
    card.metrics.n_anomalous = len(canaries.canaries)
    card.metrics.held_out_set = (
        f"Lane refit judgement: held-back clean passes of this lane (the newest, not fitted) and {canaries.label}. "
        f"This model flags {new.clean_flagged_n} of {new.clean_n} held-back clean passes ({new.clean_flagged:.0%}) "
        f"and finds {new.canary_found_n} of {new.canary_n} canaries ({new.canary_recall:.0%}); canary AUROC "
        f"against the held-back passes {new.canary_auroc:.3f} (image_auroc). The model it replaced, "
        f"{old.text()}. Rule: {RULE}.")
    write_card(folder, card)


def _judge_and_keep(setup: LaneSetup, models: LaneModels, candidate: Path, held: list[RetainedImage],
                    fitted: list[RetainedImage], last_row: int, started: float, write: Writer,
                    fitted_from: str, finds: FindThreshold | None = None,
                    last_find: int | None = None) -> RefitOutcome:
    canaries = load_canaries(canary_folder(setup.normal.canaries, setup.kind))
    current_model, current_label = _current(models, setup.normal)
    new_card = load_card(candidate)
    write(f"[judge] {len(held)} held-back clean passes and {canaries.label}: candidate against {current_label}")
    new_figures, old_figures = measure(
        [(f"candidate {new_card.name} (fitted on {fitted_from})", _load(candidate, setup.normal)),
         (current_label, _load(current_model, setup.normal))],
        _decoded(setup.media, held), canaries.canaries)
    judgement = judge(new_figures, old_figures, setup.normal)
    record = {"device": setup.device_id, "fitted_from": fitted_from, "fitted": [im.sha256 for im in fitted],
              "held_back": [im.sha256 for im in held], "fitted_n": len(fitted), "held_back_n": len(held),
              "last_row_id": last_row, "canaries": str(canaries.folder),
              "finds": finds.as_dict() if finds else None, **judgement.as_dict()}
    if last_find is not None:  # the schedule's watermark for new finds; a proposed model saw none
        record["last_find_id"] = last_find
    if judgement.adopted:
        version = models.next_version()
        _card_figures(candidate, setup.device_id, version, judgement, len(held), canaries)
        models.adopt(candidate, version, {**record, "version": version}, setup.normal.keep_versions)
        log.info("lane model %s: %s adopted: %s", setup.device_id, version, judgement.text())
    else:
        version = None
        models.refuse(candidate, record)
        log.warning("lane model %s: candidate refused: %s", setup.device_id, judgement.text())
    outcome = RefitOutcome(setup.device_id, judgement.adopted, version, judgement, time.perf_counter() - started,
                           len(fitted), len(held), finds)
    write(f"[judge] {outcome.message}")
    return outcome


def _calibration_source(setup: LaneSetup, models: LaneModels) -> str:
    """The model refit = "calibrate" re-picks the threshold of: the current one, else the baseline."""
    source = _current(models, setup.normal)[0]
    if source is None:
        raise RefitError(f"device {setup.device_id}: refit = \"calibrate\" needs a model to calibrate; the lane "
                         "has none yet: set [normal] baseline")
    return source


def _make_candidate(setup: LaneSetup, source: str | None, images: Path, n: int, min_images: int, candidate: Path,
                    write: Writer) -> tuple[str, float, list[float]]:
    """Write the candidate from the `n` clean passes in `images`: `source` re-calibrated on them, or
    (no source) a model fitted on them; (what it was made from, for the record; the Q of its
    threshold rule and the clean scores it came from, out-of-fold for a fit, what finds may lower
    its threshold to)."""
    normal = setup.normal
    name = f"lane_{setup.device_id}"
    if source is not None:
        write(f"[calibrate] {source}: re-picking its threshold on {n} clean passes")
        done = calibrate_model(source, images, candidate, normal.calibrate_quantile, normal.calibrate_margin,
                               min_images, name, threads=normal.threads)
        floor = spread_threshold(np.asarray(done.scores, np.float64), normal.calibrate_quantile,
                                 normal.calibrate_margin)[2]
        return (f"{source} re-calibrated on {n} retained clean passes "
                f"(threshold {done.old_threshold:.4g} -> {done.card.threshold:.4g})"), floor, done.scores
    fit = setup.fit
    fitted = fit_model(images, candidate, FitOptions(
        method=fit.method, backbone=fit.features, tile=fit.tile, shrink=fit.shrink,  # type: ignore[arg-type]
        bank_size=fit.bank, max_tiles_per_image=fit.max_tiles, quantile=normal.quantile, margin=normal.margin,
        min_images=min_images, threads=normal.threads, name=name, backbone_dir=normal.backbone), write)
    return f"{n} retained clean passes", fitted.thresholds.quantile_value, list(fitted.oof_scores.values())


def _apply_finds(setup: LaneSetup, candidate: Path, floor: float, clean_scores: list[float],
                 finds: Sequence[FoundImage], write: Writer) -> FindThreshold | None:
    """Let the lane's confirmed finds lower the candidate's threshold (`find_threshold.py`), no
    lower than `floor`, when there are at least `min_finds`; None when they do not come into it."""
    normal = setup.normal
    if not normal.keep_finds:
        return None
    if len(finds) < normal.min_finds:
        if finds:
            write(f"[finds] {len(finds)} confirmed finds, {normal.min_finds} are needed to move the threshold "
                  "([normal] min_finds)")
        return None
    done = lower_to_finds(candidate, _decoded(setup.media, finds), clean_scores, floor,
                          normal.find_quantile, normal.min_find_auroc, normal.threads)
    write(f"[finds] {done.text()}")
    return done


def refit_device(setup: LaneSetup, write: Writer = stderr_writer) -> RefitOutcome:
    """Fit a candidate on the retained images (or, with refit = "calibrate", re-pick the current
    model's threshold on them) and adopt it or refuse it (module docstring)."""
    started = time.perf_counter()
    normal = setup.normal
    models = LaneModels(setup.root)
    with models.locked():
        images, finds = retained_images(setup)
        fitted, held = split(images, set(models.fit_record().get("fitted", [])), normal)
        write(f"[normal] {setup.device_id}: {len(images)} retained clean passes, fitting on {len(fitted)}, "
              f"holding back the newest {len(held)}")
        source = _calibration_source(setup, models) if normal.refit == "calibrate" else None
        candidate = models.candidate_folder()
        try:
            with tempfile.TemporaryDirectory(prefix="kouan-refit-") as tmp:
                _link_folder(setup.media, fitted, Path(tmp))
                made_from, floor, clean_scores = _make_candidate(
                    setup, source, Path(tmp), len(fitted), max(2, normal.min_images - len(held)), candidate, write)
            found = _apply_finds(setup, candidate, floor, clean_scores, finds, write)
            return _judge_and_keep(setup, models, candidate, held, fitted, images[-1].row_id, started, write,
                                   made_from, found, finds[-1].row_id if finds else 0)
        except BaseException:
            shutil.rmtree(candidate, ignore_errors=True)
            raise


def propose(setup: LaneSetup, model_dir: Path, write: Writer = stderr_writer) -> RefitOutcome:
    """Judge a model fitted elsewhere (a folder) by the same rule; adopted as a copy, the folder kept."""
    started = time.perf_counter()
    models = LaneModels(setup.root)
    with models.locked():
        images, _ = retained_images(setup)
        fitted, held = split(images, set(models.fit_record().get("fitted", [])), setup.normal)
        candidate = models.candidate_folder()
        try:
            for name in ("model.onnx", "card.json"):
                shutil.copyfile(model_dir / name, candidate / name)
            return _judge_and_keep(setup, models, candidate, held, [], images[-1].row_id, started, write,
                                   str(model_dir))
        except BaseException:
            shutil.rmtree(candidate, ignore_errors=True)
            raise


def rollback(setup: LaneSetup, by: str = "", reason: str = "", expect: str | None = None,
             wait_s: float | None = None) -> tuple[str, str]:
    """Point the device's `current` back at the version before it; (from, to). Who asked and why
    go into its history; with `expect`, only if that version is still current (a refit running
    meanwhile may have adopted another). The lock waits for a running refit, with `wait_s` at most
    that long (LaneModelBusy)."""
    models = LaneModels(setup.root)
    try:
        with models.locked(wait_s):
            return models.rollback(by, reason, expect)
    except LaneModelBusy as exc:
        raise LaneModelBusy(f"{exc}; nothing rolled back, try again when it ends") from None


__all__ = ["FitInputError", "LaneSetup", "RefitError", "RefitOutcome", "lane_setup", "propose", "refit_device",
           "rollback", "split"]
