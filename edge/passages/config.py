"""The lane's passage settings (`[passages]` in the edge config): which devices a passage waits
for and how long, the windows readings are correlated in, which reasons hold a vehicle."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.passages.reasons import REASON_KINDS, reason_kind


class PassagesConfig(BaseModel):
    """How the lane builds and decides passages."""

    model_config = ConfigDict(extra="forbid")

    deadlines: dict[str, float] = Field(
        default_factory=dict,
        description="Device id -> seconds after the vehicle arrived by which that device must have reported; "
        "a device that misses it is itself a reason (device_missing). Devices not named are not waited for "
        "(their readings still join the passage).")
    join_window_s: float = Field(
        60.0, gt=0, description="A reading whose plate, container, lock or card matches nothing joins the lane's "
        "newest passage not yet released or held, if that one arrived at most this long before.")
    match_window_s: float = Field(
        900.0, gt=0, description="A reading joins a passage by plate, container, lock or card only within this long "
        "after the passage arrived; later, the same vehicle makes a new passage.")
    hold: list[str] = Field(default_factory=list, description="Reason codes that hold the vehicle, beyond the defaults (docs/operations.md lists them).")
    inform: list[str] = Field(default_factory=list, description="Reason codes that only inform (the vehicle is still released), beyond the defaults.")
    auto_release: bool = Field(True, description="Release clear passages directly after machine inspection; false: each waits for the officer's release key.")
    declarations_file: Path | None = Field(None, description="Advance declarations to load at start (JSON lines, one declaration each); relative to the config file.")
    declaration_valid_h: float = Field(48.0, gt=0, description="An advance declaration not matched by a vehicle within this many hours expires.")
    declarations_token: str | None = Field(None, min_length=16, description="Bearer token with which the single window may POST /api/declarations (officers logged in as supervisor may too).")
    tick_s: float = Field(0.2, gt=0, le=5, description="How often deadlines are checked.")

    @field_validator("hold", "inform")
    @classmethod
    def _known_codes(cls, codes: list[str]) -> list[str]:
        unknown = [code for code in codes if code not in REASON_KINDS]
        if unknown:
            raise ValueError(f"unknown reason code '{unknown[0]}' (known: {', '.join(sorted(REASON_KINDS))})")
        return codes

    @model_validator(mode="after")
    def _not_both(self) -> PassagesConfig:
        both = sorted(set(self.hold) & set(self.inform))
        if both:
            raise ValueError(f"reason code '{both[0]}' is in both hold and inform")
        return self

    def holds(self, code: str) -> bool:
        """Whether a reason with this code holds the vehicle at this lane."""
        if code in self.hold:
            return True
        if code in self.inform:
            return False
        return reason_kind(code).holds
