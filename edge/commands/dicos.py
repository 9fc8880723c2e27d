"""Write a scan and a model's findings on it as DICOS, or summarise DICOS files.

`kouan dicos write --image SCAN --findings RESULT.json --out DIR` reads SCAN (PNG or TIFF, 8- or
16-bit as stored, or a file already DICOS) and one result line of `kouan infer` on it, and writes
DIR/<name>.dx.dcm (a DICOS DX for presentation made from the pixels; a DICOS input is copied as it
is, so the report refers to the scanner's own instance) and DIR/<name>.tdr.dcm (a MACHINE Threat
Detection Report referring to it: one threat per region, its polygon the box's corners, its
probability the region's score clipped to 0..1, the alarm the result's `flagged`). It prints the two
paths. `kouan dicos read FILE...` prints what each file is (`--json`: one JSON line per file).
Bad input (a missing file, a result line without its fields, a file that is no image) is named on
stderr and the exit code is 2.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

HELP = "write a scan and its model findings as DICOS (DX + machine TDR), or summarise DICOS files"

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


class BadInput(ValueError):
    """Input the command cannot use; the message names the file."""


class RegionLine(BaseModel):
    """One region of a `kouan infer` result line."""

    model_config = ConfigDict(extra="forbid")

    box: list[int] = Field(min_length=4, max_length=4, description="[x, y, width, height] in image pixels.")
    score: float = Field(description="The region's own score.")
    area: int = Field(ge=0, description="Pixels of the region.")
    polygon: list[list[int]] = Field(description="The region's outline as [[x, y], ...].")


class InferLine(BaseModel):
    """One image's result line as `kouan infer` prints it (edge.inference.result.InferenceResult.to_dict)."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="The image file the model ran on.")
    score: float = Field(description="The image's score.")
    flagged: bool = Field(description="The score is over the model's threshold.")
    threshold: float = Field(description="The model's image threshold.")
    regions: list[RegionLine] = Field(description="Regions found, each with its box and score.")
    regions_dropped: int = Field(0, ge=0, description="Regions found but not listed (the model's cap).")
    model: str = Field(min_length=1, description="The model's name.")
    version: str = Field(description="The model's version.")
    ms: float = Field(description="Inference time.")
    width: int = Field(gt=0, description="The image's width in pixels.")
    height: int = Field(gt=0, description="The image's height in pixels.")
    tiles: int = Field(description="Tiles the model ran on.")
    decode_ms: float | None = Field(None, description="Decoding time.")
    heatmap: str | None = Field(None, description="Where a heatmap was written.")
    heatmap_error: str | None = Field(None, description="Why a heatmap could not be written.")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add `write` and `read`."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    write = actions.add_parser("write", help="a scan + a `kouan infer` result line -> DICOS DX + machine TDR",
                               description="Write DIR/<name>.dx.dcm and DIR/<name>.tdr.dcm; print their paths.")
    write.add_argument("--image", required=True, type=Path, metavar="SCAN",
                       help="PNG or TIFF (8/16-bit as stored; a two-page TIFF is dual energy), or a DICOS DX file")
    write.add_argument("--findings", required=True, type=Path, metavar="RESULT.json",
                       help="the `kouan infer` result line for SCAN (a file of several lines: the one for SCAN)")
    write.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write into (made if missing)")
    write.add_argument("--name", help="file name stem (default: SCAN's name without its extension)")
    read = actions.add_parser("read", help="summarise DICOS files (images and TDRs)",
                              description="One summary per file; exit 2 if any file is not DICOS.")
    read.add_argument("files", nargs="+", type=Path, metavar="FILE")
    read.add_argument("--json", action="store_true", help="one JSON object per file instead of words")


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def _findings(path: Path, image: Path) -> InferLine:
    """The result line for `image` from `path`: the only line, or the one whose image has its file name."""
    text = _read_bytes(path, "findings").decode("utf-8", errors="replace")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"findings {path}: line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise BadInput(f"findings {path}: line {number} is not a JSON object")
        records.append(record)
    if len(records) > 1:
        records = [r for r in records if Path(str(r.get("image", ""))).name == image.name]
        if len(records) != 1:
            raise BadInput(f"findings {path}: {len(records) or 'no'} result lines for {image.name}; give one")
    if not records:
        raise BadInput(f"findings {path}: no result line (empty file)")
    record = records[0]
    if "error" in record:
        raise BadInput(f"findings {path}: the result line is an error, not findings: {record['error']}")
    try:
        return InferLine.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
        raise BadInput(f"findings {path}: not a `kouan infer` result line: {problems}") from None


def _image(path: Path, name: str) -> tuple[Any, bytes]:
    """(the DX data set, the DX file's bytes) for SCAN: a DICOS DX as it is, else made from the pixels."""
    from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, open_dicos
    from drivers.scanner.dx_image import decode_grey_planes, presentation_dx
    from drivers.scanner.headers import ScanRefused, sniff_format
    from drivers.scanner.tdr import dicos_bytes, read_dicos

    data = _read_bytes(path, "image")
    try:
        if sniff_format(data[:132]) == "dicos":
            summary = read_dicos(data)
            if summary.sop_class_uid not in (DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING):
                raise BadInput(f"image {path}: {summary.sop_class} is not a DICOS DX image")
            return open_dicos(io.BytesIO(data)), data
        grey = decode_grey_planes(data, f"image {path}")
        taken = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)  # the best we know of when
        ds = presentation_dx(grey, scan_id=name, scan_time=taken, device="kouan dicos")
        return ds, dicos_bytes(ds)
    except ScanRefused as exc:
        message = str(exc)
        raise BadInput(message if str(path) in message else f"image {path}: {message}") from None


def _write_file(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    try:
        part.write_bytes(data)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _write(args: argparse.Namespace) -> list[Path]:
    from drivers.scanner.tdr import Threat, build_tdr, write_tdr

    stem = args.image.stem
    name = args.name or (stem[:-3] if stem.endswith(".dx") else stem) or "scan"
    image_ds, dx_bytes = _image(args.image, name)
    line = _findings(args.findings, args.image)
    columns, rows = int(image_ds.Columns), int(image_ds.Rows)
    if (line.width, line.height) != (columns, rows):
        raise BadInput(f"findings {args.findings}: the result is for a {line.width} x {line.height} image, "
                       f"image {args.image} is {columns} x {rows}")
    if Path(line.image).name != args.image.name:
        log.warning("findings %s name image %s, writing them for %s (same size)", args.findings, line.image,
                    args.image)
    algorithm = f"{line.model} {line.version}".strip()
    try:
        threats = [Threat.from_box(*r.box, r.score, description=f"region {i} of {algorithm}: score {r.score:.4f}, "
                                                                 f"{r.area} px")
                   for i, r in enumerate(line.regions, start=1)]
        note = (f"{algorithm}: image score {line.score:.4f}, threshold {line.threshold}, "
                f"{'flagged' if line.flagged else 'not flagged'}, {len(threats)} region(s)")
        if line.regions_dropped:
            note += f"; {line.regions_dropped} further region(s) found but not listed by the model"
            log.warning("%s: %d region(s) were dropped by the model and are not in the TDR", args.findings,
                        line.regions_dropped)
        tdr = build_tdr(image_ds, threats, "MACHINE", algorithm=algorithm, alarm=line.flagged,
                        decided_at=datetime.now(timezone.utc), note=note)
    except ValueError as exc:
        raise BadInput(f"findings {args.findings}: {exc}") from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        dx_path, tdr_path = args.out / f"{name}.dx.dcm", args.out / f"{name}.tdr.dcm"
        _write_file(dx_path, dx_bytes)
        write_tdr(tdr_path, tdr)
    except OSError as exc:
        raise BadInput(f"out {args.out}: cannot write: {exc.strerror or exc}") from None
    return [dx_path, tdr_path]


def describe(path: Path, summary: Any) -> str:
    """A DICOS file's summary in words, a few lines."""
    lines = [f"{path}: {summary.sop_class} ({summary.sop_class_uid})",
             f"  instance {summary.instance_uid}, OOI {summary.ooi_id or '-'}, DICOS {summary.dicos_version or '-'}"]
    if not summary.is_tdr:
        lines.append(f"  {summary.columns} x {summary.rows} pixels, {summary.frames} frame(s), {summary.bits} bits")
        return "\n".join(lines)
    who = summary.algorithm if summary.tdr_type == "MACHINE" else summary.operator
    lines.append(f"  {summary.tdr_type} report by {who or '-'}: {summary.alarm_decision} at "
                 f"{summary.decided_at or '-'}, {len(summary.threats)} threat(s), on instance "
                 f"{summary.referenced_uid}")
    for threat in summary.threats:
        corners = " ".join(f"({x:g}, {y:g})" for x, y in threat.polygon)
        probability = "-" if threat.probability is None else f"{threat.probability:.4f}"
        lines.append(f"  threat {threat.pto_id}: {threat.category}, probability {probability}, polygon {corners}")
    if summary.note:
        lines.append(f"  note: {summary.note}")
    return "\n".join(lines)


def _read(args: argparse.Namespace) -> int:
    from drivers.scanner.tdr import read_dicos

    failed = 0
    for path in args.files:
        try:
            summary = read_dicos(path)
        except ValueError as exc:  # ScanRefused is one
            failed += 1
            message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            print(f"kouan dicos: {message}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": str(path), "error": message}, ensure_ascii=False))
            continue
        if args.json:
            print(json.dumps({"file": str(path), **summary.to_dict()}, ensure_ascii=False))
        else:
            print(describe(path, summary))
    return EXIT_BAD_INPUT if failed else 0


def run(args: argparse.Namespace) -> int:
    """`write` or `read`; exit 2 on bad input."""
    if args.action == "read":
        return _read(args)
    try:
        paths = _write(args)
    except BadInput as exc:
        print(f"kouan dicos: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in paths:
        print(path)
    return 0
