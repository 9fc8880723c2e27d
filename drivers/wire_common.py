"""What the devices' pydantic wire models share: a datetime must carry its UTC offset, and a
refused payload is a ValueError naming each bad field.

A device's clock is local (the lanes are at +08:00); a time without an offset could be read
as UTC and land eight hours off, so it is refused rather than guessed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, field_validator

M = TypeVar("M", bound=BaseModel)


def offset_required(*fields: str, said: str = "time") -> Any:
    """A field validator for a model's class body: `fields` (datetimes) must carry a UTC offset.

    `said` is how the refusal names the field ("time needs a UTC offset (e.g. +08:00)").
    """
    def aware(_cls: type[BaseModel], value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(f"{said} needs a UTC offset (e.g. +08:00)")
        return value

    return field_validator(*fields)(classmethod(aware))  # type: ignore[arg-type]


def validate_wire(model: type[M], data: object, what: str) -> M:
    """`data` (parsed JSON) as a `model`; ValueError "<what>: field '<path>': <problem>; ..." otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc']) or '(root)'}': {err['msg']}" for err in exc.errors())
        raise ValueError(f"{what}: {problems}") from None
