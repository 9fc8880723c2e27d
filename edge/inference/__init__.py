"""ONNX image-recognition core: model cards, registry, sessions, pre-processing, tiling, results.

Entry points: `core.Detector.load(name_or_dir, config)` then `.infer(image)` (blocking) or
`core.AsyncDetector(detector).infer(image)` (off the event loop); `registry.ModelRegistry` to
list models; `config.InferenceConfig` for providers, threads and the models folder. This
package imports nothing heavy itself, so `edge.inference.card` stays cheap to import.
"""
