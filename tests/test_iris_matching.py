"""Iris matching and quality gate on codes from the stub's generator: genuine and impostor
distributions, rotation, masks, refusal on little overlap, enrolment, officer-readable failures."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.iris import IrisCapture, decode_frame, decode_payload, encode_message
from edge.kinds.iris.enrol import enrol_from_captures
from edge.kinds.iris.matching import (
    Decision, MatchConfig, Template, distances, match, normalise, shift_order,
)
from edge.kinds.iris.quality import QualityThresholds, check_quality
from firmware_stubs.iris_codes import IrisSimulator
from firmware_stubs.iris_reader import ReaderConfig, SerialIrisReader

PAIRS = 200


def _score(sim: IrisSimulator, enrolled: str, presented: str) -> tuple[float, int]:
    template = sim.capture(enrolled)
    probe = sim.capture(presented)
    result = match(probe.code, probe.mask, [Template(template.code, template.mask)])
    assert result.best is not None
    return result.best.distance, result.best.bits


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sim = IrisSimulator(seed=2024)
    genuine = [_score(sim, f"CARD{i}", f"CARD{i}") for i in range(PAIRS)]
    impostor = [_score(sim, f"CARD{i}", f"OTHER{i}") for i in range(PAIRS)]
    bits = np.array([b for _, b in genuine + impostor])
    return np.array([d for d, _ in genuine]), np.array([d for d, _ in impostor]), bits


def test_genuine_and_impostor_distributions_separate_at_032(scores: tuple[np.ndarray, ...]) -> None:
    genuine, impostor, bits = scores
    fnmr = float(np.mean(genuine > 0.32))
    fmr = float(np.mean(impostor <= 0.32))
    grid = np.linspace(0, 0.6, 601)
    rates = np.array([(np.mean(impostor <= t), np.mean(genuine > t)) for t in grid])
    eer_at = int(np.argmin(np.abs(rates[:, 0] - rates[:, 1])))
    d_prime = (impostor.mean() - genuine.mean()) / np.sqrt((impostor.var() + genuine.var()) / 2)
    print(f"\ngenuine  n={PAIRS} mean {genuine.mean():.3f} sd {genuine.std():.3f} "
          f"range {genuine.min():.3f}-{genuine.max():.3f}")
    print(f"impostor n={PAIRS} mean {impostor.mean():.3f} sd {impostor.std():.3f} "
          f"range {impostor.min():.3f}-{impostor.max():.3f}")
    print(f"at 0.32: FMR {fmr:.3f} FNMR {fnmr:.3f}; EER {rates[eer_at].mean():.3f} at {grid[eer_at]:.3f}; "
          f"d' {d_prime:.1f}; shared bits mean {bits.mean():.0f} min {bits.min()}")
    assert 0.1 <= genuine.mean() <= 0.3 and genuine.max() < 0.35
    assert 0.45 <= impostor.mean() <= 0.52 and impostor.min() > 0.38
    assert fmr <= 0.005 and fnmr <= 0.02 and rates[eer_at].mean() <= 0.01 and d_prime > 5


def test_impostor_distance_without_shifts_is_binomial_around_half_with_correlated_bits() -> None:
    sim = IrisSimulator(seed=7)
    zero = MatchConfig(max_shift=0)
    raw = []
    for i in range(PAIRS):
        a, b = sim.capture(f"A{i}", tilt_cols=0.0), sim.capture(f"B{i}", tilt_cols=0.0)
        best = match(a.code, a.mask, [Template(b.code, b.mask)], zero).best
        assert best is not None
        raw.append(best.raw_distance)
    mean, var = float(np.mean(raw)), float(np.var(raw))
    degrees = mean * (1 - mean) / var
    print(f"\nimpostor at shift 0: mean {mean:.3f} sd {np.sqrt(var):.3f}, "
          f"degrees of freedom {degrees:.0f} of 4096 bits")
    assert abs(mean - 0.5) < 0.01 and 100 < degrees < 1500   # neighbouring bits correlated, not coin flips


@pytest.mark.parametrize("tilt", [7.0, -12.0, 3.4, 0.0])
def test_rotation_is_recovered(tilt: float) -> None:
    sim = IrisSimulator(seed=11)
    enrolled = sim.capture("CARD123", tilt_cols=0.0)
    probe = sim.capture("CARD123", tilt_cols=tilt)
    result = match(probe.code, probe.mask, [Template(enrolled.code, enrolled.mask)])
    assert result.decision is Decision.ACCEPT and result.best is not None
    assert result.best.shift == -round(tilt)
    assert f"{result.best.shift_degrees:+.1f} deg" in result.reason


def test_a_turn_beyond_the_shift_range_is_not_found() -> None:
    sim = IrisSimulator(seed=12)
    enrolled = sim.capture("CARD123", tilt_cols=0.0)
    probe = sim.capture("CARD123", tilt_cols=30.0)
    assert match(probe.code, probe.mask, [Template(enrolled.code, enrolled.mask)]).decision is Decision.REJECT
    wide = MatchConfig(max_shift=35)
    assert match(probe.code, probe.mask, [Template(enrolled.code, enrolled.mask)], wide).decision is Decision.ACCEPT


def test_vectorised_distances_equal_a_plain_loop_over_rolls() -> None:
    rng = np.random.default_rng(3)
    probe, pmask = rng.random((8, 256, 2)) < 0.5, rng.random((8, 256, 2)) < 0.8
    codes, masks = rng.random((3, 8, 256, 2)) < 0.5, rng.random((3, 8, 256, 2)) < 0.7
    shifts = shift_order(15)
    raw, bits = distances(probe, pmask, codes, masks, shifts)
    for t in range(3):
        for k, s in enumerate(shifts):
            code, mask = np.roll(probe, s, axis=1), np.roll(pmask, s, axis=1)
            shared = mask & masks[t]
            assert bits[t, k] == shared.sum()
            assert raw[t, k] == pytest.approx(((code ^ codes[t]) & shared).sum() / shared.sum())


def test_bits_under_either_mask_do_not_count() -> None:
    sim = IrisSimulator(seed=4)
    a, b = sim.capture("CARD1"), sim.capture("CARD1")
    before = match(a.code, a.mask, [Template(b.code, b.mask)]).best
    scrambled = np.where(a.mask, a.code, ~a.code)   # flip every masked bit
    after = match(scrambled, a.mask, [Template(b.code, b.mask)]).best
    assert before == after


def test_normalisation_pulls_small_overlaps_toward_half_and_leaves_large_ones() -> None:
    raw, bits = np.array([0.2, 0.2, 0.2]), np.array([512, 2048, 4000])
    assert normalise(raw, bits, 2048).tolist() == pytest.approx([0.35, 0.2, 0.2])
    assert normalise(raw, bits, None).tolist() == [0.2, 0.2, 0.2]


def test_too_few_shared_bits_is_undecided_not_a_reject() -> None:
    sim = IrisSimulator(seed=5)
    enrolled, probe = sim.capture("CARD1"), sim.capture("CARD1")
    squint = np.zeros_like(probe.mask)
    squint[2:3] = True                                   # one ring visible: 512 bits
    result = match(probe.code, squint, [Template(enrolled.code, enrolled.mask)])
    assert result.decision is Decision.UNDECIDED and result.best is None
    assert "1024 are needed" in result.reason and "capture again" in result.reason
    none = match(probe.code, probe.mask, [])
    assert none.decision is Decision.UNDECIDED and "no enrolled iris template" in none.reason


def test_best_over_several_templates_and_the_reject_reason() -> None:
    sim = IrisSimulator(seed=6)
    enrolment = enrol_from_captures([(c.code, c.mask) for c in (sim.capture("CARD9") for _ in range(3))])
    assert len(enrolment.templates) == 3 and all(d <= 0.32 for _, _, d in enrolment.agreement)
    genuine = sim.capture("CARD9")
    result = match(genuine.code, genuine.mask, enrolment.templates)
    assert result.decision is Decision.ACCEPT and result.best is not None
    assert result.best.distance == min(c.distance for c in result.per_template if c is not None)
    stranger = sim.capture("SOMEONE-ELSE")
    rejected = match(stranger.code, stranger.mask, enrolment.templates)
    assert rejected.decision is Decision.REJECT and "may not be the card holder" in rejected.reason
    stored = Template.from_bytes(enrolment.templates[0].to_bytes())
    assert np.array_equal(stored.code, enrolment.templates[0].code) and len(enrolment.templates[0].to_bytes()) == 1024


def test_enrolment_refuses_captures_that_disagree_or_too_few() -> None:
    sim = IrisSimulator(seed=8)
    own = [sim.capture("CARD5") for _ in range(2)]
    other = sim.capture("NOT-CARD5")
    with pytest.raises(ValueError, match="captures 1 and 3 do not agree"):
        enrol_from_captures([(c.code, c.mask) for c in (*own, other)])
    with pytest.raises(ValueError, match="at least 2"):
        enrol_from_captures([(own[0].code, own[0].mask)])


def test_quality_gate_fails_a_poor_capture_and_names_the_components() -> None:
    sim = IrisSimulator(seed=9)
    verdict = check_quality(sim.capture("CARD999", poor=True).quality.as_dict())
    assert not verdict.passed
    assert {"sharpness", "usable_iris_area", "margin_adequacy", "iris_pupil_contrast"} <= set(verdict.failed_components)
    assert "blurred" in verdict.summary() and "eyelids" in verdict.summary()
    good = [check_quality(sim.capture(f"C{i}").quality.as_dict()) for i in range(50)]
    assert all(v.passed for v in good), [v.summary() for v in good if not v.passed]


def test_quality_limits_are_strict_or_inclusive_as_the_reference_says() -> None:
    base = dict(usable_iris_area=80, iris_sclera_contrast=10, iris_pupil_contrast=40, pupil_circularity=10,
                greyscale_utilisation=7.0, iris_pupil_ratio=40, concentricity=95, margin_adequacy=90, sharpness=60)
    assert check_quality(base).passed   # circularity is not gated by default
    edge_values = {"iris_sclera_contrast": (5, False), "iris_pupil_contrast": (30, True),
                   "greyscale_utilisation": (6.0, True), "iris_pupil_ratio": (70, True),
                   "concentricity": (90, True), "margin_adequacy": (80, False), "usable_iris_area": (70, True)}
    for name, (value, passes) in edge_values.items():
        assert check_quality({**base, name: value}).passed is passes, name
    dilated = check_quality({**base, "iris_pupil_ratio": 71})
    assert dilated.failures[0].reason.startswith("pupil dilation (iris-pupil ratio) 71 is above the maximum of 70")
    missing = check_quality({**base, "sharpness": None})
    assert missing.failed_components == ("sharpness",) and "not measured" in missing.summary()
    assert not check_quality({**base}, QualityThresholds(pupil_circularity_min=50)).passed


def test_the_stub_s_captures_go_through_the_codec_and_match() -> None:
    stub = SerialIrisReader(ReaderConfig(seed=3))
    try:
        frames = [encode_message(i, stub.make_capture("CARD123", kind))
                  for i, kind in enumerate(["genuine", "genuine", "impostor", "poor"])]
    finally:
        stub.stop()
    captures = [IrisCapture.from_message(decode_payload(decode_frame(f)), "iris1") for f in frames]
    template = Template(captures[0].code_bits(), captures[0].mask_bits())
    decisions = [match(c.code_bits(), c.mask_bits(), [template]).decision for c in captures[1:3]]
    assert decisions == [Decision.ACCEPT, Decision.REJECT]
    assert captures[2].card_id == "CARD123"   # an impostor holds the right card
    assert not check_quality(captures[3].quality.as_dict()).passed
