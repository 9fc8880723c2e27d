"""The iris quality gate: ISO/IEC 29794-6 components against the lane's thresholds, in words.

Defaults are BIQT-Iris's recommended values for ISO/IEC 29794-6 (shared/REFERENCES.md), plus two
the standard leaves open:
- usable iris area >= 70 %: ISO/IEC 29794-6:2015 recommends 70; below it the eyelids and lashes
  hide so much that too few code bits survive to tell a genuine pair from an impostor pair.
- sharpness >= 40 (0-100): the standard gives no value; 40 rejects clearly defocused captures on
  the BIQT-Iris scale while keeping a driver leaning out of a cab window. Tune per reader model
  on the lane's own captures.
- pupil boundary circularity: reported, not gated (no recommended value); set a minimum to gate.
Pure Python: imports nothing from the rest of edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class QualityThresholds:
    """The lane's limits. `*_above` are strict (>), `*_min` inclusive (>=); None turns a check off."""

    usable_iris_area_min: float | None = 70.0
    iris_sclera_contrast_above: float | None = 5.0
    iris_pupil_contrast_min: float | None = 30.0
    pupil_circularity_min: float | None = None
    greyscale_utilisation_min: float | None = 6.0
    iris_pupil_ratio_min: float | None = 20.0
    iris_pupil_ratio_max: float | None = 70.0
    concentricity_min: float | None = 90.0
    margin_adequacy_above: float | None = 80.0
    sharpness_min: float | None = 40.0


# component -> (what it is, what it means when too low, what to do)
_WORDS: dict[str, tuple[str, str]] = {
    "usable_iris_area": ("usable iris area", "eyelids, lashes or a reflection cover too much of the iris; "
                         "ask the driver to open the eye wide and look into the reader"),
    "iris_sclera_contrast": ("iris-sclera contrast", "the outer edge of the iris is hard to see against the "
                             "white of the eye; check the reader's lighting and capture again"),
    "iris_pupil_contrast": ("iris-pupil contrast", "the pupil's edge is hard to see; check the reader's "
                            "lighting, glasses off, and capture again"),
    "pupil_circularity": ("pupil circularity", "the pupil does not look round (gaze off-axis or partly "
                          "covered); ask the driver to look straight into the reader"),
    "greyscale_utilisation": ("greyscale utilisation", "the image is under- or over-exposed; keep the eye "
                              "out of direct sun or glare and capture again"),
    "iris_pupil_ratio": ("pupil dilation (iris-pupil ratio)", "the pupil is too wide or too narrow for a "
                         "reliable code; shade the reader from bright light or let the eye settle"),
    "concentricity": ("iris-pupil concentricity", "the driver is looking off to the side; ask them to look "
                      "straight at the guide light"),
    "margin_adequacy": ("margin adequacy", "the eye is too close to the edge of the picture; ask the driver "
                        "to centre the eye in the guide"),
    "sharpness": ("sharpness", "the image is blurred; ask the driver to hold still at the marked distance"),
}
COMPONENTS = tuple(_WORDS)


@dataclass(frozen=True)
class QualityFailure:
    """One component that failed: its value (None: not measured), the rule and why, in words."""

    component: str
    value: float | None
    requirement: str
    reason: str


@dataclass(frozen=True)
class QualityVerdict:
    """Passed, or which components failed and why."""

    passed: bool
    failures: tuple[QualityFailure, ...]

    @property
    def failed_components(self) -> tuple[str, ...]:
        return tuple(f.component for f in self.failures)

    def summary(self) -> str:
        """One sentence per failure, for the lane terminal."""
        if self.passed:
            return "iris capture quality is good enough to match"
        return "; ".join(f.reason for f in self.failures)


def _rules(t: QualityThresholds) -> list[tuple[str, str, float]]:
    """(component, operator, limit) for every check switched on."""
    rules = [("usable_iris_area", ">=", t.usable_iris_area_min),
             ("iris_sclera_contrast", ">", t.iris_sclera_contrast_above),
             ("iris_pupil_contrast", ">=", t.iris_pupil_contrast_min),
             ("pupil_circularity", ">=", t.pupil_circularity_min),
             ("greyscale_utilisation", ">=", t.greyscale_utilisation_min),
             ("iris_pupil_ratio", ">=", t.iris_pupil_ratio_min), ("iris_pupil_ratio", "<=", t.iris_pupil_ratio_max),
             ("concentricity", ">=", t.concentricity_min), ("margin_adequacy", ">", t.margin_adequacy_above),
             ("sharpness", ">=", t.sharpness_min)]
    return [(name, op, limit) for name, op, limit in rules if limit is not None]


def _holds(value: float, op: str, limit: float) -> bool:
    return {">=": value >= limit, ">": value > limit, "<=": value <= limit}[op]


_BROKEN = {">=": "is below the minimum of", ">": "is not above", "<=": "is above the maximum of"}


def check_quality(components: Mapping[str, float | None],
                  thresholds: QualityThresholds = QualityThresholds()) -> QualityVerdict:
    """Gate one capture. `components`: name -> value (drivers.iris.Quality.as_dict()); a missing or
    None component whose check is on fails as not measured."""
    failures: list[QualityFailure] = []
    for name, op, limit in _rules(thresholds):
        label, advice = _WORDS[name]
        value = components.get(name)
        requirement = f"{op} {limit:g}"
        if value is None:
            failures.append(QualityFailure(name, None, requirement,
                                           f"{label} was not measured by the reader (needs {requirement})"))
        elif not _holds(float(value), op, limit):
            if name == "iris_pupil_ratio":
                advice = ("the pupil is too dilated for a reliable code; shade the reader or let the eye settle"
                          if op == "<=" else "the pupil is very constricted; shield the reader from bright light")
            failures.append(QualityFailure(name, float(value), requirement,
                                           f"{label} {float(value):g} {_BROKEN[op]} {limit:g}: {advice}"))
    return QualityVerdict(not failures, tuple(failures))
