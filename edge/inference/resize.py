"""The core's down-sizing to a model's working height (cv2 and numpy only).

Kept apart from `preprocess` so training scripts on a machine without the service's
dependencies (pydantic) can resize exactly as the core does.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """Resize keeping aspect ratio, anti-aliased but cheap on big images.

    Downscaling halves with pyrDown (5x5 Gaussian) while the image is at least twice the
    target height, then finishes with INTER_LINEAR. INTER_AREA would also anti-alias but costs
    10-50x more at non-integer factors on 4096-px images; at an exact integer factor (4096x2048
    to 512x256) it saves only ~0.15 ms of ~1.1 ms, and models are not indifferent to the kernel:
    on 8 fresh under_vehicle test images its scores moved by up to 0.49 and 2 of 8 decisions
    flipped, so the kernel stays. Training scripts should call this same function so models see
    at inference what they saw in training.
    """
    h, w = image.shape[:2]
    if h == height:
        return image
    target_w = max(1, round(w * height / h))
    while image.shape[0] >= 2 * height and image.shape[1] >= 2 * target_w:
        image = cv2.pyrDown(image)
    if image.shape[0] == height and image.shape[1] == target_w:
        return image
    return cv2.resize(image, (target_w, height), interpolation=cv2.INTER_LINEAR)
