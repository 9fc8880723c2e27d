"""`[uplink]` in the edge config: where the hub is, the edge's token, and how to send."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.uplink import MAX_CHUNK, MAX_WAIT_S


class UplinkConfig(BaseModel):
    """The hub this lane uploads to. No `[uplink]` table: no uplink, nothing queued."""

    model_config = ConfigDict(extra="forbid")

    hub_url: str = Field(description="The hub's base URL, e.g. https://hub.example:8090 (the API is under /api/v1).")
    token: str | None = Field(None, min_length=16, description="The edge's bearer token, as `kouan hub edge add` printed it. Give this or token_file.")
    token_file: Path | None = Field(None, description="A file holding the edge's bearer token (one line), instead of token; relative to the config file.")
    chunk_bytes: int = Field(MAX_CHUNK, ge=64 * 1024, le=MAX_CHUNK, description="Bytes per upload chunk (PATCH), at most the contract's 8 MiB; smaller chunks lose less to a broken link.")
    bandwidth_bytes_s: int = Field(0, ge=0, description="Upload bandwidth cap over all uploads, bytes per second; 0 = no cap.")
    parallel_uploads: int = Field(2, ge=1, le=8, description="Images uploaded at once, so the hub's finishing of one (hash, image check, fsyncs) overlaps the next one's transfer; 1 = one after another. The bandwidth cap covers them together, and a passage still goes only once all its images are confirmed.")
    backoff_base_s: float = Field(1.0, gt=0, description="First retry delay after a failure; doubles with each attempt (full jitter).")
    backoff_cap_s: float = Field(60.0, gt=0, description="Longest retry delay.")
    verdict_wait_s: float = Field(25.0, ge=0, le=MAX_WAIT_S, description="How long one verdict long poll waits at the hub when there is none.")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of one HTTP request to the hub (connect, read, write), beyond the long poll's wait.")
    poll_s: float = Field(0.5, gt=0, le=10, description="How often an idle worker looks for new outbox rows.")

    @field_validator("hub_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_token(self) -> UplinkConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token and token_file")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must be at least backoff_base_s")
        return self

    def bearer(self) -> str:
        """The token (read from token_file when that is how it was given)."""
        if self.token is not None:
            return self.token
        assert self.token_file is not None
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"uplink.token_file {self.token_file} cannot be read: {exc}") from exc
        if len(token) < 16:
            raise ValueError(f"uplink.token_file {self.token_file} holds no token (under 16 characters)")
        return token
