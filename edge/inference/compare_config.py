"""The same-vehicle comparison's knobs (`edge.inference.compare`), in one frozen dataclass.

The defaults were tuned, and `threshold` chosen, on the project's own renderer only: the
under-vehicle stub's passes made harsher by `models.compare_pairs` (uneven speed, lateral shift
and drift, other fill light, banding, a lane background, cut tails). The independent generator
in `models/independent/` reports on them and never sets any of them, with one disclosed exception:
`min_matched_fraction` was written after its matched shares had been seen (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CompareConfig:
    """The comparison's knobs; `threshold` decides `flagged`."""

    threshold: float = 12.0         # score at which a pass is flagged (models/README.md: how it was chosen)
    work_cols: int = 512            # working scale: columns reduced to about this many
    work_rows: int = 1536           # rows reduced by round(rows / this): a pass just over it keeps its rows (rounding
                                    # up halved a 1544-row pass, and a box ten rows tall there was missed)
    coarse_cols: int = 128          # coarse registration scale: about this many columns
    coarse_rows: int = 512          # and at most this many rows
    max_shift_px: int = 420         # largest lateral offset between the passes (full-resolution columns)
    highpass_sigma: float = 4.0     # coarse px; the working scale uses it times the coarse factor
    tau: float = 0.3                # row similarity a matched row must beat
    step_penalty: float = 0.03      # cost of changing the speed ratio by half a row per row
    min_path_quality: float = 0.45  # mean row similarity along the path; below: not the same vehicle
    min_path_rows: int = 24         # coarse rows the path must cover
    lateral_candidates: int = 3     # lateral offset peaks tried, best first (two rails: a peak a rail's spacing off)
    retry_quality: float = 0.7      # a path this good ends the search over the candidates
    min_matched_fraction: float = 0.4  # share of the probe's vehicle rows that must register; below: not compared
    knot_rows: float = 40.0         # coarse rows between the knots of the path's robust fit
    path_stiffness: float = 1.0     # weight of the fit's bends against its residuals
    path_tolerance: float = 1.5     # coarse rows off that fit: an end of the path this far off is cut
    allow_reverse: bool = True      # try the probe upside down too (a vehicle that passed in reverse)
    strip_rows: int = 32            # fine registration strips (working rows)
    strip_step: int = 16
    strip_min_share: float = 0.5    # share of a strip's rows that must be matched vehicle rows
    search_coarse_rows: float = 1.5  # fine search either side, in coarse rows (plus 2 working rows)
    search_cols: int = 4            # fine search either side (working columns)
    min_ncc: float = 0.3            # a strip that matches less well keeps its neighbours' mapping
    max_jump_rows: float = 2.0      # a strip this far off its neighbours' median is dropped
    drift_tolerance: float = 1.0    # working columns a strip's lateral offset may leave the fitted drift
    column_offset: bool = True      # an additive offset for flat columns (the lane's streaks beside the vehicle)
    clip_level: float = 245.0       # a reference this bright (working scale) may have been saturated
    gain_min_level: float = 20.0    # pixels darker than this do not vote on the gain corrections
    envelope: int = 5               # min/max envelope over envelope x envelope working px
    blur: float = 0.8               # Gaussian sigma before the envelope test
    blur_rows: float = 0.8          # along the track (the passes' motion blur differs): at least `blur`
    noise_floor: float = 1.5        # lower bound of the noise estimate (grey levels)
    abs_floor: float = 8.0          # an excess below this many grey levels never counts
    z_cap: float = 30.0             # per-pixel cap so one hot pixel cannot make the score
    open_px: int = 0                # grey opening of the evidence (working px) before the window, 0: none
    window: int = 9                 # score window (working px)
    pixel_k: float = 4.0            # region pixels: smoothed evidence above this
    min_area_px: int = 1500         # smallest region reported at full weight (full-resolution pixels)
    max_regions: int = 20
