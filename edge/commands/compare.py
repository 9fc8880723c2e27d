"""Compare under-vehicle passes with the same vehicle's last clean pass; one JSON line per probe.

`kouan compare REFERENCE PROBE...` compares each PROBE with REFERENCE; `kouan compare --pairs FILE`
reads `reference,probe` lines (CSV; blank lines and lines starting with # are skipped). Each line
printed holds reference, probe, score, flagged, regions (box [x, y, w, h] and polygon in the
probe's pixels, each with its own score and area), matched_fraction, registered (false: the probe
does not register onto the reference over enough of its rows, e.g. another vehicle, and `flagged`
says nothing about it) and ms. An image that cannot
be read gives {"reference": ..., "probe": ..., "error": "... names the file ..."}, the other pairs
are still compared, and the exit code is then 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

HELP = "compare under-vehicle passes with a clean reference pass, one JSON line per probe"

EXIT_BAD_INPUT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the compare subcommand's arguments."""
    parser.add_argument("images", nargs="*", type=Path, metavar="IMAGE",
                        help="REFERENCE then one or more PROBE images (PNG, JPEG, TIFF; 8 or 16 bit grey)")
    parser.add_argument("--pairs", type=Path, metavar="FILE", help="CSV file of reference,probe lines")
    parser.add_argument("--threshold", type=float, metavar="SCORE",
                        help="score at which a probe is flagged (default from CompareConfig)")


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _pairs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    if args.pairs is not None:
        if args.images:
            raise ValueError("give either REFERENCE PROBE... or --pairs FILE, not both")
        try:
            text = args.pairs.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--pairs {args.pairs}: cannot read: {exc}") from None
        pairs: list[tuple[Path, Path]] = []
        for n, row in enumerate(csv.reader(text.splitlines()), 1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) != 2 or not all(cells):
                raise ValueError(f"--pairs {args.pairs} line {n}: expected reference,probe, got {','.join(row)!r}")
            pairs.append((Path(cells[0]), Path(cells[1])))
        return pairs
    if len(args.images) < 2:
        raise ValueError("expected REFERENCE and at least one PROBE (or --pairs FILE)")
    return [(args.images[0], probe) for probe in args.images[1:]]


def run(args: argparse.Namespace) -> int:
    """Compare every pair; a bad file is reported (naming it) and the others still run."""
    from dataclasses import replace

    from edge.inference.compare import CompareConfig, compare
    from edge.inference.preprocess import read_image

    try:
        pairs = _pairs(args)
    except ValueError as exc:
        sys.stderr.write(f"kouan compare: {exc}\n")
        return EXIT_BAD_INPUT
    config = CompareConfig() if args.threshold is None else replace(CompareConfig(), threshold=args.threshold)
    references: dict[Path, Any] = {}   # a --pairs file often repeats a reference: read it once
    failures = 0
    for ref_path, probe_path in pairs:
        record: dict[str, Any] = {"reference": str(ref_path), "probe": str(probe_path)}
        try:
            if ref_path not in references:
                try:
                    references[ref_path] = read_image(ref_path)
                except ValueError as exc:
                    references[ref_path] = exc
            reference = references[ref_path]
            if isinstance(reference, ValueError):
                raise reference
            probe = read_image(probe_path)
            try:
                result = compare(reference, probe, config)
            except ValueError as exc:   # e.g. not a grey image
                raise ValueError(f"{ref_path} vs {probe_path}: {exc}") from None
        except ValueError as exc:   # ImageDecodeError names the file
            failures += 1
            sys.stderr.write(f"kouan compare: {exc}\n")
            _emit({**record, "error": str(exc)})
            continue
        _emit({**record, "score": round(result.score, 4), "flagged": result.flagged,
               "regions": [region.to_dict() for region in result.regions],
               "matched_fraction": round(result.matched_fraction, 4), "registered": result.registered,
               "ms": round(result.ms, 2)})
    return EXIT_BAD_INPUT if failures else 0
