"""`kouan decode jt808` run as a subprocess, as a technician would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_jt808_golden import TRACCAR_0102, TRACCAR_0200_WEST, XTREAM_2019_0200

from drivers.jt808 import CHINA_TZ, Header, LocationReport, LockStateCode, LockStatus, encode_frame, encode_lock_status


def kouan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "decode", "jt808", *args],
                          capture_output=True, text=True, timeout=60)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_hex_2019_location() -> None:
    result = kouan("--hex", XTREAM_2019_0200)
    assert result.returncode == 0, result.stderr
    (obj,) = lines(result.stdout)
    assert obj["message_id"] == 0x0200 and obj["version"] == "2019"
    assert obj["terminal"] == "00000000013912344329" and obj["serial"] == 0
    assert obj["latitude"] == -31.234567 and obj["longitude"] == 121.987654
    assert (obj["alarm"], obj["status"], obj["altitude_m"], obj["speed_kmh"], obj["heading"]) == (111, 22, 123, 6.6, 3)
    assert obj["time"] == "2025-01-29T22:33:44+08:00"
    assert obj["extras"]["0x01"]["hex"] == "0000000c"


def test_file_with_garbage_prints_good_frames_and_fails(tmp_path: Path) -> None:
    from datetime import datetime

    lock = encode_lock_status(LockStatus("KL-7", LockStateCode.TAMPERED, rope_cut=True, battery_pct=15))
    report = LocationReport(0x80, 2, 44.2, 80.4, 500, 0.0, 0, datetime(2026, 1, 1, tzinfo=CHINA_TZ), (lock,))
    ours = encode_frame(Header(0x0200, "013800138000", 5), report)
    corrupt = bytearray(bytes.fromhex(TRACCAR_0102))
    corrupt[8] ^= 0x10
    capture = tmp_path / "capture.bin"
    capture.write_bytes(b"\x00garbage" + bytes.fromhex(TRACCAR_0200_WEST) + bytes(corrupt) + ours + b"\x7e\x01\x02")
    result = kouan("--file", str(capture))
    assert result.returncode == 2
    objs = lines(result.stdout)
    assert [o["message_id"] for o in objs] == [0x0200, 0x0200]
    assert objs[1]["lock_id"] == "KL-7" and objs[1]["lock_state"] == "tampered" and objs[1]["rope_cut"] is True
    assert objs[1]["extras"]["0xe0"]["battery_pct"] == 15
    assert "check_code" in result.stderr and "truncated" in result.stderr


def test_bad_escape_and_bad_hex_are_named() -> None:
    result = kouan("--hex", "7e 0002 7d05 0000 7e")
    assert result.returncode == 2 and "bad_escape" in result.stderr and result.stdout == ""
    result = kouan("--hex", "7e0g")
    assert result.returncode == 2 and "not valid hex" in result.stderr


def test_missing_file() -> None:
    result = kouan("--file", "/nonexistent/capture.bin")
    assert result.returncode == 2 and "cannot read" in result.stderr
