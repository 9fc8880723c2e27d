"""Iris matching: fractional Hamming distance over the bits both masks keep, with rotation shifts.

For a probe (the capture) and each enrolled template, the probe is turned by every shift in
-max_shift..+max_shift columns (open-iris's default 15 of 256 columns, +-21 degrees); at each
shift HD = |(probe XOR template) AND mask_p AND mask_t| / |mask_p AND mask_t|. Comparisons over
fewer than `min_bits` shared bits are ignored; if none is left the matcher refuses to decide.

Score normalisation (Daugman): HD_norm = 0.5 - (0.5 - HD) * sqrt(n / n_ref), but with n capped at
n_ref. A comparison that saw fewer bits than usual is pulled toward 0.5 (less evidence, less
certainty); one that saw more is taken at its raw value, never pushed away from 0.5. n_ref = 2048
(half the 4096-bit code; Daugman's 911 is 44 % of his 2048 bits), so on a normal capture (about
3000-3500 shared bits) HD_norm is the raw fraction. The decision is the best (lowest) HD_norm over
all templates and shifts: accept at <= threshold (0.32). Pure numpy, imports nothing from edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

CODE_SHAPE = (8, 256, 2)   # rings x angular columns x phase bits, as drivers.iris.messages


@dataclass(frozen=True)
class MatchConfig:
    """The lane's matching rule."""

    threshold: float = 0.32
    max_shift: int = 15
    min_bits: int = 1024
    reference_bits: int | None = 2048   # None: decide on the raw fraction

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 0.5:
            raise ValueError(f"match threshold {self.threshold} must lie between 0 and 0.5")
        if not 0 <= self.max_shift < CODE_SHAPE[1] // 2:
            raise ValueError(f"max_shift {self.max_shift} must lie in 0..{CODE_SHAPE[1] // 2 - 1} columns")
        if self.min_bits < 1:
            raise ValueError("min_bits must be at least 1")


@dataclass(frozen=True)
class Template:
    """An enrolled iris code and its mask (bool arrays of CODE_SHAPE; True in the mask = usable)."""

    code: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        for what in ("code", "mask"):
            array = np.asarray(getattr(self, what))
            if array.shape != CODE_SHAPE:
                raise ValueError(f"iris {what} has shape {array.shape}, expected {CODE_SHAPE}")
            object.__setattr__(self, what, array.astype(bool))

    def to_bytes(self) -> bytes:
        """Code then mask, 512 bytes each, packed as on the wire (numpy.packbits, big bit order)."""
        return np.packbits(self.code.ravel()).tobytes() + np.packbits(self.mask.ravel()).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        size = int(np.prod(CODE_SHAPE)) // 8
        if len(data) != 2 * size:
            raise ValueError(f"a stored iris template is {2 * size} bytes, got {len(data)}")
        bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(bool)
        return cls(bits[: size * 8].reshape(CODE_SHAPE), bits[size * 8:].reshape(CODE_SHAPE))


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    UNDECIDED = "undecided"   # no template, or too few bits visible in both to say


@dataclass(frozen=True)
class Comparison:
    """The best alignment of the probe with one template."""

    template_index: int
    distance: float       # normalised, what the threshold applies to
    raw_distance: float   # the plain fraction of disagreeing bits
    bits: int             # bits both masks kept at that shift
    shift: int            # columns the probe was turned by (np.roll) to align with the template

    @property
    def shift_degrees(self) -> float:
        return self.shift * 360.0 / CODE_SHAPE[1]


@dataclass(frozen=True)
class MatchResult:
    """The decision, its evidence (best comparison, one per template) and the reason in words."""

    decision: Decision
    best: Comparison | None
    per_template: tuple[Comparison | None, ...]
    reason: str


def shift_order(max_shift: int) -> np.ndarray:
    """0, -1, +1, -2, +2 ...: ties go to the smallest turn."""
    steps = np.arange(1, max_shift + 1)
    return np.concatenate([[0], np.stack([-steps, steps], axis=1).ravel()]).astype(int)


def distances(probe_code: np.ndarray, probe_mask: np.ndarray, codes: np.ndarray, masks: np.ndarray,
              shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw fractional HD and shared-bit counts, both [templates, shifts] (HD is nan where no bit is shared).

    `codes`, `masks`: [T, *CODE_SHAPE]. One fancy index builds every turned probe at once."""
    columns = (np.arange(CODE_SHAPE[1])[None, :] - shifts[:, None]) % CODE_SHAPE[1]    # [S, C]
    turned_code = probe_code[:, columns, :][None]          # [1, R, S, C, 2]: turned[s][j] = probe[j - s]
    turned_mask = probe_mask[:, columns, :][None]
    shared = turned_mask & masks[:, :, None]                # [T, R, S, C, 2]
    disagree = (turned_code ^ codes[:, :, None]) & shared
    bits = shared.sum(axis=(1, 3, 4))
    wrong = disagree.sum(axis=(1, 3, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return wrong / bits, bits


def normalise(raw: np.ndarray, bits: np.ndarray, reference_bits: int | None) -> np.ndarray:
    """Daugman's normalisation with n capped at `reference_bits` (see the module doc)."""
    if reference_bits is None:
        return raw
    return 0.5 - (0.5 - raw) * np.sqrt(np.minimum(bits, reference_bits) / reference_bits)


def match(probe_code: np.ndarray, probe_mask: np.ndarray, templates: Sequence[Template],
          config: MatchConfig = MatchConfig()) -> MatchResult:
    """Compare a capture with a card's enrolled templates and decide (see the module doc)."""
    probe = Template(probe_code, probe_mask)
    if not templates:
        return MatchResult(Decision.UNDECIDED, None, (), "the card has no enrolled iris template: enrol it first")
    shifts = shift_order(config.max_shift)
    raw, bits = distances(probe.code, probe.mask, np.stack([t.code for t in templates]),
                          np.stack([t.mask for t in templates]), shifts)
    score = np.where(bits >= config.min_bits, normalise(raw, bits, config.reference_bits), np.inf)
    per: list[Comparison | None] = []
    for index in range(len(templates)):
        at = int(np.argmin(score[index]))
        per.append(None if not np.isfinite(score[index, at]) else
                   Comparison(index, float(score[index, at]), float(raw[index, at]), int(bits[index, at]),
                              int(shifts[at])))
    found = [c for c in per if c is not None]
    if not found:
        most = int(bits.max())
        return MatchResult(Decision.UNDECIDED, None, tuple(per),
                           f"only {most} iris bits were visible in both the capture and the enrolled "
                           f"template(s), {config.min_bits} are needed to decide: eyelids or lashes cover "
                           "too much; capture again")
    best = min(found, key=lambda c: c.distance)
    detail = (f"distance {best.distance:.3f} over {best.bits} bits, eye turned {best.shift_degrees:+.1f} deg, "
              f"template {best.template_index + 1} of {len(templates)}")
    if best.distance <= config.threshold:
        return MatchResult(Decision.ACCEPT, best, tuple(per),
                           f"iris matches the card's enrolled template ({detail}; accept at <= {config.threshold})")
    return MatchResult(Decision.REJECT, best, tuple(per),
                       f"iris does not match the card's enrolled templates (best {detail}; accept at <= "
                       f"{config.threshold}): the driver may not be the card holder")
