"""Message bodies (general responses, heartbeat, registration, authentication), the body registry,
and whole-frame encode/decode."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from drivers.jt808.errors import Jt808DecodeError, Reason
from drivers.jt808.framing import unwrap, wrap
from drivers.jt808.header import Header, decode_header, encode_header
from drivers.jt808.location import (
    BatchLocation, LocationReport, decode_batch, decode_location, encode_batch, encode_location,
)

TERMINAL_RESPONSE = 0x0001
PLATFORM_RESPONSE = 0x8001
HEARTBEAT = 0x0002
REGISTRATION = 0x0100
REGISTRATION_RESPONSE = 0x8100
AUTHENTICATION = 0x0102
LOCATION_REPORT = 0x0200
BATCH_LOCATION = 0x0704

RESULT_SUCCESS = 0
RESULT_FAILURE = 1
RESULT_BAD_MESSAGE = 2
RESULT_UNSUPPORTED = 3


@dataclass(frozen=True)
class GeneralResponse:
    """0x0001 (terminal) / 0x8001 (platform): which message (serial, id) is answered and the result."""

    reply_serial: int
    reply_id: int
    result: int = RESULT_SUCCESS


@dataclass(frozen=True)
class Heartbeat:
    """0x0002: empty body."""


@dataclass(frozen=True)
class Registration:
    """0x0100. Fixed-width fields are 5/20/7 bytes in 2013 and 11/30/30 in 2019."""

    province: int
    city: int
    manufacturer: str
    model: str
    terminal_id: str
    plate_color: int
    plate: str


@dataclass(frozen=True)
class RegistrationResponse:
    """0x8100: result 0 = success, then the authentication code."""

    reply_serial: int
    result: int
    auth_code: str = ""


@dataclass(frozen=True)
class Authentication:
    """0x0102. 2013: the code only; 2019: code length + code + IMEI[15] + software version[20]."""

    code: str
    imei: str = ""
    software_version: str = ""


@dataclass(frozen=True)
class RawBody:
    """A body not decoded: unknown message id, encrypted, or one packet of a split message."""

    data: bytes


Body = Union[GeneralResponse, Heartbeat, Registration, RegistrationResponse, Authentication,
             LocationReport, BatchLocation, RawBody]


@dataclass(frozen=True)
class Message:
    """One decoded frame: header and body."""

    header: Header
    body: Body


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("gbk", errors="replace")


def _fixed(text: str, size: int, what: str) -> bytes:
    raw = text.encode("gbk")
    if len(raw) > size:
        raise ValueError(f"{what} {text!r} is longer than {size} bytes")
    return raw.ljust(size, b"\x00")


def _need(body: bytes, size: int, what: str) -> None:
    if len(body) < size:
        raise Jt808DecodeError(Reason.BAD_BODY, f"{what} body is {len(body)} bytes, needs {size}")


def _enc_response(body: GeneralResponse, _2019: bool) -> bytes:
    return struct.pack(">HHB", body.reply_serial, body.reply_id, body.result)


def _dec_response(data: bytes, _2019: bool) -> GeneralResponse:
    _need(data, 5, "general response")
    return GeneralResponse(*struct.unpack_from(">HHB", data, 0))


def _registration_sizes(is_2019: bool) -> tuple[int, int, int]:
    return (11, 30, 30) if is_2019 else (5, 20, 7)


def _enc_registration(body: Registration, is_2019: bool) -> bytes:
    m, mo, t = _registration_sizes(is_2019)
    return (struct.pack(">HH", body.province, body.city) + _fixed(body.manufacturer, m, "manufacturer")
            + _fixed(body.model, mo, "model") + _fixed(body.terminal_id, t, "terminal id")
            + bytes([body.plate_color]) + body.plate.encode("gbk"))


def _dec_registration(data: bytes, is_2019: bool) -> Registration:
    m, mo, t = _registration_sizes(is_2019)
    _need(data, 4 + m + mo + t + 1, "registration")
    province, city = struct.unpack_from(">HH", data, 0)
    o = 4
    manufacturer, model = _text(data[o:o + m]), _text(data[o + m:o + m + mo])
    o += m + mo
    terminal_id = _text(data[o:o + t])
    o += t
    return Registration(province, city, manufacturer, model, terminal_id, data[o], _text(data[o + 1:]))


def _enc_registration_response(body: RegistrationResponse, _2019: bool) -> bytes:
    out = struct.pack(">HB", body.reply_serial, body.result)
    return out + body.auth_code.encode("gbk") if body.result == RESULT_SUCCESS else out


def _dec_registration_response(data: bytes, _2019: bool) -> RegistrationResponse:
    _need(data, 3, "registration response")
    serial, result = struct.unpack_from(">HB", data, 0)
    return RegistrationResponse(serial, result, _text(data[3:]))


def _enc_authentication(body: Authentication, is_2019: bool) -> bytes:
    code = body.code.encode("gbk")
    if not is_2019:
        return code
    if len(code) > 255:
        raise ValueError("authentication code longer than 255 bytes")
    return (bytes([len(code)]) + code + _fixed(body.imei, 15, "IMEI")
            + _fixed(body.software_version, 20, "software version"))


def _dec_authentication(data: bytes, is_2019: bool) -> Authentication:
    if not is_2019:
        return Authentication(_text(data))
    _need(data, 1, "authentication")
    n = data[0]
    _need(data, 1 + n + 15 + 20, "authentication (2019)")
    return Authentication(_text(data[1:1 + n]), _text(data[1 + n:16 + n]), _text(data[16 + n:36 + n]))


_Codec = tuple[type, Callable[[Any, bool], bytes], Callable[[bytes, bool], Any]]
_CODECS: dict[int, _Codec] = {
    TERMINAL_RESPONSE: (GeneralResponse, _enc_response, _dec_response),
    PLATFORM_RESPONSE: (GeneralResponse, _enc_response, _dec_response),
    HEARTBEAT: (Heartbeat, lambda _b, _v: b"", lambda _d, _v: Heartbeat()),
    REGISTRATION: (Registration, _enc_registration, _dec_registration),
    REGISTRATION_RESPONSE: (RegistrationResponse, _enc_registration_response, _dec_registration_response),
    AUTHENTICATION: (Authentication, _enc_authentication, _dec_authentication),
    LOCATION_REPORT: (LocationReport, lambda b, _v: encode_location(b), lambda d, _v: decode_location(d)),
    BATCH_LOCATION: (BatchLocation, lambda b, _v: encode_batch(b), lambda d, _v: decode_batch(d)),
}

MESSAGE_NAMES: dict[int, str] = {
    TERMINAL_RESPONSE: "terminal_general_response", PLATFORM_RESPONSE: "platform_general_response",
    HEARTBEAT: "heartbeat", REGISTRATION: "registration", REGISTRATION_RESPONSE: "registration_response",
    AUTHENTICATION: "authentication", LOCATION_REPORT: "location_report", BATCH_LOCATION: "batch_location",
}


def encode_body(message_id: int, body: Body, is_2019: bool) -> bytes:
    """Serialise a body for `message_id`; RawBody passes through."""
    if isinstance(body, RawBody):
        return body.data
    codec = _CODECS.get(message_id)
    if codec is None or not isinstance(body, codec[0]):
        raise ValueError(f"cannot encode {type(body).__name__} as message 0x{message_id:04x}")
    return codec[1](body, is_2019)


def decode_body(header: Header, data: bytes) -> Body:
    """Decode a body by message id; unknown ids, encrypted and split packets stay RawBody."""
    codec = _CODECS.get(header.message_id)
    if codec is None or header.encryption or header.split is not None:
        return RawBody(data)
    return codec[2](data, header.is_2019)


def encode_frame(header: Header, body: Body) -> bytes:
    """A complete escaped frame with flags, check code and the body length filled in."""
    data = encode_body(header.message_id, body, header.is_2019)
    return wrap(encode_header(header, len(data)) + data)


def decode_payload(payload: bytes) -> Message:
    """Decode an unescaped, check-verified header+body."""
    header, offset = decode_header(payload)
    body = payload[offset:]
    if len(body) != header.body_length:
        raise Jt808DecodeError(
            Reason.LENGTH_MISMATCH, f"attributes say {header.body_length} body bytes, frame has {len(body)}"
        )
    return Message(header, decode_body(header, body))


def decode_frame(frame: bytes) -> Message:
    """Decode one frame (with or without its 0x7E flags); raises Jt808DecodeError with a reason."""
    return decode_payload(unwrap(frame))
