"""The model card: what an ONNX model expects, what it returns, and how good it is.

Every shipped or fitted model is a folder holding `model.onnx` and `card.json`. The card is
the contract between whoever made the model (models/ scripts, `kouan model fit`) and the
inference core; the core trusts nothing about a model that the card does not say.

Output contract for `task == "anomaly_map"`: the graph returns `score` with shape `[N]`
(image anomaly score, higher = more anomalous) and `anomaly_map` with shape `[N, 1, h, w]`
(per-pixel anomaly score on the same scale as `pixel_threshold`, `h, w` may be smaller than
the input). For `task == "image_score"` only `score` is returned.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_FILE = "card.json"
MODEL_FILE = "model.onnx"


class InputSpec(BaseModel):
    """The single image input of the graph."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="ONNX input name.")
    layout: Literal["NCHW"] = Field("NCHW", description="Tensor layout of the input.")
    height: int = Field(gt=0, description="Tile height in pixels fed to the graph.")
    width: int = Field(gt=0, description="Tile width in pixels fed to the graph.")
    channels: Literal[1, 3] = Field(description="1 = grey, 3 = colour (RGB order).")
    bit_depth: Literal[8, 16] = Field(description="Bit depth of the source images the model was made for.")
    scale: float = Field(
        gt=0,
        description="Pre-processing divides raw pixel values by this (255 for 8-bit, 65535 for 16-bit) "
        "to give float32 in [0, 1]; any further normalisation is inside the graph.",
    )
    mean: list[float] = Field(default_factory=lambda: [0.0], description="Subtracted after scaling (per channel or one value).")
    std: list[float] = Field(default_factory=lambda: [1.0], description="Divided after subtracting mean.")


class OutputSpec(BaseModel):
    """One named output of the graph."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="ONNX output name.")
    shape: str = Field(description="Symbolic shape, e.g. '[N]' or '[N,1,h,w]'.")
    meaning: str = Field(description="What the values mean, in a sentence.")


class IndependentMetrics(BaseModel):
    """Quality on images from a generator nobody used to train, tune or choose the model."""

    model_config = ConfigDict(extra="forbid")

    image_auroc: float = Field(description="Image-level AUROC on the independent set.")
    clean_flagged: float = Field(description="Share of the independent set's clean images at or above the card threshold.")
    anomalous_flagged: float = Field(description="Share of the independent set's anomalous images at or above the card threshold.")
    n_normal: int = Field(ge=0, description="Clean images in the independent set.")
    n_anomalous: int = Field(ge=0, description="Anomalous images in the independent set.")
    data: str = Field(description="Which generator, seeds and sizes the set came from.")


class Metrics(BaseModel):
    """Measured quality on data the model did not see while being trained or fitted."""

    model_config = ConfigDict(extra="forbid")

    image_auroc: float | None = Field(None, description="Image-level AUROC on the held-out set.")
    pixel_auroc: float | None = Field(None, description="Pixel-level AUROC on the held-out set.")
    held_out_set: str = Field("", description="What the held-out set contains and how it differs from training.")
    n_normal: int | None = Field(None, description="Normal images in the held-out set.")
    n_anomalous: int | None = Field(None, description="Anomalous images in the held-out set.")
    clean_flagged: float | None = Field(
        None, description="Share of the held-out set's normal images at or above the card threshold.")
    independent: IndependentMetrics | None = Field(
        None, description="The same figures on images from a generator written independently of training.")


class TilingSpec(BaseModel):
    """How large images are cut into tiles for this model."""

    model_config = ConfigDict(extra="forbid")

    overlap: int = Field(32, ge=0, description="Overlap between neighbouring tiles in pixels.")
    resize_to_height: int | None = Field(
        None, description="If set, images are first resized so their height is this many pixels "
        "(keeps aspect ratio); None = tile at native resolution.",
    )


class ModelCard(BaseModel):
    """Everything the core needs to run a model, and what a reviewer needs to trust it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name, used to load it from the registry.")
    version: str = Field(description="Model version (semantic version).")
    task: Literal["image_score", "anomaly_map", "detections"] = Field(description="What the graph computes.")
    description: str = Field("", description="What the model looks for, in plain words.")
    input: InputSpec
    outputs: list[OutputSpec]
    threshold: float = Field(description="Image score at or above which an image is flagged.")
    pixel_threshold: float | None = Field(None, description="Anomaly-map value at or above which a pixel belongs to a region.")
    min_region_area: int = Field(16, ge=1, description="Smallest region kept, in pixels of the original image.")
    tiling: TilingSpec = Field(default_factory=TilingSpec)
    sha256: str = Field(description="SHA-256 of model.onnx, hex.")
    training_data: str = Field(description="What data the model was trained or fitted on.")
    metrics: Metrics = Field(default_factory=Metrics)
    created_by: str = Field("", description="Script or command that produced the model.")


def round_threshold(value: float) -> float:
    """A threshold for a card: 4 significant digits, not 4 decimals, since models whose clean
    images score near 0 get thresholds like 5.7e-05 that 4 decimals would turn into 0."""
    return float(f"{value:.4g}")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_card(folder: Path) -> ModelCard:
    """Read and validate `card.json` in a model folder."""
    return ModelCard.model_validate_json((folder / CARD_FILE).read_text(encoding="utf-8"))


def write_card(folder: Path, card: ModelCard) -> None:
    """Write `card.json` (pretty, stable key order) into a model folder."""
    text = json.dumps(card.model_dump(mode="json"), indent=2) + "\n"
    (folder / CARD_FILE).write_text(text, encoding="utf-8")
