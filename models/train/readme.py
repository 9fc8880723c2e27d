"""Write models/<name>/README.md, the prose model card, from card.json and the training report."""

from __future__ import annotations

from pathlib import Path

from edge.inference.card import ModelCard


def _input_steps(card: ModelCard, report: dict[str, object]) -> str:
    """The in-graph input steps, in words."""
    transmission = card.input.bit_depth == 16 or card.name == "empty_container"
    if report.get("local_norm"):
        blur = (f"a fixed Gaussian blur of sigma {report['preblur']:g} px (so edge sharpness, which devices vary, "
                "is no cue), ") if report.get("preblur") else ""
        return ("the core's normalisation undone, " + blur
                + ("-log(x) (transmission to attenuation), " if transmission else "")
                + "local contrast normalisation (subtract a local mean, a blur of sigma about 16 px done on an 8x8-cell "
                "grid and upsampled, and divide by the local standard deviation; the same code ran in training), ")
    return "-log(x) (transmission to attenuation) and its normalisation, " if card.input.bit_depth == 16 else ""


def _generation(report: dict[str, object]) -> str:
    seconds = report.get("generate_seconds")
    return f" plus {seconds} s of data generation" if isinstance(seconds, (int, float)) and seconds > 0 else ""


def _gmac(report: dict[str, object]) -> str:
    gmac = report.get("gmac_per_tile")
    if not gmac:
        return "about 0.8 GMAC per tile"
    flips = report.get("flips")
    copies = f", all {flips} mirrored copies" if isinstance(flips, int) and flips > 1 else ""
    if report.get("scales") or report.get("partner_preblurs"):
        copies += ", the smaller copies and the partner segmenters"
    return f"{gmac} GMAC per tile{copies}, width {report.get('width')}"


def _mirroring(report: dict[str, object]) -> str:
    """How the graph combines mirrored copies of a tile, if it does."""
    flips = report.get("flips")
    if not isinstance(flips, int) or flips <= 1:
        return ""
    copies = "the tile and its left-right mirror" if flips == 2 else "the tile and its three mirrors (left-right, up-down, both)"
    how = ("the per-pixel minimum, so a response must hold in every orientation"
           if report.get("flip_combine") == "min" else "the per-pixel mean")
    return f", run on {copies} as one batch, each map mirrored back and combined by {how};"


def _agreement(report: dict[str, object]) -> str:
    """The smaller copies and partner segmenters whose maps also enter the per-pixel minimum."""
    parts = []
    scales = report.get("scales")
    if isinstance(scales, list) and scales:
        shown = ", ".join(f"{x:g}" for x in scales)
        parts.append(f"the same on a copy of the tile shrunk to {shown} of its size (blurred by the pre-blur "
                     "divided by that fraction first, so it matches an image resized to that height), its map "
                     "brought back to size;")
    partners = report.get("partner_preblurs")
    if isinstance(partners, list) and partners:
        shown = ", ".join(f"{x:g}" for x in partners)
        parts.append(f"{len(partners)} more segmenter(s) of the same design trained with a pre-blur of {shown} px, "
                     "mirrored the same way")
    if not parts:
        return ""
    return " also " + " and ".join(parts) + ", all entering the same per-pixel minimum (every scale and model must agree);"


def _changes(report: dict[str, object]) -> str:
    """'What changed' paragraph from the report's `previous_version` record, if any."""
    prev = report.get("previous_version")
    if not isinstance(prev, dict):
        return ""
    return (f"**What changed.** {prev.get('change', '')} Previous version ({prev.get('version', '?')}): held-out image AUROC "
            f"{prev.get('image_auroc')}, pixel AUROC {prev.get('pixel_auroc')} (on {prev.get('held_out')}); "
            f"stress-validation image AUROC {prev.get('stress_image_auroc')} before, {report.get('stress_image_auroc')} now "
            "(`python -m models.evaluate NAME --split stress`: training shapes, nuisances outside the training range, "
            "seeds from 20,000,000; the set used to choose this model, the held-out set was measured only after).\n\n")


def _independent(card: ModelCard) -> str:
    """The figures on the blind generator (models/independent_models.py), or that there are none."""
    ind = card.metrics.independent
    if ind is None:
        return ("**Independent evaluation.** None on this card: no independent generator scores this image kind "
                "yet (`python -m models.evaluate NAME --split independent --write`).\n\n")
    return (f"**Independent evaluation** (`python -m models.evaluate {card.name} --split independent --write`; "
            "report only, never used for training, thresholds or choosing): image AUROC "
            f"**{ind.image_auroc}**; at the card threshold **{ind.clean_flagged:.0%} of clean images flagged** "
            f"and {ind.anomalous_flagged:.0%} of anomalous ones. {ind.data}\n\n")


def write_readme(folder: Path, card: ModelCard, report: dict[str, object]) -> None:
    m = card.metrics
    size_mb = (folder / "model.onnx").stat().st_size / 1e6
    text = f"""# Model card: `{card.name}` {card.version}

**What it looks for.** {card.description}

**How it is run.** The inference core resizes an image to a height of
{card.tiling.resize_to_height} px (keeping the aspect ratio), cuts it into {card.input.height}x{card.input.width}
tiles overlapping by {card.tiling.overlap} px, feeds float32 `[N,1,{card.input.height},{card.input.width}]` =
raw / {card.input.scale:g}, then (x - {card.input.mean[0]:g}) / {card.input.std[0]:g}, and stitches the
`anomaly_map` outputs back. Inside the graph: {_input_steps(card, report)}a small
fully-convolutional segmenter ({_gmac(report)}), a sigmoid{_mirroring(report)}{_agreement(report)} a 3x3 average of the probability map
(`anomaly_map`, 1/4 of the tile size) and the tile `score` = max of its 5x5 average. An image's score
is the max over its tiles; it is flagged at `score >= {card.threshold}`; pixels at
`>= {card.pixel_threshold}` form regions.

**Training data.** {card.training_data} No real images were used: there are no public
datasets or weights for these devices, so every image comes from the procedural generator in
`models/generators/`, which draws the scene and adds device nuisances (line-scan speed stretch
and wobble, uneven lighting, detector stripes, blur, gamma, noise).

**Held-out evaluation** (`python -m models.evaluate {card.name} --write`, ONNX with onnxruntime,
tiled like the core): image AUROC **{m.image_auroc}**, pixel AUROC **{m.pixel_auroc}**
on {m.n_normal} normal and {m.n_anomalous} anomalous images. {m.held_out_set}

{_independent(card)}{_changes(report)}**Cost.** model.onnx is {size_mb:.2f} MB; {report.get("tile_ms")} ms per tile (onnxruntime, 2 CPU threads, batches
of 8, measured on a shared 2-core machine while other work was running). Training took
{report.get("train_seconds")} s ({report.get("steps")} steps){_generation(report)}.

**Limits.** Figures are for synthetic images that imitate the device, not for a real lane; a
site should check the false-positive rate on its own clean images and, where it differs, fit a
site model with `kouan model fit` or re-calibrate the threshold. The threshold targets a 2 %
false-positive rate on validation normals made with training-range nuisances; outside that
range (the held-out set) the false-positive rate at the same threshold is the FPR quoted above.
"""
    (folder / "README.md").write_text(text, encoding="utf-8")


def main() -> int:
    """python -m models.train.readme NAME...: rewrite README.md from card.json and training_report.json."""
    import json
    import sys

    from edge.inference.card import load_card

    models_dir = Path(__file__).resolve().parents[1]
    for name in sys.argv[1:]:
        folder = models_dir / name
        report = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
        write_readme(folder, load_card(folder), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
