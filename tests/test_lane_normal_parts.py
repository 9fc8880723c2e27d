"""The parts of the lane's normal on a real store and real files: what is kept (released clean,
cleared by the hub; not held, not after a suspicious verdict), the retention budget, a failure
that must not undo a release, the versions folder (atomic pointer, rollback, pruning), the
adoption rule, the held-back split, the config's checks."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract.uplink import VerdictWire
from edge.config import ConfigError, EdgeConfig, load_config
from edge.media import MediaStore
from edge.normal.config import NormalConfig
from edge.normal.judge import Figures, auroc, judge, no_model
from edge.normal.lane import LaneNormal
from edge.normal.lane_models import LaneModelError, LaneModelPointer, LaneModels
from edge.normal.refit import split
from edge.normal.retention import RetainedImage, Retention, protected_media, retained
from edge.normal.setup import RefitError, lane_setup
from edge.passages.book import PassageBook
from edge.passages.config import PassagesConfig
from edge.passages.observation import ReadingView
from edge.store import Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.uplink.verdicts import apply_verdict
from tests.uplink_lane import LANE, pass_payload, png, roles


class NormalLane:
    """A lane store whose passage transactions hand their passages to `Retention`, as the runtime does."""

    def __init__(self, root: Path, devices: tuple[str, ...] = ("uvss",), **normal: Any) -> None:
        self.store = Store(root / "edge.sqlite3", store_migrations())
        self.media = MediaStore(root / "media")
        self.devices = devices
        self.book = PassageBook(PassagesConfig(deadlines={d: 10 for d in devices}, inform=["vehicle_not_declared"]),
                                {d: roles()["uvss"] for d in devices})
        self.retention = Retention(NormalConfig(devices=list(devices), **normal), self.media)
        self.now = 1_790_000_000.0
        self.cursor = 0

    def watch(self, txn: Txn, ids: list[int]) -> list[int]:
        self.retention(txn, ids)
        return ids

    def passage(self, plate: str, flagged: bool = False, seed: int | None = None, size: int = 48,
                sha: str | None = None) -> tuple[int, str]:
        """A pass of `plate` with a real PNG from each device (the first's may be the stored image
        `sha`), decided (and, if clean, released by the machine); the first device's image."""
        self.now += 5
        seed = seed if seed is not None else int(hashlib.sha256(plate.encode()).hexdigest()[:6], 16)
        first = sha or png(self.media, seed, width=size, height=size)
        changed: list[int] = []
        for k, device_id in enumerate(self.devices):
            image = first if k == 0 else png(self.media, seed + 100_000 * k, width=size, height=size)
            payload = pass_payload(plate, [image], regions=1 if flagged else 0, flagged=flagged)

            def derive(txn: Txn, reading_id: int, device_id: str = device_id, payload: Any = payload) -> Derived:
                view = ReadingView(reading_id, device_id, "under_vehicle", "pass", payload, {}, (), None, self.now, True)
                changed.extend(self.watch(txn, self.book.follow(txn, view)))
                return Derived()

            self.store.record_reading(device_id, self.now, None, "pass", hashlib.sha256(image.encode()).hexdigest(),
                                      payload, {}, derive)
        return changed[0], first

    def verdict(self, passage_id: int, word: str) -> None:
        self.cursor += 1
        wire = VerdictWire(cursor=self.cursor, lane=LANE, passage_id=passage_id, verdict=word, reviewer="rev-ana",
                           stage="review", decided_at=datetime(2026, 9, 21, 8, 30, tzinfo=UTC))
        self.store.transact(apply_verdict, wire, LANE, None, self.now, [self.retention])

    def release(self, passage_id: int) -> None:
        self.store.transact(lambda txn: self.watch(txn, self.book.act(txn, passage_id, "release", "officer-1", "",
                                                                      False, self.now)))

    def state(self, passage_id: int) -> str:
        return str(self.store.read("SELECT state FROM passages WHERE id=?", (passage_id,))[0][0])

    def kept(self, device_id: str = "uvss") -> list[RetainedImage]:
        return retained(self.store.read, device_id)


@pytest.fixture
def lane(tmp_path: Path) -> Any:
    made: list[NormalLane] = []

    def make(**normal: Any) -> NormalLane:
        made.append(NormalLane(tmp_path / f"lane{len(made)}", **normal))
        return made[-1]

    yield make
    for one in made:
        one.store.close()


def test_released_clean_and_hub_cleared_passes_are_kept_held_ones_not(lane: Any) -> None:
    normal = lane()
    clean, clean_sha = normal.passage("新F10001")
    held, _ = normal.passage("新F10002", flagged=True)
    cleared, cleared_sha = normal.passage("新F10003", flagged=True)
    assert (normal.state(clean), normal.state(held), normal.state(cleared)) == ("released", "flagged", "flagged")
    normal.verdict(cleared, "clear")
    assert normal.state(cleared) == "reviewed"
    kept = normal.kept()
    assert [(k.sha256, k.why) for k in kept] == [(clean_sha, "released clean"), (cleared_sha, "cleared by the hub")]
    assert kept[0].size == normal.media.path(clean_sha).stat().st_size and kept[0].passage_id == clean
    normal.release(cleared)  # the officer lets it go: kept once
    assert len(normal.kept()) == 2
    # a suspicious verdict after the release takes the passage's image out again, and off the protected list
    normal.verdict(clean, "suspicious")
    assert [k.sha256 for k in normal.kept()] == [cleared_sha]
    assert protected_media(normal.store.read) == {cleared_sha}
    assert (normal.retention.stats.retained, normal.retention.stats.removed) == (2, 1)


def test_a_clear_verdict_given_before_the_vehicle_was_held_again_makes_nothing_clean(lane: Any) -> None:
    """The hub cleared what it was sent; a later pass of the same vehicle that holds (something the hub
    never saw) undoes the clear for the lane's normal, also after the officer releases it with a note."""
    normal = lane()
    cleared, cleared_sha = normal.passage("新F10003", flagged=True)
    normal.verdict(cleared, "clear")
    assert [k.sha256 for k in normal.kept()] == [cleared_sha]
    again, _ = normal.passage("新F10003", flagged=True, seed=77)  # the vehicle passes again: an object this time
    assert again == cleared and normal.state(cleared) == "flagged"
    assert normal.kept() == []
    normal.store.transact(lambda txn: normal.watch(txn, normal.book.act(txn, cleared, "release", "officer-1",
                                                                        "driver's spare wheel", True, normal.now)))
    assert normal.state(cleared) == "released" and normal.kept() == []


def test_the_budget_drops_the_oldest_by_count_and_by_bytes(lane: Any) -> None:
    normal = lane(keep_images=5, keep_bytes=0)  # 0: no byte limit
    shas = [normal.passage(f"新F2{i:04d}", seed=i)[1] for i in range(8)]
    assert [k.sha256 for k in normal.kept()] == shas[3:]
    assert normal.retention.stats.dropped == 3
    sizes = [normal.media.path(s).stat().st_size for s in shas]
    by_bytes = lane(keep_images=100, keep_bytes=sum(sizes[5:]))  # room for exactly the newest three
    for i in range(8):
        by_bytes.passage(f"新F2{i:04d}", seed=i)
    assert [k.sha256 for k in by_bytes.kept()] == shas[5:]
    assert sum(k.size for k in by_bytes.kept()) <= sum(sizes[5:])
    _, newest = by_bytes.passage("新F29999", seed=99)  # one more: the oldest kept go until it fits
    expected, total = [], 0
    for sha in [newest, *reversed(shas)]:
        total += by_bytes.media.path(sha).stat().st_size
        if total > sum(sizes[5:]):
            break
        expected.insert(0, sha)
    assert [k.sha256 for k in by_bytes.kept()] == expected and expected[-1] == newest and len(expected) < 4


def test_each_device_keeps_within_its_own_budget(lane: Any) -> None:
    """A lane-wide budget with one device's own on top ([normal.device.<id>]): each drops its own oldest."""
    normal = lane(devices=("uvss", "uv2"), keep_images=6, device={"uv2": {"keep_images": 2}})
    for i in range(5):
        normal.passage(f"新F3{i:04d}", seed=i)
    camera, second = normal.kept("uvss"), normal.kept("uv2")
    assert len(camera) == 5 and len(second) == 2
    assert [k.passage_id for k in second] == [k.passage_id for k in camera[-2:]]  # the two newest passes
    assert normal.retention.stats.dropped == 3
    sizes = [k.size for k in normal.kept("uvss")]
    by_bytes = lane(devices=("uvss", "uv2"), keep_bytes=0, device={"uvss": {"keep_bytes": sum(sizes[-2:])}})
    for i in range(5):
        by_bytes.passage(f"新F3{i:04d}", seed=i)
    assert [k.size for k in by_bytes.kept("uvss")] == sizes[-2:] and len(by_bytes.kept("uv2")) == 5


def test_a_retention_failure_never_undoes_the_release(lane: Any) -> None:
    normal = lane()
    normal.store.execute_write("DROP TABLE normal_images")
    passage_id, _ = normal.passage("新F30001")
    assert normal.state(passage_id) == "released"
    assert normal.retention.stats.errors == 1


def test_versions_pointer_rollback_and_pruning(tmp_path: Path) -> None:
    models = LaneModels(tmp_path / "uv1")
    pointer = LaneModelPointer(models.root, baseline="under_vehicle")
    assert pointer.resolve() == ("under_vehicle", "baseline:under_vehicle")
    assert LaneModelPointer(models.root).resolve() == (None, "none")
    for n in range(1, 5):
        with models.locked():
            candidate = models.candidate_folder()
            (candidate / "model.onnx").write_bytes(b"onnx %d" % n)
            version = models.next_version()
            models.adopt(candidate, version, {"adopted": True, "fitted": ["a"], "held_back": ["b"]}, keep=3)
        assert models.current_version() == f"v{n}"
    assert pointer.resolve() == (str(models.root / "v4"), "lane:v4")
    assert models.versions() == ["v2", "v3", "v4"]  # keep 3
    assert models.fit_record()["fitted"] == ["a"] and "fitted" not in models.history()[-1]
    assert models.rollback() == ("v4", "v3") and models.current_version() == "v3"
    assert models.rollback() == ("v3", "v2")
    with pytest.raises(LaneModelError, match="nothing to roll back to"):
        models.rollback()  # v1 was pruned
    assert models.next_version() == "v5"
    with models.locked():  # a refused candidate leaves `current` and deletes its folder
        candidate = models.candidate_folder()
        models.refuse(candidate, {"adopted": False, "last_row_id": 77})
    assert not candidate.exists() and models.current_version() == "v2" and models.watermarks()[0] == 77


def test_the_pointer_is_never_half_written(tmp_path: Path) -> None:
    models = LaneModels(tmp_path / "uv1")
    for n in (1, 2):
        (models.root / f"v{n}").mkdir(parents=True)
    seen: set[str | None] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(models.current_version())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            models._point(f"v{1 + i % 2}")
    finally:
        stop.set()
        reader.join()
    assert seen <= {None, "v1", "v2"} and {"v1", "v2"} <= seen


def test_the_lock_serialises_two_refits(tmp_path: Path) -> None:
    models = LaneModels(tmp_path / "uv1")
    order: list[str] = []

    def hold(name: str) -> None:
        with models.locked():
            order.append(f"{name} in")
            time.sleep(0.2)
            order.append(f"{name} out")

    threads = [threading.Thread(target=hold, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert order == ["a in", "a out", "b in", "b out"]


def fig(label: str, flagged: int, found: int, auc: float, clean: int = 10, canaries: int = 6) -> Figures:
    return Figures(label, 1.0, clean, flagged, canaries, found, found, auc)


def test_the_rule_needs_both_sets_at_least_as_good() -> None:
    config = NormalConfig(devices=["uv1"])
    current = fig("current", flagged=1, found=4, auc=0.9)
    assert judge(fig("same", 1, 4, 0.9), current, config).adopted
    assert judge(fig("better", 0, 6, 1.0), current, config).adopted
    worse_clean = judge(fig("noisy", 2, 6, 1.0), current, config)
    assert not worse_clean.adopted and worse_clean.failed == ["it flags 20% of the held-back clean passes, the current "
                                                              "model 10%"]
    blind = judge(fig("blind", 0, 3, 0.95), current, config)
    assert not blind.adopted and "finds 50% of the canaries" in blind.failed[0]
    assert "refused" in blind.text() and "flags 0 of 10" in blind.text() and "flags 1 of 10" in blind.text()
    assert not judge(fig("mixed", 1, 4, 0.85), current, config).adopted
    lenient = NormalConfig(devices=["uv1"], tolerance_clean_flagged=0.1, tolerance_canary_auroc=0.05)
    assert judge(fig("noisy", 2, 4, 0.86), current, lenient).adopted
    # against no model the candidate must flag none of the held-back passes (with no tolerance)
    nothing = no_model(10, 6)
    assert (nothing.clean_flagged, nothing.canary_recall, nothing.canary_auroc) == (0.0, 0.0, 0.5)
    assert judge(fig("first", 0, 1, 0.6), nothing, config).adopted
    assert not judge(fig("first", 1, 6, 1.0), nothing, config).adopted
    assert auroc([1, 2, 3], [4, 5]) == 1.0 and auroc([1, 2], [1, 2]) == 0.5 and auroc([], [1]) == 0.5


def image(row: int, sha: str) -> RetainedImage:
    return RetainedImage(row, sha, row, 100, 64, 48, "released clean", 0.0)


def test_the_newest_unseen_passes_are_held_back() -> None:
    config = NormalConfig(devices=["uv1"], min_images=10, min_held_back=4, hold_back=0.2)
    images = [image(i, f"s{i}") for i in range(1, 31)]
    fit, held = split(images, set(), config)
    assert [im.row_id for im in held] == list(range(25, 31)) and len(fit) == 24
    # the current model was fitted on rows 1-24: the new held-back slice is never one of those
    fit, held = split(images + [image(31, "s31")], {f"s{i}" for i in range(1, 25)}, config)
    assert [im.row_id for im in held] == list(range(25, 32)) and len(fit) == 24
    with pytest.raises(RefitError, match="only 2 retained clean passes the current model was not fitted on"):
        split(images, {f"s{i}" for i in range(1, 29)}, config)
    with pytest.raises(RefitError, match="9 retained clean passes, at least 10"):
        split(images[:9], set(), config)


def base_config(**normal: Any) -> dict[str, Any]:
    return {"lane": {"id": "l1"}, "devices": [{"id": "uv1", "kind": "under_vehicle", "model": "lane"}],
            **({"normal": normal} if normal else {})}


def test_the_config_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="runs the lane's own model .\"lane\". but does not learn its normal"):
        EdgeConfig.model_validate(base_config())
    with pytest.raises(ValueError, match="normal.devices names device 'uv9'"):
        EdgeConfig.model_validate(base_config(devices=["uv1", "uv9"]))
    path = tmp_path / "lane.toml"
    path.write_text('[lane]\nid = "l1"\n[[devices]]\nid = "uv1"\nkind = "under_vehicle"\nmodel = "lane"\n'
                    '[normal]\ndevices = ["uv1"]\nkeep_images = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="normal.keep_images"):
        load_config(path)
    path.write_text(path.read_text().replace("keep_images = 0", 'models_dir = "m"\ncanaries = "c"'))
    config = load_config(path)
    assert config.normal is not None and config.normal.models_dir == (tmp_path / "m").resolve()
    assert config.normal.canaries == (tmp_path / "c").resolve()
    assert config.normal.shrink is None and lane_setup(config, "uv1").fit.shrink == (1, 8)  # the kind's default
    path.write_text(path.read_text().replace('canaries = "c"', 'canaries = "c"\nshrink = [1, 4]\ntile = 64'))
    fit = lane_setup(load_config(path), "uv1").fit
    assert (fit.shrink, fit.tile, fit.method, fit.features) == ((1, 4), 64, "knn", "filterbank")


def test_an_empty_box_learns_its_normal_from_one_kind_of_image_and_a_lock_cannot() -> None:
    box = {"id": "eb1", "kind": "empty_box", "modbus": {"port": "/dev/null"}, "models": {"transmission": "lane"}}
    config = {"lane": {"id": "l1"}, "devices": [box]}
    with pytest.raises(ValueError, match="device 'eb1' runs the lane's own model"):
        EdgeConfig.model_validate(config)
    learning = EdgeConfig.model_validate({**config, "normal": {"devices": ["eb1"], "baseline": "empty_container"}})
    fit = lane_setup(learning, "eb1").fit
    assert (fit.method, fit.features, fit.tile, fit.shrink) == ("patchcore", "lite0", 256, (1, 1))
    with pytest.raises(ValueError, match="cannot both be \"lane\""):
        EdgeConfig.model_validate({**config, "devices": [{**box, "models": {"camera": "lane", "transmission": "lane"}}]})
    lock = {"id": "lk1", "kind": "smart_lock", "transport": "mqtt"}
    with pytest.raises(ValueError, match="'lk1', a smart_lock, which cannot learn its normal"):
        EdgeConfig.model_validate({"lane": {"id": "l1"}, "devices": [lock], "normal": {"devices": ["lk1"]}})


def _stub_pass_image(plate: str, index: int) -> bytes:
    """The JPEG of one clean pass of `plate` as the under-vehicle stub camera renders it."""
    from drivers.under_vehicle import decode_pass
    from firmware_stubs.under_vehicle import CameraConfig, PassEvent, render_pass

    message, _ = render_pass(PassEvent(0.0, "pass", plate), CameraConfig(lane=LANE, device="uvss", scale=0.05),
                             f"uvss.c{index:04d}", datetime(2026, 3, 1, 8, index % 60, tzinfo=UTC))
    return decode_pass(message, "uvss").image_bytes


def test_refit_calibrate_keeps_the_baselines_graph_with_a_lane_threshold_judged_by_the_same_rule(
        lane: Any, tmp_path: Path) -> None:
    from edge.fitting.calibrate import calibrate_model
    from edge.inference.card import load_card
    from edge.normal.refit import refit_device
    from edge.normal.setup import LaneSetup
    from models.evaluate import MODELS_DIR

    settings = {"refit": "calibrate", "baseline": "under_vehicle", "min_images": 24, "min_held_back": 6,
                "models_dir": tmp_path / "models"}
    normal = lane(**settings)
    for i in range(30):
        plate = f"新F2{i:04d}"
        normal.passage(plate, sha=normal.media.put_bytes(_stub_pass_image(plate, i)).sha256)
    assert len(normal.kept()) == 30
    shipped = load_card(MODELS_DIR / "under_vehicle")

    def refit(**more: Any) -> Any:
        config = NormalConfig(devices=["uvss"], **settings, **more)
        return refit_device(LaneSetup("uvss", "under_vehicle", config, tmp_path / "lane0" / "edge.sqlite3",
                                      normal.media), lambda line: None)

    # The shipped model flags every stub pass at its card threshold; the lane's threshold flags none of
    # the held-back passes but also lets every canary through, so the rule refuses it.
    refused = refit()
    new, old = refused.judgement.candidate, refused.judgement.current
    assert (refused.fitted, refused.held_back, refused.adopted) == (24, 6, False)
    assert (old.threshold, old.clean_flagged_n, old.canary_found_n) == (shipped.threshold, 6, 5)
    assert new.threshold > shipped.threshold and new.clean_flagged_n == 0 and new.canary_found_n == 0
    assert new.canary_auroc == pytest.approx(old.canary_auroc)  # the same graph ranks the same
    assert "finds 0% of the canaries" in refused.message and "re-calibrated on 24" in refused.message
    models = LaneModels(settings["models_dir"] / "uvss")
    assert models.current_folder() is None

    # A lane that accepts losing canaries adopts it: the shipped graph, the lane's threshold.
    adopted = refit(tolerance_canary_recall=1.0)
    assert adopted.adopted and adopted.version == "v1"
    folder = models.current_folder()
    assert folder is not None
    card = load_card(folder)
    assert card.sha256 == shipped.sha256 and card.threshold == new.threshold and card.name == "lane_uvss"
    assert models.fit_record()["fitted_from"].startswith("under_vehicle re-calibrated on 24 retained clean passes")

    # that threshold is what `kouan model calibrate` picks on the same 24 passes
    fit_dir = tmp_path / "fitted"
    fit_dir.mkdir()
    for k in normal.kept()[:24]:
        (fit_dir / f"{k.row_id:08d}.jpg").symlink_to(normal.media.path(k.sha256))
    assert calibrate_model("under_vehicle", fit_dir, tmp_path / "direct", min_images=20).card.threshold == card.threshold


def test_refit_calibrate_needs_a_model_to_calibrate(lane: Any, tmp_path: Path) -> None:
    from edge.normal.refit import refit_device
    from edge.normal.setup import LaneSetup

    settings = {"refit": "calibrate", "min_images": 4, "min_held_back": 2, "models_dir": tmp_path / "models"}
    normal = lane(**settings)
    for i in range(6):
        normal.passage(f"新F3{i:04d}")
    setup = LaneSetup("uvss", "under_vehicle", NormalConfig(devices=["uvss"], **settings),
                      tmp_path / "lane0" / "edge.sqlite3", normal.media)
    with pytest.raises(RefitError, match=r"needs a model to calibrate.*\[normal\] baseline"):
        refit_device(setup, lambda line: None)


def test_a_live_lane_model_follows_the_pointer_and_keeps_the_old_one_when_a_new_one_is_broken(tmp_path: Path) -> None:
    from edge.normal.live_model import LiveModel
    from models.evaluate import MODELS_DIR

    class Source:
        def __init__(self) -> None:
            self.now: tuple[str | None, str] = (None, "none")

        def resolve(self) -> tuple[str | None, str]:
            return self.now

    source = Source()
    live = LiveModel(source, "test")
    assert live.current() is None and live.token == "none"  # no model yet: the detector's verdict alone
    good = str(MODELS_DIR / "demo_lane" / "empty_container")
    source.now = (good, "lane:v1")
    first = live.current()
    assert first is not None and live.token == "lane:v1" and live.current() is first  # loaded once
    broken = tmp_path / "v2"
    broken.mkdir()
    source.now = (str(broken), "lane:v2")
    assert live.current() is first and live.token == "lane:v1"  # v2 does not load: v1 stays in use
    fresh = LiveModel(source, "test")
    with pytest.raises(Exception):  # nothing loaded before: the caller learns the model is unusable
        fresh.current()


def test_the_shipped_empty_box_canaries_are_what_their_script_makes(tmp_path: Path) -> None:
    import subprocess
    import sys

    import numpy as np

    from edge.normal.canaries import load_canaries
    from models.evaluate import MODELS_DIR

    shipped = load_canaries(MODELS_DIR / "canaries" / "empty_box")
    assert shipped.meta["image_kind"] == "camera" and len(shipped.canaries) == 6
    subprocess.run([sys.executable, str(MODELS_DIR / "canaries" / "empty_box" / "make_canaries.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    made = load_canaries(tmp_path)
    for a, b in zip(shipped.canaries, made.canaries, strict=True):
        assert a.name == b.name and np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
        assert a.mask.sum() > 1000 and a.image.shape == (256, 384, 3)


def test_a_device_may_differ_from_the_lanes_normal_settings_and_the_config_names_what_is_wrong(tmp_path: Path) -> None:
    # an under-vehicle camera fits its own model; the empty-box detector beside it re-calibrates
    # the shipped empty_container, starts from it, and keeps its canaries in a folder of its own
    path = tmp_path / "lane.toml"
    path.write_text('[lane]\nid = "l1"\n[[devices]]\nid = "uv1"\nkind = "under_vehicle"\nmodel = "lane"\n'
                    '[[devices]]\nid = "eb1"\nkind = "empty_box"\nmodbus = { port = "/dev/null" }\n'
                    'models = { transmission = "lane" }\n'
                    '[normal]\ndevices = ["uv1", "eb1"]\nbaseline = "under_vehicle"\nmargin = 2.0\n'
                    '[normal.device.eb1]\nrefit = "calibrate"\nbaseline = "empty_container"\ncanaries = "c"\n'
                    'calibrate_margin = 0.5\n', encoding="utf-8")
    config = load_config(path)
    camera, box = lane_setup(config, "uv1"), lane_setup(config, "eb1")
    assert (camera.normal.refit, camera.normal.baseline, camera.normal.margin) == ("fit", "under_vehicle", 2.0)
    assert (box.normal.refit, box.normal.baseline, box.normal.margin) == ("calibrate", "empty_container", 2.0)
    assert box.normal.calibrate_margin == 0.5 and camera.normal.calibrate_margin == 0.25
    assert box.normal.canaries == (tmp_path / "c").resolve() and camera.normal.canaries is None
    assert box.root == camera.root.parent / "eb1"  # the models folder stays the lane's
    normal = LaneNormal(config, MediaStore(tmp_path / "media"))
    assert [normal.pointer(d).baseline for d in ("uv1", "eb1")] == ["under_vehicle", "empty_container"]
    good = path.read_text()
    path.write_text(good.replace('calibrate_margin = 0.5', 'calibrate_margin = -1'))
    with pytest.raises(ConfigError, match=r"normal.device.eb1.calibrate_margin: Input should be greater than or equal"):
        load_config(path)  # the message also names the file (ConfigError)
    path.write_text(good.replace('[normal.device.eb1]', '[normal.device.eb9]'))
    with pytest.raises(ConfigError, match="normal.device.eb9: 'eb9' is not one of normal.devices"):
        load_config(path)
    path.write_text(good.replace('calibrate_margin = 0.5', 'keep_versions = 10'))
    with pytest.raises(ConfigError, match="normal.device.eb1.keep_versions: not a per-device setting"):
        load_config(path)
