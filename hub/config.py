"""The hub's configuration file (TOML), validated by pydantic.

A bad file is refused with the file, the field and the reason, as the edge's config is. Relative
paths (the SQLite file, the blob root) resolve against the config file's folder; with no file the
defaults resolve against the working directory.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from hub.ingest import ReviewPolicy


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSection(_Section):
    """Who this hub is."""

    name: str = Field("kouan-hub", min_length=1, max_length=64, description="The hub's name, shown in logs and on the reviewer page.")


class DatabaseConfig(_Section):
    """Where the hub keeps its records."""

    url: str = Field("sqlite:///var/hub.sqlite3", description="SQLAlchemy URL: sqlite:///path (a relative path is relative to the config file) or postgresql+psycopg://user@host:port/db.")

    @model_validator(mode="after")
    def _known_scheme(self) -> DatabaseConfig:
        if not (self.url.startswith("sqlite:///") or self.url.startswith("postgresql+psycopg://")):
            raise ValueError("url must start with sqlite:/// or postgresql+psycopg://")
        return self


class BlobsConfig(_Section):
    """Where uploaded images are kept, and what the hub accepts."""

    root: Path = Field(Path("var/hub-blobs"), description="Folder for images by SHA-256 and partial uploads; relative paths are relative to the config file.")
    max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="Largest image file accepted, in bytes (default 256 MiB); a bigger one is refused (413) before a byte is sent.")
    max_side: int = Field(20000, gt=0, description="Largest width or height in pixels an image header may declare; more is refused as a decompression bomb.")
    max_pixels: int = Field(400_000_000, gt=0, description="Largest width x height x planes an image header may declare (the decoding budget); more is refused as a decompression bomb.")


class ReviewConfig(_Section):
    """How the review queue behaves."""

    lease_s: float = Field(60.0, gt=0, description="A claim lasts this long unless the reviewer's page renews it.")
    deadline_s: float = Field(3600.0, gt=0, description="An item not flagged should be decided within this long of arriving.")
    deadline_flagged_s: float = Field(600.0, gt=0, description="A flagged item should be decided within this long of arriving.")
    recheck_share: float = Field(0.1, ge=0, le=1, description="Share of clear verdicts a supervisor re-checks (every suspicious one is re-checked).")


class WebConfig(_Section):
    """The hub's HTTP service."""

    host: str = Field("127.0.0.1", description="Address the hub listens on.")
    port: int = Field(8090, ge=0, le=65535, description="TCP port of the hub; 0 picks a free one.")
    session_idle_s: float = Field(30 * 60.0, gt=0, description="A reviewer's login ends after this long without a request from it.")
    session_lifetime_s: float = Field(12 * 3600.0, gt=0, description="A login lasts at most this long (a shift), however busy.")
    metrics_token: str | None = Field(None, min_length=16, description="Bearer token that lets Prometheus read /metrics without a login; at least 16 characters. Unset: only an admin may read /metrics.")


class DemoConfig(_Section):
    """Settings of `kouan demo`'s hub (none yet)."""


class HubConfig(_Section):
    """The whole hub configuration."""

    hub: HubSection = Field(default_factory=HubSection, description="[hub]: who this hub is.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="[database]: the SQL store.")
    blobs: BlobsConfig = Field(default_factory=BlobsConfig, description="[blobs]: images on disk and their limits.")
    review: ReviewConfig = Field(default_factory=ReviewConfig, description="[review]: the queue's leases, deadlines and re-checks.")
    web: WebConfig = Field(default_factory=WebConfig, description="[web]: the HTTP service.")
    demo: DemoConfig = Field(default_factory=DemoConfig, description="[demo]: settings of the demo's hub.")

    def review_policy(self) -> ReviewPolicy:
        """The store's ReviewPolicy built from [review]."""
        from hub.ingest import ReviewPolicy  # the store is imported only where it is used

        return ReviewPolicy(lease_s=self.review.lease_s, deadline_s=self.review.deadline_s,
                            deadline_flagged_s=self.review.deadline_flagged_s,
                            recheck_share=self.review.recheck_share)


def _format_errors(path: Path | None, error: ValidationError) -> str:
    lines = [f"config error in {path}:" if path else "config error:"]
    for item in error.errors():
        loc = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in item["loc"])
        lines.append(f"  {loc.replace('.[', '[') or '(top level)'}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def _resolve(config: HubConfig, base: Path) -> HubConfig:
    """Relative SQLite and blob paths made absolute against `base`."""
    prefix = "sqlite:///"
    if config.database.url.startswith(prefix):
        file = Path(config.database.url[len(prefix):])
        if not file.is_absolute():
            config.database.url = prefix + str((base / file).resolve())
    if not config.blobs.root.is_absolute():
        config.blobs.root = (base / config.blobs.root).resolve()
    return config


def default_config(base: Path | None = None) -> HubConfig:
    """The configuration with no file: every default, paths relative to `base` (the working directory)."""
    return _resolve(HubConfig(), base or Path.cwd())


def load_config(path: Path | str | None) -> HubConfig:
    """Read, parse and validate a TOML config file (None: the defaults)."""
    if path is None:
        return default_config()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config error: {path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: not valid TOML: {exc}") from exc
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from exc
    return _resolve(config, path.parent)
