"""Configuration of the inference core, as a pydantic model the edge config can embed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Provider = Literal["cpu", "cuda", "openvino"]


class InferenceConfig(BaseModel):
    """How the core runs models: where they live, on which hardware, with how many threads."""

    model_config = ConfigDict(extra="forbid")

    models_dir: Path | None = Field(
        None,
        description="Folder holding one sub-folder per model (model.onnx + card.json). None = the "
        "KOUAN_MODELS_DIR environment variable if set, else the repository's models/ folder.",
    )
    providers: list[Provider] = Field(
        default_factory=lambda: ["cpu"],
        description="Execution providers in order of preference. 'cuda' and 'openvino' are used only "
        "when onnxruntime was installed with them; otherwise a warning is logged and the next one "
        "is tried. CPU is always the last resort.",
    )
    intra_op_threads: int = Field(
        2, ge=0, description="Threads onnxruntime uses inside one operator (0 = onnxruntime's default).",
    )
    inter_op_threads: int = Field(
        1, ge=0, description="Threads onnxruntime uses across independent operators (0 = default).",
    )
    tile_batch: int = Field(
        4, ge=1, le=256,
        description="Tiles fed to one session run when the graph's batch dimension is dynamic.",
    )
    blend: Literal["max", "mean"] = Field(
        "max",
        description="How overlapping tiles are merged in the stitched anomaly map: 'max' keeps the "
        "strongest evidence of any tile, 'mean' averages them.",
    )
    max_concurrency: int = Field(
        1, ge=1, le=16,
        description="Images the async wrapper runs at once in worker threads; further calls wait.",
    )
    map_max_side: int = Field(
        512, ge=16, description="Longest side in pixels of the reduced anomaly map kept in a result.",
    )
    max_regions: int = Field(
        64, ge=1, description="Most regions reported per image (the highest-scoring ones are kept).",
    )
    warmup: bool = Field(True, description="Run the graph once on zeros when a model is loaded.")
