"""The training loop's crop sampler and checkpoints (models.train.loop), on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.train.loop import (  # noqa: E402
    VARIANTS, CropSampler, TrainSettings, build_wrapper, load_checkpoint, save_checkpoint, train, variant_spec,
)

CROP = 64


def _images(n: int = 6, h: int = 96) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images of different widths; odd ones hold one bright square marked in the mask."""
    rng = np.random.default_rng(0)
    images, masks = [], []
    for k in range(n):
        w = 120 + 37 * k
        img = rng.integers(60, 90, size=(h, w), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        if k % 2:
            y, x = 20 + k, w - 30
            img[y:y + 12, x:x + 12] = 250
            mask[y:y + 12, x:x + 12] = 1
        images.append(img)
        masks.append(mask)
    return images, masks


def test_crops_stay_inside_each_image_and_carry_their_masks() -> None:
    spec = variant_spec("under_vehicle", None)
    images, masks = _images()
    sampler = CropSampler(spec, images, masks, CROP, torch.device("cpu"), seed=3)
    x, y = sampler.batch(400)
    assert x.shape == (400, 1, CROP, CROP) and y.shape == (400, 1, CROP // 4, CROP // 4)
    raw = x * spec.std + spec.mean
    # padding beyond an image's width is 0: a crop reaching into it would hold values near 0
    assert float(raw.min()) * 255 > 55
    frac = y.flatten(1).amax(1)
    assert 0.3 < float((frac > 0).float().mean()) < 0.75  # 45 % aimed at anomalies, some others hit them too
    bright = (raw.flatten(1) * 255 > 200).any(1)
    assert torch.equal(bright, frac > 0)  # the mask travels with the pixels, flips included


def test_sampler_without_anomalies_never_marks_pixels() -> None:
    spec = variant_spec("under_vehicle", None)
    images, masks = _images()
    clean = [i for i, m in zip(images, masks) if not m.any()]
    sampler = CropSampler(spec, clean, [np.zeros_like(i) for i in clean], CROP, torch.device("cpu"))
    _, y = sampler.batch(64)
    assert float(y.sum()) == 0.0


def test_checkpoint_keeps_weights_variant_and_stats(tmp_path: Path) -> None:
    spec = variant_spec("under_vehicle", "w48")
    assert spec.width == VARIANTS["w48"]["width"]
    images, masks = _images()
    ckpt = tmp_path / "uv.pt"
    wrapper, stats = train(spec, images, masks, TrainSettings(minutes=0.02, batch=4, crop=CROP, checkpoint=ckpt,
                                                              overrides=VARIANTS["w48"]))
    assert stats["steps"] > 0 and stats["crop"] == CROP
    data = load_checkpoint(ckpt)
    assert data["overrides"] == {"width": 48} and data["stats"]["steps"] == stats["steps"]
    rebuilt = build_wrapper(variant_spec("under_vehicle", "w48"))
    rebuilt.load_state_dict(data["state_dict"])
    rebuilt.eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x)[1], wrapper(x)[1], atol=1e-6)
    with pytest.raises(RuntimeError):  # another width does not take these weights
        build_wrapper(variant_spec("under_vehicle", "w32")).load_state_dict(data["state_dict"])


def test_bare_state_dict_of_an_earlier_run_still_loads(tmp_path: Path) -> None:
    wrapper = build_wrapper(variant_spec("empty_container", None))
    torch.save(wrapper.state_dict(), tmp_path / "old.pt")
    data = load_checkpoint(tmp_path / "old.pt")
    assert data["overrides"] == {} and set(data["state_dict"]) == set(wrapper.state_dict())
    save_checkpoint(tmp_path / "new.pt", wrapper, {"width": 32}, {"steps": 0})
    assert load_checkpoint(tmp_path / "new.pt")["overrides"] == {"width": 32}


@pytest.mark.parametrize("freeze", [True, False])
def test_fine_tuning_from_an_exported_model_keeps_its_batch_norms_only_when_frozen(tmp_path: Path,
                                                                                   freeze: bool) -> None:
    """Weights recovered from a graph carry identity batch norms; batch statistics must not replace them."""
    from models.train.export import export_onnx
    from models.train.from_onnx import model_folder_weights

    spec = variant_spec("under_vehicle", None)
    images, masks = _images()
    torch.manual_seed(0)
    original = build_wrapper(spec)
    for m in original.net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    export_onnx(original, tmp_path / "model.onnx", 1, CROP)
    holder = build_wrapper(spec)
    assert model_folder_weights(tmp_path, holder, spec.width) == {}  # no training_report.json beside it
    tuned, _ = train(spec, images, masks, TrainSettings(0.02, 4, CROP, lr_max=0.0, freeze_batchnorm=freeze),
                     resume=holder.state_dict())
    x = torch.rand(2, 1, CROP, CROP)
    with torch.no_grad():
        same = torch.allclose(tuned(x)[1], original.eval()(x)[1], atol=1e-5)
    assert same is freeze
