"""Per-model settings: which generator, image sizes, tiling, input normalisation, card text."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

Generator = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    generator_module: str  # models.generators.<x>, exposing generate(seed, split, anomalous, height, width)
    description: str
    bit_depth: int
    native_size: tuple[int, int]  # (height, width) of a full image as the device delivers it
    work_height: int  # tiling.resize_to_height: images are resized to this height first
    tile: int = 256
    overlap: int = 32
    log_input: bool = False  # transmission X-ray: the graph takes -log of the input
    mean: float = 0.0
    std: float = 1.0
    width_range: tuple[float, float] | None = None  # native width/height aspect range, None = fixed
    local_norm: bool = False  # in-graph local contrast normalisation (net.LocalContrastNorm)
    version: str = "1.0.0"  # model version written on the card; bump when the weights or graph change
    norm_log: bool = False  # with local_norm: normalise -log(x) (transmission X-ray), not x
    lcn_eps: float = 1e-3  # variance floor of the local contrast normalisation
    width: int = 32  # channels of the segmenter's first full-resolution block (cost grows with width^2)
    lcn_factor: int = 8  # local contrast normalisation: cell size of its blur grid (px)
    lcn_size: int = 5  # local contrast normalisation: box filter size on that grid (cells)
    preblur: float = 0.0  # sigma (working px) of a fixed in-graph Gaussian blur before the normalisation
    native_data: bool = False  # train on images made at native size and resized as the core does
    flips: int = 1  # in-graph test-time mirroring: 1, 2 (left-right) or 4 mirrored copies of each tile
    flip_combine: str = "mean"  # how the mirrored copies' maps combine: "mean" or "min" (all must agree)
    scales: tuple[float, ...] = ()  # in-graph: the tile also seen at these fractions of its size, per-pixel minimum
    partner_preblurs: tuple[float, ...] = ()  # in-graph: more segmenters (same spec, these pre-blurs), per-pixel minimum

    @property
    def weights_name(self) -> str:
        """Cached weights file in var/model_cache/ (separate for the local-norm input)."""
        return f"{self.name}_lcn.pt" if self.local_norm else f"{self.name}.pt"

    @property
    def scale(self) -> float:
        return 255.0 if self.bit_depth == 8 else 65535.0

    def generator(self) -> Generator:
        return importlib.import_module(self.generator_module).generate  # type: ignore[no-any-return]

    def native_size_for(self, seed: int) -> tuple[int, int]:
        """(height, width) of the full image with this seed (some devices vary the width)."""
        h, w = self.native_size
        if self.width_range is not None:
            w = int(h * np.random.default_rng(seed + 7).uniform(*self.width_range))
        return h, w

    def work_size(self, native: tuple[int, int]) -> tuple[int, int]:
        h, w = native
        return self.work_height, max(1, round(w * self.work_height / h))


SPECS: dict[str, ModelSpec] = {
    "under_vehicle": ModelSpec(
        name="under_vehicle",
        generator_module="models.generators.under_vehicle",
        description="Foreign objects fixed to a vehicle undercarriage (packages, taped boxes, added plates, "
        "bundles) in 8-bit grey line-scan UVSS images of cars, SUVs, pickups, vans and truck tractors, against "
        "frames, cross members, suspension, exhaust, tanks, spare wheel, axles, differential, lines, hoses and "
        "brackets, and the lane's streaks.",
        bit_depth=8,
        native_size=(2048, 4096),
        work_height=256,
        mean=0.3,
        std=0.2,
        local_norm=True,
        version="1.4.0",
        preblur=1.0,
        native_data=True,
        lcn_eps=5e-4,
        flips=4,
        flip_combine="min",
    ),
    "empty_container": ModelSpec(
        name="empty_container",
        generator_module="models.generators.empty_container",
        description="Anything inside a container declared empty (boxes, bags, drums, false walls / hidden "
        "compartments) in 8-bit grey side-view transmission X-ray images of the container: corrugated "
        "walls, floor boards and cross members, door frames, corner posts, and around the box the air, "
        "the road vehicle's chassis, wheels and landing legs.",
        bit_depth=8,
        native_size=(512, 2048),
        work_height=256,
        mean=0.55,
        std=0.2,
        width_range=(2.4, 4.6),
        local_norm=True,
        version="1.4.0",
        preblur=1.0,
        native_data=True,
        norm_log=True,
        flips=4,
        flip_combine="min",
    ),
    "cargo_xray": ModelSpec(
        name="cargo_xray",
        generator_module="models.generators.cargo_xray",
        description="Pre-screen score for loaded-container transmission scans (16-bit): dense concealed "
        "objects, organic masses among metal goods, weapon-like shapes, irregular density inside "
        "homogeneous cargo. Used to order the central review queue.",
        bit_depth=16,
        native_size=(1024, 3072),
        work_height=512,
        log_input=True,
        width_range=(2.4, 4.6),
        local_norm=True,
        version="1.5.0",
        width=64,
        preblur=4.5,
        native_data=True,
        norm_log=True,
        flips=4,
        flip_combine="min",
        scales=(0.875,),
        partner_preblurs=(3.0,),
    ),
}
