"""Load models/independent by file path, so a test of it runs nothing else under models/
(the evaluation generators stay independent of the training-data generators there)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PKG_DIR = Path(__file__).resolve().parents[1] / "models" / "independent"
NAME = "kouan_independent_generators"


def load(module: str) -> ModuleType:
    """`models.independent.<module>`, imported through the file-path-loaded package."""
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, PKG_DIR / "__init__.py",
                                                      submodule_search_locations=[str(PKG_DIR)])
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{NAME}.{module}")
