"""The typed error every JT/T 808 decoding failure raises, with a machine-readable reason."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a frame was rejected; also the key of the deframer's bad-frame counters."""

    CHECK_CODE = "check_code"          # XOR check code does not match
    TRUNCATED = "truncated"            # shorter than a header + check code, or cut mid-stream
    BAD_ESCAPE = "bad_escape"          # 0x7D not followed by 0x01 / 0x02
    LENGTH_MISMATCH = "length_mismatch"  # body length in the attributes differs from the bytes present
    OVERSIZE = "oversize"              # more bytes than any legal frame before the closing 0x7E
    BAD_HEADER = "bad_header"          # reserved/unsupported attribute bits, terminal number not BCD
    BAD_BODY = "bad_body"              # a body field that cannot be decoded (short body, bad BCD, overrun)


class Jt808DecodeError(ValueError):
    """A JT/T 808 frame or body that cannot be decoded; `reason` says which check failed."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
