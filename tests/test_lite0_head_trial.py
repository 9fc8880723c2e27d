"""The trial's graph (frozen Lite0 + a 1x1 head) is a model the core accepts and scores as its card says."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.inference.card import load_card
from edge.inference.config import InferenceConfig
from edge.inference.session import check_contract, create_session
from edge.inference.tiling import make_grid
from models.evaluate import OnnxScorer
from models.train.lite0_head_trial import CHANNELS, build_graph, extractor_graph, tiles_of, write_folder


def test_head_graph_passes_the_core_contract_and_its_score_is_the_map_maximum(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = (rng.normal(0, 0.05, (8, CHANNELS)), np.zeros(8), rng.normal(0, 0.5, (1, 8)), np.array([-1.0]))
    folder = tmp_path / "trial"
    write_folder("empty_container", build_graph(extractor_graph(), weights), 512, folder)
    session = create_session((folder / "model.onnx").read_bytes(), InferenceConfig())
    info = check_contract(session, load_card(folder), str(folder))
    assert info.output_names == ["score", "anomaly_map"]

    tiles = rng.random((3, 1, 256, 256)).astype(np.float32)
    score, amap = session.run(["score", "anomaly_map"], {"image": tiles})
    assert score.shape == (3,) and amap.shape == (3, 1, 32, 32)
    assert np.allclose(score, amap.reshape(3, -1).max(1)) and ((0 < amap) & (amap < 1)).all()

    image = (rng.random((512, 1400)) * 255).astype(np.uint8)
    assert 0.0 < OnnxScorer(folder).score(image).score < 1.0


def test_tiles_follow_the_cores_grid_and_carry_each_patchs_anomaly_cover() -> None:
    image = np.zeros((512, 1400), np.uint8)
    mask = np.zeros((512, 1400), bool)
    mask[100:164, 300:364] = True
    tiles, cover = tiles_of(image, mask, 512)
    assert all(t.shape == (1, 256, 256) for t in tiles)
    assert cover.shape == (len(tiles), 32, 32)
    assert len(tiles) == len(make_grid(512, 1400, 256, 256, 32))  # the core's grid: 3 rows of 7
    assert np.isclose(cover.max(), 1.0) and cover.min() == 0.0
