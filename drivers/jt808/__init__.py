"""JT/T 808 codec (2013 and 2019 headers) for smart locks: framing, messages, streaming deframer.

Public API:
    Deframer(on_error=None).feed(bytes) -> list[Message]; .flush(); .stats (DeframerStats)
    decode_frame(frame: bytes) -> Message           (raises Jt808DecodeError with .reason)
    encode_frame(header: Header, body: Body) -> bytes
    reply_for(message, serial, auth_code) -> bytes | None   (0x8100 for 0x0100, else 0x8001)
    platform_response(message, serial, result=0) -> bytes   (0x8001)
    find_lock_status(report: LocationReport) -> LockStatus | None
    describe(message) -> dict                         (JSON-ready, as `kouan decode jt808` prints)
"""

from drivers.jt808.bcd import CHINA_TZ
from drivers.jt808.deframer import Deframer, DeframerStats
from drivers.jt808.describe import describe, describe_location
from drivers.jt808.errors import Jt808DecodeError, Reason
from drivers.jt808.framing import check_code, escape, unescape, unwrap, wrap
from drivers.jt808.header import Header, SplitInfo
from drivers.jt808.location import (
    ALARM_UNDERVOLTAGE, STATUS_POSITIONED, STATUS_SOUTH, STATUS_WEST, BatchLocation, ExtraItem,
    LocationReport,
)
from drivers.jt808.lock_items import (
    LOCK_STATUS_ITEM, LockStateCode, LockStatus, decode_lock_status, encode_lock_status, find_lock_status,
)
from drivers.jt808.messages import (
    AUTHENTICATION, BATCH_LOCATION, HEARTBEAT, LOCATION_REPORT, PLATFORM_RESPONSE, REGISTRATION,
    REGISTRATION_RESPONSE, TERMINAL_RESPONSE, Authentication, Body, GeneralResponse, Heartbeat, Message,
    RawBody, Registration, RegistrationResponse, decode_frame, encode_frame,
)
from drivers.jt808.replies import platform_response, registration_response, reply_for

__all__ = [
    "ALARM_UNDERVOLTAGE", "AUTHENTICATION", "BATCH_LOCATION", "CHINA_TZ", "HEARTBEAT", "LOCATION_REPORT",
    "LOCK_STATUS_ITEM", "PLATFORM_RESPONSE", "REGISTRATION", "REGISTRATION_RESPONSE", "STATUS_POSITIONED",
    "STATUS_SOUTH", "STATUS_WEST", "TERMINAL_RESPONSE", "Authentication", "BatchLocation", "Body", "Deframer",
    "DeframerStats", "ExtraItem", "GeneralResponse", "Header", "Heartbeat", "Jt808DecodeError",
    "LocationReport", "LockStateCode", "LockStatus", "Message", "RawBody", "Reason", "Registration",
    "RegistrationResponse", "SplitInfo", "check_code", "decode_frame", "decode_lock_status", "describe", "describe_location",
    "encode_frame", "encode_lock_status", "escape", "find_lock_status", "platform_response",
    "registration_response", "reply_for", "unescape", "unwrap", "wrap",
]
