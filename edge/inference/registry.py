"""Find model folders by name or path, and refuse any model whose file or graph disagrees with its card."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from edge.inference.card import CARD_FILE, MODEL_FILE, ModelCard, load_card

log = logging.getLogger(__name__)

MODELS_DIR_ENV = "KOUAN_MODELS_DIR"
REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


class ModelError(Exception):
    """A model cannot be used; the message says why and which file."""


class ModelNotFoundError(ModelError):
    """No model folder with that name or path."""


class ModelIntegrityError(ModelError):
    """model.onnx does not match the SHA-256 on its card."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        super().__init__(
            f"refusing model {path}: SHA-256 mismatch, card says {expected} but the file hashes to "
            f"{actual} (the file was changed or corrupted after its card was written)"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


class ModelContractError(ModelError):
    """The ONNX graph's inputs or outputs disagree with its card."""


@dataclass(frozen=True)
class ModelFiles:
    """A model folder whose card parsed and whose ONNX bytes matched the card's hash."""

    folder: Path
    card: ModelCard
    onnx_bytes: bytes


def resolve_models_dir(override: Path | str | None = None) -> Path:
    """Models root: the argument, else $KOUAN_MODELS_DIR, else the repository's models/ folder."""
    if override is not None:
        return Path(override)
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env)
    return REPO_MODELS_DIR


class ModelRegistry:
    """Model folders under one root: list them, and load one with its integrity checked."""

    def __init__(self, models_dir: Path | str | None = None) -> None:
        self.models_dir = resolve_models_dir(models_dir)

    def list(self) -> list[ModelCard]:
        """Cards of every model folder under the root that has a readable card (sorted by name)."""
        cards: list[ModelCard] = []
        if not self.models_dir.is_dir():
            return cards
        for folder in sorted(p for p in self.models_dir.iterdir() if p.is_dir()):
            if not (folder / CARD_FILE).is_file() or not (folder / MODEL_FILE).is_file():
                continue
            try:
                cards.append(load_card(folder))
            except (ValidationError, OSError, ValueError) as exc:
                log.warning("skipping %s: unreadable card: %s", folder, exc)
        return sorted(cards, key=lambda card: card.name)

    def resolve(self, name_or_dir: str | Path) -> Path:
        """The folder of a model given by path (if it is a folder holding a card) or by name."""
        candidate = Path(name_or_dir)
        if (candidate / CARD_FILE).is_file():
            return candidate
        by_folder = self.models_dir / str(name_or_dir)
        if (by_folder / CARD_FILE).is_file():
            return by_folder
        for folder in sorted(p for p in self.models_dir.iterdir() if p.is_dir()) if self.models_dir.is_dir() else []:
            if (folder / CARD_FILE).is_file():
                try:
                    if load_card(folder).name == str(name_or_dir):
                        return folder
                except (ValidationError, OSError, ValueError):
                    continue
        raise ModelNotFoundError(
            f"no model {str(name_or_dir)!r}: not a folder with {CARD_FILE}, and no model of that name "
            f"under {self.models_dir}"
        )

    def load(self, name_or_dir: str | Path) -> ModelFiles:
        """Read card and ONNX bytes; raise ModelIntegrityError if the bytes do not hash to the card's SHA-256."""
        folder = self.resolve(name_or_dir)
        try:
            card = load_card(folder)
        except ValidationError as exc:
            raise ModelError(f"refusing model {folder / CARD_FILE}: invalid card: {exc}") from exc
        onnx_path = folder / MODEL_FILE
        if not onnx_path.is_file():
            raise ModelNotFoundError(f"model folder {folder} has a card but no {MODEL_FILE}")
        data = onnx_path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != card.sha256.lower():
            raise ModelIntegrityError(onnx_path, card.sha256, actual)
        log.info("model %s %s from %s: SHA-256 verified", card.name, card.version, folder)
        return ModelFiles(folder=folder, card=card, onnx_bytes=data)
