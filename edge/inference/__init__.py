"""ONNX image-recognition core: model cards, registry, sessions, pre-processing, tiling, results."""
