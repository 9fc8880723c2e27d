"""Independent test-image generators, written blind from a description of the scenes.

EVALUATION ONLY: `undercarriage`, `container_xray` and `pairs` make images for measuring
models. Never use them to train, tune, calibrate or select models. See README.md.
"""
