"""BCD (8421) numbers and the BCD[6] `YYMMDDhhmmss` timestamps of JT/T 808 (UTC+8)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from drivers.jt808.errors import Jt808DecodeError, Reason

CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")


def encode_bcd(digits: str, size: int) -> bytes:
    """Pack a digit string into `size` BCD bytes, left-padded with zeros."""
    if not digits.isdigit() and digits != "":
        raise ValueError(f"BCD needs decimal digits, got {digits!r}")
    if len(digits) > size * 2:
        raise ValueError(f"{digits!r} has more than {size * 2} digits")
    return bytes.fromhex(digits.rjust(size * 2, "0"))


def decode_bcd(data: bytes, what: str = "BCD field") -> str:
    """Unpack BCD bytes into a digit string (leading zeros kept); a nibble above 9 is an error."""
    text = data.hex()
    if not text.isdigit():
        raise Jt808DecodeError(Reason.BAD_BODY, f"{what} is not BCD: {text}")
    return text


def encode_bcd_time(moment: datetime | None) -> bytes:
    """BCD[6] YYMMDDhhmmss in UTC+8; a naive datetime is taken as UTC+8; None is all zeros."""
    if moment is None:
        return bytes(6)
    if moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    return bytes.fromhex(moment.strftime("%y%m%d%H%M%S"))


def decode_bcd_time(data: bytes) -> datetime | None:
    """Parse BCD[6] YYMMDDhhmmss (UTC+8, years 2000-2099); all zeros (no fix yet) gives None."""
    text = decode_bcd(data, "time")
    if text == "000000000000":
        return None
    try:
        return datetime.strptime(text, "%y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise Jt808DecodeError(Reason.BAD_BODY, f"time {text} is not a valid YYMMDDhhmmss: {exc}") from exc
