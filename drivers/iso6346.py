"""ISO 6346 container numbers: the pattern and the check digit (the empty-box detector and the
scanner both read container numbers, and both must agree on which are well-formed)."""

from __future__ import annotations

import re

CONTAINER_PATTERN = r"^[A-Z]{3}[UJZ][0-9]{7}$"   # owner code, category U/J/Z, serial, check digit
CONTAINER = re.compile(CONTAINER_PATTERN)


def _letter_values() -> dict[str, int]:
    """ISO 6346 letter values: A=10 upwards, skipping multiples of 11 (11, 22, 33)."""
    values, v = {}, 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        v += v % 11 == 0
        values[letter] = v
        v += 1
    return values


_LETTER = _letter_values()


def iso6346_check_digit(first_ten: str) -> int:
    """The check digit of owner code + category + serial (10 chars): sum of value * 2**i, mod 11, mod 10."""
    if not re.fullmatch(r"[A-Z]{4}[0-9]{6}", first_ten):
        raise ValueError(f"{first_ten!r} is not 4 letters and 6 digits")
    total = sum((_LETTER[c] if c.isalpha() else int(c)) << i for i, c in enumerate(first_ten))
    return total % 11 % 10
