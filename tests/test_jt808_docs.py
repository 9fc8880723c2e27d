"""Every frame in docs/protocols.md's `jt808` blocks decodes and re-encodes byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

from drivers.jt808 import decode_frame, describe, encode_frame
from drivers.smart_lock import LockReading

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocols.md"


def doc_frames() -> list[bytes]:
    blocks = re.findall(r"```jt808\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [bytes.fromhex(line) for block in blocks for line in block.split()]


def test_documented_frames_are_valid() -> None:
    frames = doc_frames()
    assert len(frames) >= 9
    for frame in frames:
        message = decode_frame(frame)
        assert encode_frame(message.header, message.body) == frame


def test_documented_decode_output_and_json() -> None:
    text = DOC.read_text(encoding="utf-8")
    first = describe(decode_frame(doc_frames()[0]))
    shown = json.loads(re.findall(r"```json\n(.*?)```", text, re.DOTALL)[0])
    assert first == shown
    tampered = LockReading.from_jt808(decode_frame(doc_frames()[2]), "lock1")
    shown_json = re.findall(r"```json\n(.*?)```", text, re.DOTALL)[1]
    assert json.loads(tampered.to_json()) == json.loads(shown_json)
