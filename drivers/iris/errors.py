"""The typed error every iris-reader decoding failure raises, with a machine-readable reason."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a frame was rejected; also the key of the deframer's bad-frame counters."""

    HEADER_CHECK = "header_check"    # CRC-16 over the first 8 header bytes does not match
    BAD_VERSION = "bad_version"      # frame version byte is not 1
    OVERSIZE = "oversize"            # payload length over MAX_PAYLOAD
    CRC = "crc"                      # CRC-32 over the whole frame does not match
    TRUNCATED = "truncated"          # the stream ended inside a frame, or fewer bytes than the header says
    UNKNOWN_TYPE = "unknown_type"    # a well-formed frame of a message type this edge does not know
    BAD_PAYLOAD = "bad_payload"      # a payload field out of range, of the wrong length or shape


class IrisDecodeError(ValueError):
    """An iris-reader frame or payload that cannot be decoded; `reason` says which check failed."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
