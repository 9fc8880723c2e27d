"""The lane's confirmed finds on a real store and real files: which images are kept (a device's own
image of a passage it held that the hub judged suspicious), taken out again when the verdict is
overturned, kept within their budget and protected from pruning; the threshold rule they feed;
and a refit whose candidate's threshold they lower (fitted or re-calibrated), with the figures on
its card and record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import pytest

from edge.inference.card import load_card
from edge.normal.config import NormalConfig
from edge.normal.find_threshold import lowered_threshold
from edge.normal.finds import retained_finds
from edge.normal.lane_models import LaneModels
from edge.normal.refit import refit_device
from edge.normal.retention import protected_media
from edge.normal.setup import LaneSetup
from tests.test_lane_normal import SCALE, _canary_maker
from tests.test_lane_normal_parts import NormalLane, _stub_pass_image


@pytest.fixture
def lane(tmp_path: Path) -> Any:
    made: list[NormalLane] = []

    def make(**normal: Any) -> NormalLane:
        made.append(NormalLane(tmp_path / f"lane{len(made)}", **normal))
        return made[-1]

    make.made = made  # type: ignore[attr-defined]
    yield make
    for one in made:
        one.store.close()


def finds(normal: NormalLane, device_id: str = "uvss") -> list[tuple[str, int, list[str]]]:
    return [(f.sha256, f.passage_id, f.reasons) for f in retained_finds(normal.store.read, device_id)]


def test_a_held_pass_the_hub_judged_suspicious_is_kept_as_a_find_until_the_verdict_is_overturned(lane: Any) -> None:
    normal = lane()
    held, held_sha = normal.passage("新F40001", flagged=True)
    missed, _ = normal.passage("新F40002")  # released clean by the machine: no device held it
    other, _ = normal.passage("新F40003", flagged=True)
    assert finds(normal) == []  # flagged is not confirmed
    normal.verdict(held, "suspicious")
    normal.verdict(missed, "suspicious")
    assert normal.state(held) == "held"
    assert finds(normal) == [(held_sha, held, ["foreign_object"])]
    # the miss is taken out of the normal, but no device held it, so it is nobody's find
    assert [k.passage_id for k in normal.kept()] == []
    assert protected_media(normal.store.read) == {held_sha}
    normal.verdict(other, "clear")
    assert len(finds(normal)) == 1 and [k.passage_id for k in normal.kept()] == [other]
    # a supervisor's re-check overturns the first verdict: the find goes, the pass counts as cleared
    normal.verdict(held, "clear")
    assert finds(normal) == []
    assert sorted(k.passage_id for k in normal.kept()) == [held, other]
    assert (normal.retention.stats.finds, normal.retention.stats.finds_removed) == (1, 1)


def test_finds_are_kept_within_their_budget_and_not_at_all_with_keep_finds_0(lane: Any) -> None:
    normal = lane(keep_finds=2)
    shas = []
    for i in range(4):
        passage_id, sha = normal.passage(f"新F5{i:04d}", flagged=True, seed=i)
        normal.verdict(passage_id, "suspicious")
        shas.append(sha)
    assert [f[0] for f in finds(normal)] == shas[2:]
    none = lane(keep_finds=0)
    passage_id, _ = none.passage("新F59999", flagged=True)
    none.verdict(passage_id, "suspicious")
    assert finds(none) == []
    # each device its own budget: the lane's 2, one device keeping none
    two = lane(devices=("uvss", "uv2"), keep_finds=2, device={"uv2": {"keep_finds": 0}})
    for i in range(3):
        passage_id, _ = two.passage(f"新F6{i:04d}", flagged=True, seed=i)
        two.verdict(passage_id, "suspicious")
    assert [f[0] for f in finds(two)] == shas[1:3] and finds(two, "uv2") == []


def test_the_rule_lowers_to_the_finds_never_raises_and_never_goes_under_q() -> None:
    # rule 10, floor 6: finds between them pull the threshold to their 20th percentile
    assert lowered_threshold(10.0, 6.0, [7, 8, 9, 12, 13], 0.2) == (pytest.approx(7.8), pytest.approx(7.8))
    assert lowered_threshold(10.0, 6.0, [4, 5, 5.5], 0.2)[0] == 6.0  # finds like clean passes: Q is the floor
    assert lowered_threshold(10.0, 6.0, [11, 12, 30], 0.2)[0] == 10.0  # all above the rule: kept


def _pass_with_object(plate: str, index: int) -> bytes:
    """The JPEG of a pass of `plate` with an object strapped under it (the canaries' maker, other
    plates and vehicles than the shipped canaries)."""
    maker = _canary_maker()
    objects = ("strapped_bundle", "label_package", "banded_drum")
    vehicles = (maker.VehicleType.BOX_TRUCK, maker.VehicleType.CAR, maker.VehicleType.VAN)
    image = maker.render(maker.Spec(objects[index % 3], plate, vehicles[index % 3]), SCALE, True)[0]
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


def _refit_with_finds(lane: Any, root: Path, finds_of: Any, **more: Any) -> tuple[Any, list[str], Path]:
    """30 clean stub passes and 5 held passes the hub judged suspicious (images from `finds_of(plate,
    i)`), then a refit; (outcome, its lines, the device's models folder)."""
    settings = {"min_images": 24, "min_held_back": 6, "min_finds": 4, "models_dir": root / "models", **more}
    normal = lane(**settings)
    for i in range(30):
        plate = f"新F6{i:04d}"
        normal.passage(plate, sha=normal.media.put_bytes(_stub_pass_image(plate, i)).sha256)
    for i in range(5):
        plate = f"新F7{i:04d}"
        passage_id, _ = normal.passage(plate, flagged=True, sha=normal.media.put_bytes(finds_of(plate, i)).sha256)
        normal.verdict(passage_id, "suspicious")
    assert len(finds(normal)) == 5 and len(normal.kept()) == 30
    lines: list[str] = []
    setup = LaneSetup("uvss", "under_vehicle", NormalConfig(devices=["uvss"], **settings), normal.store.path,
                      normal.media)
    outcome = refit_device(setup, lines.append)
    print(outcome.message)
    return outcome, lines, settings["models_dir"] / "uvss"


def test_a_refit_whose_rule_sits_above_the_lanes_finds_is_lowered_to_catch_them_with_the_figures_on_its_card(
        lane: Any, tmp_path: Path) -> None:
    # margin 20: a rule far above what an object adds, as a patch-distance head with a high floor gets
    outcome, lines, root = _refit_with_finds(lane, tmp_path, _pass_with_object, margin=20.0)
    done = outcome.finds
    assert done is not None and done.finds == 5 and done.auroc >= 0.9 and done.lowered
    assert done.floor <= done.threshold < done.rule and done.caught >= 4
    assert done.threshold == outcome.judgement.candidate.threshold
    assert any(line.startswith("[finds] threshold lowered from") for line in lines)
    assert "confirmed finds" in outcome.message and outcome.as_dict()["finds"]["finds"] == 5
    assert outcome.adopted  # against no model, with no held-back pass flagged
    models = LaneModels(root)
    folder = models.current_folder()
    assert folder is not None
    card = load_card(folder)
    assert card.threshold == done.threshold and "Lane finds: threshold lowered" in card.description
    assert card.pixel_threshold is None or card.pixel_threshold <= card.threshold
    assert models.fit_record()["finds"]["threshold"] == done.threshold


def test_finds_the_candidate_cannot_tell_from_clean_passes_leave_its_threshold_alone(lane: Any, tmp_path: Path) -> None:
    # held passes the hub found suspicious on evidence these images do not show (another device's, say)
    outcome, lines, _ = _refit_with_finds(lane, tmp_path, lambda plate, i: _stub_pass_image(plate, 100 + i))
    done = outcome.finds
    assert done is not None and done.auroc < 0.9 and not done.lowered and done.threshold == done.rule
    assert outcome.judgement.candidate.threshold == done.rule
    assert any("does not tell the 5 confirmed finds from clean passes" in line for line in lines)


def test_too_few_finds_leave_the_rule_alone_and_the_refit_says_why(lane: Any, tmp_path: Path) -> None:
    outcome, lines, _ = _refit_with_finds(lane, tmp_path, _pass_with_object, min_finds=6)
    assert outcome.finds is None and any("5 confirmed finds, 6 are needed" in line for line in lines)


def test_a_recalibrated_candidate_is_lowered_by_the_finds_too(lane: Any, tmp_path: Path) -> None:
    # refit = "calibrate" re-picks a fitted baseline's threshold on the lane's clean passes with a
    # wide margin (a stand-in for a shipped model whose scores spread on this lane); the finds pull it
    # down to catch them, no lower than the calibration's Q
    from edge.fitting import FitOptions, fit_model

    other = tmp_path / "other_passes"
    other.mkdir()
    for i in range(24):
        (other / f"{i:02d}.jpg").write_bytes(_stub_pass_image(f"新F8{i:04d}", 200 + i))
    baseline = tmp_path / "baseline"
    fit_model(other, baseline, FitOptions(min_images=10, name="baseline"), lambda line: None)
    outcome, lines, root = _refit_with_finds(lane, tmp_path, _pass_with_object, refit="calibrate",
                                          baseline=str(baseline), calibrate_margin=20.0)
    done = outcome.finds
    assert "re-calibrated on 24 retained clean passes" in outcome.message
    assert done is not None and done.auroc >= 0.9 and done.lowered, lines
    assert done.floor <= done.threshold < done.rule and done.caught >= 4
    assert outcome.judgement.candidate.threshold == done.threshold
    assert outcome.adopted  # no more held-back passes flagged, no fewer canaries found than the baseline
    folder = LaneModels(root).current_folder()
    assert folder is not None
    assert (folder / "model.onnx").read_bytes() == (baseline / "model.onnx").read_bytes()  # the graph kept
    assert load_card(folder).threshold == done.threshold


def test_a_threshold_capped_under_its_q_is_never_raised_by_the_finds(tmp_path: Path) -> None:
    # a calibration of a probability model caps its threshold at 0.999, under its clean passes' Q:
    # finds the model tells apart must not move it up to Q
    import shutil

    import numpy as np

    from edge.normal.find_threshold import lower_to_finds
    from models.evaluate import MODELS_DIR

    folder = tmp_path / "model"
    shutil.copytree(MODELS_DIR / "under_vehicle", folder)
    rule = load_card(folder).threshold
    finds = [np.full((256, 512), 40 * i, np.uint8) for i in range(1, 6)]
    done = lower_to_finds(folder, finds, [-1.0] * 6, rule + 1.0, 0.2, 0.9)
    assert done.auroc == 1.0 and done.threshold == rule and not done.lowered
    assert done.caught == sum(s >= rule for s in done.scores) and load_card(folder).threshold == rule


def test_new_finds_make_a_scheduled_refit_due_without_new_clean_passes(lane: Any, tmp_path: Path) -> None:
    # after a refit, 3 more confirmed finds (min_new_finds) and no new clean pass: the schedule
    # refits, and the refit's record moves the finds' watermark so it is not due again
    import asyncio

    from edge.normal.schedule import RefitSchedule
    from edge.store import AsyncStore
    from edge.store_schema import store_migrations

    outcome, _, root = _refit_with_finds(lane, tmp_path, _pass_with_object, margin=20.0)
    normal_lane = lane.made[-1]
    settings = {"min_images": 24, "min_held_back": 6, "min_finds": 4, "models_dir": root.parent, "min_new_finds": 3}
    setup = LaneSetup("uvss", "under_vehicle", NormalConfig(devices=["uvss"], **settings), normal_lane.store.path,
                      normal_lane.media)
    models = LaneModels(root)
    assert models.watermarks()[1] == retained_finds(normal_lane.store.read, "uvss")[-1].row_id

    async def due_now() -> tuple[bool, str]:
        store = AsyncStore(normal_lane.store.path, store_migrations())
        try:
            schedule = RefitSchedule([setup], 3600.0, store)
            ran = await schedule.maybe_refit(setup)
            return ran, schedule.stats.last.get("uvss", "")
        finally:
            store.close()

    def confirm_find(i: int) -> None:
        plate = f"新F9{i:04d}"
        passage_id, _ = normal_lane.passage(plate, flagged=True,
                                            sha=normal_lane.media.put_bytes(_pass_with_object(plate, i)).sha256)
        normal_lane.verdict(passage_id, "suspicious")

    assert asyncio.run(due_now()) == (False, "")  # nothing new
    confirm_find(0)
    confirm_find(1)
    assert asyncio.run(due_now())[0] is False  # 2 new finds, 3 are needed
    confirm_find(2)
    ran, last = asyncio.run(due_now())
    print("scheduled refit on new finds:", last)
    entry = models.history()[-1]
    assert ran and entry["finds"]["finds"] == 8 and entry["action"] in ("adopted", "refused"), last
    assert entry["last_find_id"] == retained_finds(normal_lane.store.read, "uvss")[-1].row_id
    assert entry["last_row_id"] == models.history()[-2]["last_row_id"]  # no new clean pass
    assert asyncio.run(due_now())[0] is False  # the watermark moved
    assert outcome.finds is not None and outcome.finds.finds == 5
