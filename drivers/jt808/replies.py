"""What a platform (the edge) answers to each terminal message, so a device stops retransmitting."""

from __future__ import annotations

from drivers.jt808.header import Header
from drivers.jt808.messages import (
    PLATFORM_RESPONSE, REGISTRATION, REGISTRATION_RESPONSE, RESULT_SUCCESS, TERMINAL_RESPONSE,
    GeneralResponse, Message, RegistrationResponse, encode_frame,
)


def platform_response(message: Message, serial: int, result: int = RESULT_SUCCESS) -> bytes:
    """A 0x8001 frame answering `message`, addressed with the same header layout and terminal."""
    h = message.header
    header = Header(PLATFORM_RESPONSE, h.terminal, serial, h.protocol_version)
    return encode_frame(header, GeneralResponse(h.serial, h.message_id, result))


def registration_response(message: Message, serial: int, auth_code: str,
                          result: int = RESULT_SUCCESS) -> bytes:
    """A 0x8100 frame answering a 0x0100 registration with `auth_code`."""
    h = message.header
    header = Header(REGISTRATION_RESPONSE, h.terminal, serial, h.protocol_version)
    return encode_frame(header, RegistrationResponse(h.serial, result, auth_code))


def reply_for(message: Message, serial: int, auth_code: str = "kouan") -> bytes | None:
    """The frame a platform sends back for a terminal message (None for platform messages and 0x0001)."""
    mid = message.header.message_id
    if mid & 0x8000 or mid == TERMINAL_RESPONSE:
        return None
    if mid == REGISTRATION:
        return registration_response(message, serial, auth_code)
    return platform_response(message, serial)
