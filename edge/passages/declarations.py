"""Advance declarations: what a vehicle declares before it reaches the lane ("declare in advance,
release at the gate"). They come from the single window over HTTP or MQTT, or from a file.

A declaration is stored once per id (a re-send is harmless; a changed re-send replaces it while
no vehicle has matched it), with its keys (plate, containers, locks, driver's card) for matching.
A bad declaration is refused with the field and the reason; nothing half-stored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from drivers.bounded_json import load_bounded
from drivers.iso6346 import iso6346_check_digit
from edge.passages.observation import Declared, norm, plate_norm


class DeclaredContainer(BaseModel):
    """One container on the vehicle."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(description="ISO 6346 container number, e.g. CSQU3054383.", min_length=11, max_length=13)
    lock_id: str | None = Field(None, max_length=64, description="The e-seal / smart lock on it.")
    declared_empty: bool = Field(False, description="Declared as an empty container.")

    @field_validator("number")
    @classmethod
    def _iso6346(cls, value: str) -> str:
        number = norm(value)
        if len(number) != 11 or not number[:4].isalpha() or not number[4:].isdigit():
            raise ValueError("not an ISO 6346 container number (4 letters, 7 digits)")
        if iso6346_check_digit(number[:10]) != int(number[10]):
            raise ValueError(f"check digit of {number} is wrong (ISO 6346)")
        return number


class Declaration(BaseModel):
    """An advance declaration, as the single window sends it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="The declaration's number at the single window.")
    plate: str = Field(min_length=2, max_length=16, description="The tractor's plate.")
    trailer: str | None = Field(None, max_length=16, description="The trailer's plate.")
    driver_card: str | None = Field(None, max_length=32, description="The driver's card id (the iris reader's card).")
    cargo: str = Field("", max_length=500, description="Cargo description.")
    containers: list[DeclaredContainer] = Field(default_factory=list, max_length=4)
    declared_at: AwareDatetime | None = Field(None, description="When it was declared, with its UTC offset (a time "
                                              "without one is refused: the lane and the terminal would read it in "
                                              "different zones); default: when it arrived.")
    _received_at: float = PrivateAttr(0.0)  # when the lane received it (rows.declaration_of sets it)

    def keys(self) -> list[str]:
        keys = [f"plate:{plate_norm(self.plate)}"]
        keys += [f"plate:{plate_norm(self.trailer)}"] if self.trailer else []  # a reader may see the trailer's
        keys += [f"container:{c.number}" for c in self.containers]
        keys += [f"lock:{norm(c.lock_id)}" for c in self.containers if c.lock_id]
        keys += [f"card:{norm(self.driver_card)}"] if self.driver_card else []
        return keys

    def declared(self) -> Declared:
        """What a kind's check needs; without its own `declared_at`, the time the lane received it."""
        return Declared(
            plate=plate_norm(self.plate), containers={c.number: c.declared_empty for c in self.containers},
            locks={norm(c.lock_id): c.number for c in self.containers if c.lock_id},
            card_id=norm(self.driver_card) if self.driver_card else None,
            declared_at=self.declared_at.timestamp() if self.declared_at else self._received_at,
            declared_at_known=self.declared_at is not None)


class DeclarationError(ValueError):
    """A declaration refused: which one (line or source), which field, why."""


def parse(data: Any, source: str) -> Declaration:
    """Validate one declaration; the error names the source and every bad field."""
    try:
        return Declaration.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
                           for e in exc.errors())
        raise DeclarationError(f"declaration refused ({source}): {fields}") from exc


MAX_BYTES = 256 * 1024  # far above any declaration; a bigger payload is no declaration
MAX_DEPTH = 16


def parse_json(raw: bytes | str, source: str) -> Declaration:
    """One declaration from JSON text, its size and nesting bounded before it is parsed."""
    try:
        data = load_bounded(raw, what="the payload", max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
    except ValueError as exc:
        raise DeclarationError(f"declaration refused ({source}): {exc}") from exc
    return parse(data, source)


def read_file(path: Path) -> tuple[list[Declaration], list[str]]:
    """Declarations from a JSON-lines file, and an error line for each line refused (the rest load)."""
    good: list[Declaration] = []
    errors: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                good.append(parse_json(line, f"{path} line {number}"))
            except DeclarationError as exc:
                errors.append(str(exc))
    return good, errors


def store_declaration(db: Any, declaration: Declaration, source: str, now: float | None = None) -> str:
    """Keep one declaration (run inside a store transaction); returns "new", "same", "replaced" or
    "in use" (already matched by a vehicle: kept as it was)."""
    now = time.time() if now is None else now
    raw = declaration.model_dump_json()
    row = db.execute("SELECT raw_json, passage_id FROM declarations WHERE id=?", (declaration.id,)).fetchone()
    if row is not None and row[0] == raw:
        return "same"
    if row is not None and row[1] is not None:
        return "in use"
    declared_at = declaration.declared_at.timestamp() if declaration.declared_at else now
    if row is not None:
        db.execute("DELETE FROM declaration_keys WHERE declaration_id=?", (declaration.id,))
        db.execute("UPDATE declarations SET raw_json=?, plate=?, source=?, declared_at=?, received_at=? WHERE id=?",
                   (raw, plate_norm(declaration.plate), source, declared_at, now, declaration.id))
    else:
        db.execute("INSERT INTO declarations (id, plate, raw_json, source, declared_at, received_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (declaration.id, plate_norm(declaration.plate), raw, source, declared_at, now))
    for key in declaration.keys():
        db.execute("INSERT OR IGNORE INTO declaration_keys (key, declaration_id) VALUES (?, ?)", (key, declaration.id))
    return "new" if row is None else "replaced"


def load(raw_json: str) -> Declaration:
    return Declaration.model_validate_json(raw_json)
