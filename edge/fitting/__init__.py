"""On-site fitting: anomaly models fitted on a site's own normal images (numpy + onnxruntime + onnx).

Public API: `fit_model(normal_dir, out_dir, FitOptions(...))` -> `FitResult`; errors about the
input folder raise `FitInputError`.
"""

from edge.fitting.fit import FitOptions, FitResult, fit_model
from edge.fitting.images import FitInputError

__all__ = ["FitInputError", "FitOptions", "FitResult", "fit_model"]
