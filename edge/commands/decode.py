"""Decode device frames to JSON, one object per frame, for a technician at a serial port.

`kouan decode jt808 --hex "7e0200...7e"` or `--file capture.bin`. Invalid frames are reported on
stderr with the reason; the exit code is 2 if any frame was invalid, good frames are still printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "decode device frames (jt808) from hex or a raw capture file to JSON lines"


def configure(parser: argparse.ArgumentParser) -> None:
    protocols = parser.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    jt808 = protocols.add_parser("jt808", help="JT/T 808 frames (2013 and 2019 headers)",
                                 description="Decode JT/T 808 frames; one JSON object per frame on stdout.")
    source = jt808.add_mutually_exclusive_group(required=True)
    source.add_argument("--hex", help="frames as hex (spaces and newlines allowed), 0x7E flags included")
    source.add_argument("--file", type=Path, help="raw bytes, e.g. a serial capture")


def _read_source(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        text = "".join(args.hex.split())
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError(f"--hex is not valid hex: {exc}") from None
    try:
        return Path(args.file).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {args.file}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from drivers.jt808 import Deframer, Jt808DecodeError, describe

    try:
        data = _read_source(args)
    except ValueError as exc:
        print(f"kouan decode: {exc}", file=sys.stderr)
        return 2
    errors: list[str] = []

    def on_error(exc: Jt808DecodeError, content: bytes) -> None:
        shown = content[:24].hex() + ("..." if len(content) > 24 else "")
        errors.append(f"invalid frame ({exc.reason.value}): {exc.detail} [{len(content)} bytes: {shown}]")
        print(f"kouan decode: {errors[-1]}", file=sys.stderr)

    deframer = Deframer(on_error=on_error)
    count = 0
    for message in deframer.feed(data):
        print(json.dumps(describe(message), ensure_ascii=False))
        count += 1
    deframer.flush()
    stats = deframer.stats
    if count == 0 and not errors:
        print("kouan decode: no JT/T 808 frame found (no 0x7E-delimited frame in the input)", file=sys.stderr)
        return 2
    if stats.bad_bytes:
        print(f"kouan decode: {count} frame(s), {stats.bad_frame_total} invalid, "
              f"{stats.bad_bytes} byte(s) not in any valid frame", file=sys.stderr)
    return 2 if errors else 0
