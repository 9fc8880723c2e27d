"""onnxruntime sessions built from config, checked against the model card, warmed up on load."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.inference.card import ModelCard
from edge.inference.config import InferenceConfig, Provider
from edge.inference.registry import ModelContractError

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

PROVIDER_NAMES: dict[Provider, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}

SCORE_OUTPUT = "score"
MAP_OUTPUT = "anomaly_map"
FORCE_SPINNING_STOP = "session.force_spinning_stop"
"""onnxruntime session option: intra-op threads stop spinning as soon as a run() returns."""


@dataclass(frozen=True)
class GraphInfo:
    """What the core needs to know about a graph after checking it against its card."""

    input_name: str
    output_names: list[str]
    """Outputs fetched per run: [score] or [score, anomaly_map]."""
    max_batch: int | None
    """None = dynamic batch dimension; otherwise the fixed batch size of the graph."""
    providers: list[str]


def choose_providers(wanted: list[Provider], available: list[str]) -> list[str]:
    """onnxruntime provider names for the wanted ones that are installed, CPU always last."""
    chosen: list[str] = []
    for provider in wanted:
        name = PROVIDER_NAMES[provider]
        if name in available:
            if name not in chosen:
                chosen.append(name)
        else:
            log.warning("execution provider %s asked for but not installed (have %s); falling back",
                        name, ", ".join(available))
    if PROVIDER_NAMES["cpu"] not in chosen:
        chosen.append(PROVIDER_NAMES["cpu"])
    return chosen


def create_session(onnx_bytes: bytes, config: InferenceConfig) -> ort.InferenceSession:
    """An InferenceSession on the configured providers and thread counts."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Pool threads otherwise keep spinning for a while after run() returns and take a core from
    # the resize, stitching and decoding that follow it (on 2 cores this doubled the resize time).
    options.add_session_config_entry(FORCE_SPINNING_STOP, "1")
    providers = choose_providers(config.providers, ort.get_available_providers())
    session = ort.InferenceSession(onnx_bytes, sess_options=options, providers=providers)
    used = session.get_providers()
    if used[0] != providers[0]:
        log.warning("onnxruntime fell back from %s to %s", providers[0], used[0])
    return session


def _dim_matches(dim: object, expected: int) -> bool:
    """A graph dimension agrees if it is symbolic/unknown or equal to the expected size."""
    return not isinstance(dim, int) or dim == expected


def check_contract(session: ort.InferenceSession, card: ModelCard, where: str) -> GraphInfo:
    """Raise ModelContractError if the graph's input or outputs disagree with the card."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelContractError(f"refusing model {where}: graph has {len(inputs)} inputs, the core feeds one image")
    graph_input = inputs[0]
    spec = card.input
    if graph_input.name != spec.name:
        raise ModelContractError(
            f"refusing model {where}: card input name {spec.name!r} but graph input is {graph_input.name!r}")
    shape = list(graph_input.shape)
    expected = [None, spec.channels, spec.height, spec.width]
    if len(shape) != 4 or not all(_dim_matches(d, e) for d, e in zip(shape[1:], expected[1:], strict=True)):
        raise ModelContractError(
            f"refusing model {where}: card input [N,{spec.channels},{spec.height},{spec.width}] "
            f"but graph input {graph_input.name!r} has shape {shape}")
    if card.task == "detections":
        raise ModelContractError(f"refusing model {where}: task 'detections' is not supported by the core yet")
    graph_outputs = {out.name: out for out in session.get_outputs()}
    card_names = [out.name for out in card.outputs]
    missing = [name for name in card_names if name not in graph_outputs]
    if missing:
        raise ModelContractError(
            f"refusing model {where}: card lists outputs {missing} that the graph does not have "
            f"(graph outputs: {sorted(graph_outputs)})")
    needed = [SCORE_OUTPUT] + ([MAP_OUTPUT] if card.task == "anomaly_map" else [])
    for name in needed:
        if name not in card_names or name not in graph_outputs:
            raise ModelContractError(
                f"refusing model {where}: task {card.task!r} needs output {name!r} on the card and in the graph")
    rank = {SCORE_OUTPUT: 1, MAP_OUTPUT: 4}
    for name in needed:
        out_shape = list(graph_outputs[name].shape)
        if len(out_shape) != rank[name] or (name == MAP_OUTPUT and not _dim_matches(out_shape[1], 1)):
            raise ModelContractError(
                f"refusing model {where}: output {name!r} has shape {out_shape}, card contract is "
                f"{'[N]' if name == SCORE_OUTPUT else '[N,1,h,w]'}")
    if card.task == "anomaly_map" and card.pixel_threshold is None:
        raise ModelContractError(f"refusing model {where}: task 'anomaly_map' needs pixel_threshold on the card")
    batch = shape[0]
    return GraphInfo(
        input_name=graph_input.name,
        output_names=needed,
        max_batch=batch if isinstance(batch, int) and batch > 0 else None,
        providers=session.get_providers(),
    )


def warm_up(session: ort.InferenceSession, card: ModelCard, info: GraphInfo, batch: int) -> None:
    """One run on zeros so the first real image does not pay for lazy initialisation."""
    spec = card.input
    zeros = np.zeros((batch, spec.channels, spec.height, spec.width), dtype=np.float32)
    session.run(info.output_names, {info.input_name: zeros})
