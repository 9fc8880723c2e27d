"""JSON from a device, parsed only once its size and nesting are known to be sane.

`json.loads` recurses per nesting level: `[` repeated 100,000 times raises RecursionError, not
a ValueError, and a huge payload costs memory before any field is checked. So a device
payload is measured first: its length against the kind's limit, then its nesting depth, with
brackets inside strings not counted. Every refusal is a ValueError that says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in `data` (strings skipped)."""
    if data.count(b"[") + data.count(b"{") <= 1:
        return data.count(b"[") + data.count(b"{")
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_bounded(payload: bytes | str, *, what: str, max_bytes: int, max_depth: int) -> Any:
    """Parse `payload` as JSON if it is at most `max_bytes` long and nested at most `max_depth` deep."""
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    if len(data) > max_bytes:
        raise ValueError(f"{what} is {len(data)} bytes, over the limit of {max_bytes}")
    if data.count(b"[") + data.count(b"{") > max_depth and nesting_depth(data) > max_depth:
        raise ValueError(f"{what} is nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None
