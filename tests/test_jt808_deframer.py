"""Streaming deframer: properties (hypothesis), 1 MB of noise with 1,000 frames, cuts and oversize runs."""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.jt808 import (
    CHINA_TZ, Deframer, ExtraItem, Header, Heartbeat, Jt808DecodeError, LocationReport, LockStateCode, LockStatus,
    Message, decode_frame, encode_frame, encode_lock_status,
)
from drivers.jt808.framing import MAX_ESCAPED
from drivers.jt808.messages import HEARTBEAT, LOCATION_REPORT


def make_frame(index: int, version: int | None = None, lat: float = 44.2, lock_id: str = "KL-1") -> bytes:
    """A valid frame whose serial identifies it; bodies include 0x7E/0x7D bytes so escaping is exercised."""
    header = Header(LOCATION_REPORT, f"{index:012d}", index & 0xFFFF, version)
    report = LocationReport(index, 2, lat, 80.4, 500, 12.3, 90, datetime(2026, 1, 1, tzinfo=CHINA_TZ),
                            (encode_lock_status(LockStatus(lock_id, LockStateCode.SEALED, battery_pct=50)),
                             ExtraItem(0x7E, b"\x7e\x7d\x7e")))
    return encode_frame(header, report)


def ids(messages: list[Message]) -> list[str]:
    return [m.header.terminal for m in messages]


def feed_in_chunks(deframer: Deframer, data: bytes, cuts: list[int]) -> list[Message]:
    out: list[Message] = []
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in zip(points, points[1:]):
        out += deframer.feed(data[start:end])
    return out


def check_accounting(deframer: Deframer) -> None:
    s = deframer.stats
    assert s.bytes_in == s.frame_bytes + s.bad_bytes + s.delimiters + deframer.pending


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000), st.lists(st.integers(min_value=0, max_value=5000), max_size=20))
def test_no_exception_on_any_input(data: bytes, cuts: list[int]) -> None:
    deframer = Deframer()
    feed_in_chunks(deframer, data, cuts)
    check_accounting(deframer)
    deframer.flush()
    assert deframer.pending == 0 and deframer.stats.frame_bytes + deframer.stats.bad_bytes \
        + deframer.stats.delimiters == len(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.binary(max_size=300), st.booleans(), st.floats(-90, 90)), min_size=1, max_size=12),
    st.binary(max_size=300),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_every_hidden_frame_found_none_invented(parts: list[tuple[bytes, bool, float]], tail: bytes,
                                                 cuts: list[int]) -> None:
    stream, expected = b"", []
    for index, (noise, is_2019, lat) in enumerate(parts):
        stream += noise + make_frame(index, 1 if is_2019 else None, lat)
        expected.append(f"{index:012d}" if not is_2019 else f"{index:020d}")
    stream += tail
    deframer = Deframer()
    found = feed_in_chunks(deframer, stream, cuts)
    deframer.flush()
    assert ids(found) == expected
    assert deframer.stats.bad_bytes == sum(len(n) - n.count(0x7E) for n, _, _ in parts) + len(tail) - tail.count(0x7E)


def test_one_megabyte_of_noise_with_1000_frames() -> None:
    """Random bytes keep their 0x7E (about 4,000 of them): each frame brings its own two flags, so it
    is found wherever it lands, and the noise between flags is rejected as bad candidates."""
    rng = random.Random(808)
    noise = rng.randbytes(1_000_000)
    slots = sorted(rng.sample(range(len(noise)), 1000))
    pieces, previous = [], 0
    for index, slot in enumerate(slots):
        pieces += [noise[previous:slot], make_frame(index, 1 if index % 2 else None, rng.uniform(-90, 90))]
        previous = slot
    pieces.append(noise[previous:])
    stream = b"".join(pieces)
    deframer = Deframer()
    started = time.perf_counter()
    found: list[Message] = []
    for offset in range(0, len(stream), 4096):        # serial-port sized reads
        found += deframer.feed(stream[offset: offset + 4096])
    deframer.flush()
    elapsed = time.perf_counter() - started
    stats = deframer.stats
    assert [m.header.serial for m in found] == list(range(1000))
    assert stats.bad_bytes == len(noise) - noise.count(0x7E)
    print(f"\n1 MB noise + 1000 frames: {stats.frames} decoded, {stats.bad_bytes} bad bytes, "
          f"{stats.bad_frame_total} bad candidates {dict(stats.bad_frames)}, {elapsed:.2f} s")


def test_shared_delimiter_and_byte_by_byte_feed() -> None:
    a, b = make_frame(1), make_frame(2)
    stream = a + b[1:]                                   # A's closing 0x7E also opens B
    deframer = Deframer()
    found = [m for byte in stream for m in deframer.feed(bytes([byte]))]
    assert ids(found) == [f"{1:012d}", f"{2:012d}"] and deframer.stats.bad_frame_total == 0


def test_stream_cut_mid_frame_then_resynchronised() -> None:
    a, b = make_frame(1), make_frame(2)
    deframer = Deframer()
    assert deframer.feed(a[: len(a) // 2]) == []         # the port closes half-way through A
    found = deframer.feed(b)                              # the device comes back with B
    assert ids(found) == [f"{2:012d}"]
    assert sum(deframer.stats.bad_frames.values()) == 1


def test_oversize_run_is_bounded_and_counted() -> None:
    deframer = Deframer()
    junk = bytes([0x7E]) + bytes(range(1, 0x7D)) * 1000   # ~124 KB with no closing flag
    deframer.feed(junk)
    assert deframer.pending <= MAX_ESCAPED
    assert deframer.stats.bad_frames["oversize"] == 1
    found = deframer.feed(make_frame(5))
    assert ids(found) == [f"{5:012d}"]
    check_accounting(deframer)


def test_error_hook_receives_reason() -> None:
    seen: list[str] = []
    deframer = Deframer(on_error=lambda exc, content: seen.append(exc.reason.value))
    good = make_frame(3)
    bad = good[:10] + bytes([good[10] ^ 0x55]) + good[11:]
    assert ids(deframer.feed(bad + good)) == [f"{3:012d}"]
    assert seen == ["check_code"]


def test_heartbeat_smallest_frame() -> None:
    frame = encode_frame(Header(HEARTBEAT, "1", 0), Heartbeat())
    assert len(Deframer().feed(frame * 3)) == 3


def test_frame_counters_add_up_over_several_frames() -> None:
    frames = [make_frame(i) for i in range(3)]
    deframer = Deframer()
    assert len(deframer.feed(b"".join(frames))) == 3
    assert deframer.stats.frames == 3
    assert deframer.stats.frame_bytes == sum(len(f) - 2 for f in frames)   # contents between the flags
    assert deframer.stats.delimiters == 6 and deframer.stats.bad_bytes == 0


def test_rejects_of_one_reason_are_counted_each_and_the_hook_gets_the_candidate() -> None:
    seen: list[tuple[str, bytes]] = []
    deframer = Deframer(on_error=lambda exc, content: seen.append((exc.reason.value, content)))
    good = make_frame(3)
    bad = good[:10] + bytes([good[10] ^ 0x55]) + good[11:]
    deframer.feed(bad + bad)
    assert deframer.stats.bad_frames == {"check_code": 2}
    assert seen == [("check_code", bad[1:-1])] * 2
    assert deframer.stats.bad_bytes == 2 * (len(bad) - 2)


def test_each_dropped_candidate_is_logged_at_debug(caplog) -> None:
    good = make_frame(3)
    bad = good[:10] + bytes([good[10] ^ 0x55]) + good[11:]
    with caplog.at_level(logging.DEBUG, logger="drivers.jt808.deframer"):
        Deframer().feed(bad)
    (record,) = [r for r in caplog.records if r.name == "drivers.jt808.deframer"]
    assert record.levelno == logging.DEBUG
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(bad)
    assert record.getMessage() == f"dropped JT/T 808 candidate of {len(bad) - 2} bytes: check_code: {err.value.detail}"


def test_candidate_of_exactly_the_limit_is_not_oversize() -> None:
    seen: list[str] = []
    deframer = Deframer(on_error=lambda exc, content: seen.append(exc.reason.value), max_escaped=20)
    deframer.feed(b"\x7e" + bytes(range(1, 21)) + b"\x7e")            # 20 bytes: decoded (and refused)
    assert seen == ["check_code"] and deframer.stats.bad_bytes == 20
    deframer.feed(bytes(range(1, 22)) + b"\x7e")                      # 21 bytes: oversize
    assert seen == ["check_code", "oversize"] and deframer.stats.bad_bytes == 41
    check_accounting(deframer)


def test_oversize_run_across_reads_is_counted_once_with_its_first_64_bytes() -> None:
    seen: list[tuple[Jt808DecodeError, bytes]] = []
    deframer = Deframer(on_error=lambda exc, content: seen.append((exc, content)))
    noise = bytes(range(1, 0x7D))
    deframer.feed(b"\x00\x00" + b"\x7e" + noise)                      # 2 noise bytes, then a candidate starts
    assert deframer.pending == len(noise) and deframer.stats.bad_bytes == 2
    deframer.feed(noise * 20)                                         # past the limit
    deframer.feed(noise * 20)                                         # still inside the oversized run
    assert deframer.pending == 0
    assert deframer.stats.bad_bytes == 2 + len(noise) * 41
    ((exc, content),) = seen
    assert exc.reason.value == "oversize" and exc.detail == f"more than {MAX_ESCAPED} bytes without 0x7E"
    assert content == noise[:64]
    assert ids(deframer.feed(make_frame(5))) == [f"{5:012d}"]
    assert deframer.stats.bad_frames == {"oversize": 1}
    check_accounting(deframer)


def test_flush_after_a_complete_frame_counts_nothing() -> None:
    deframer = Deframer()
    deframer.feed(make_frame(1))
    deframer.flush()
    assert deframer.stats.bad_frame_total == 0 and deframer.stats.bad_bytes == 0


def test_flush_mid_frame_names_the_bytes_and_resets_to_noise() -> None:
    seen: list[Jt808DecodeError] = []
    deframer = Deframer(on_error=lambda exc, content: seen.append(exc))
    deframer.feed(b"\x7e\x01\x02\x03\x04\x05")
    deframer.flush()
    assert [(e.reason.value, e.detail) for e in seen] == [("truncated", "stream ended 5 bytes into a frame")]
    deframer.feed(b"\x09\x09")                                         # after a flush this is noise again
    assert deframer.pending == 0 and deframer.stats.bad_bytes == 5 + 2
    deframer.flush()
    assert len(seen) == 1
    check_accounting(deframer)
