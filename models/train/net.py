"""The small fully-convolutional anomaly segmenter shared by the shipped models, and its
export wrapper that puts pre-processing, sigmoid, smoothing and the image score in the graph.

Encoder to 1/8 resolution with dilated context, one skip back to 1/4; the anomaly map is
produced at 1/4 of the tile size (the card's output contract allows a smaller map).
About 0.2 GMAC per 256x256 tile at width 32 (convolutions; cost grows with the width squared).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AnomalySegmenter(nn.Module):
    """Input: normalised [N, C, H, W]; output: anomaly logits [N, 1, H/4, W/4]."""

    def __init__(self, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(_block(in_channels, w // 2, stride=2), _block(w // 2, w, stride=2), _block(w, w))
        self.down = nn.Sequential(_block(w, 2 * w, stride=2), _block(2 * w, 2 * w, dilation=2), _block(2 * w, 2 * w, dilation=4))
        self.fuse = nn.Sequential(
            nn.Conv2d(3 * w, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), _block(w, w)
        )
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s4 = self.stem(x)
        s8 = self.down(s4)
        up = F.interpolate(s8, size=s4.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([s4, up], 1)))


class LocalContrastNorm(nn.Module):
    """Per-tile local contrast normalisation with fixed weights: (v - blur(v)) / sqrt(blur(r^2) + eps).

    blur = average over `factor` x `factor` cells, two passes of a `size`-cell box filter on that
    grid (borders average over valid cells only), bilinear upsampling back: about a Gaussian of
    sigma 16 px for factor 8, size 5, at a fraction of the cost of a full-resolution filter.
    It cancels smooth illumination / flat-field errors (additive in the log domain,
    multiplicative otherwise) and local gain and gamma changes, so the network sees the same
    input under harsher device conditions. Tile sides must be multiples of `factor`.
    """

    def __init__(self, factor: int = 8, size: int = 5, eps: float = 1e-3) -> None:
        super().__init__()
        self.factor = factor
        self.size = size
        self.eps = eps

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        small = F.avg_pool2d(x, self.factor)
        for _ in range(2):
            small = F.avg_pool2d(small, self.size, stride=1, padding=self.size // 2, count_include_pad=False)
        return F.interpolate(small, scale_factor=float(self.factor), mode="bilinear", align_corners=False)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        r = v - self.blur(v)
        return r / torch.sqrt(self.blur(r * r) + self.eps)


class FixedBlur(nn.Module):
    """Separable Gaussian blur with fixed weights and reflected borders (no learnt parameters).

    Put before the normalisation so the network never sees detail finer than `sigma`: devices
    blur by different amounts (optics, motion, the core's anti-aliased resize), and a network
    that sees only pre-blurred input cannot learn edge sharpness as a cue for "foreign object".
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.radius = max(1, int(math.ceil(3 * sigma)))
        t = torch.arange(-self.radius, self.radius + 1, dtype=torch.float32)
        k = torch.exp(-t * t / (2 * sigma * sigma))
        self.register_buffer("kernel", (k / k.sum()).view(1, 1, 1, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.radius
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), self.kernel)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), self.kernel.transpose(2, 3))


class ExportWrapper(nn.Module):
    """What goes into model.onnx: optional log transform, net, sigmoid, smoothing, score.

    Input is what the core feeds: raw / scale, then (x - card.mean) / card.std. With
    `log_input` (transmission X-ray) the card's mean/std are 0/1 and the graph itself turns
    transmission into attenuation, -log(x), and normalises it with `log_mean`/`log_std`.
    With `local_norm` the graph instead undoes the card's normalisation (x * in_std + in_mean =
    fraction of full scale), takes -log for transmission inputs (clamped at `floor`) and applies
    `LocalContrastNorm`; the same code runs in training, so torch and ONNX see identical inputs.
    With `scales` the tile is also seen smaller (e.g. 0.75 of its size: blurred, shrunk, normalised,
    mirrored like the full-size copy) and its map, brought back to size, enters the same per-pixel
    minimum: a response must hold at every scale too. `partners` are other wrappers (other
    segmenters, e.g. trained with another pre-blur) fed the same input; their maps enter the
    minimum as well, so a pixel is only as anomalous as the least convinced model says.
    Outputs: `score` [N] = max of the 5x5-averaged map, leaving out `score_margin` map pixels at
    the tile border (set to half the tiling overlap, so every pixel is still scored by some tile
    except a thin band at the image border); `anomaly_map` [N, 1, H/4, W/4] in [0, 1].
    """

    def __init__(self, net: AnomalySegmenter, log_input: bool = False, log_mean: float = 0.0,
                 log_std: float = 1.0, score_margin: int = 0, local_norm: bool = False, in_mean: float = 0.0,
                 in_std: float = 1.0, floor: float = 1e-4, lcn_eps: float = 1e-3, lcn_factor: int = 8,
                 lcn_size: int = 5, preblur: float = 0.0, flips: int = 1, flip_combine: str = "mean",
                 scales: tuple[float, ...] = (), partners: Sequence["ExportWrapper"] = ()) -> None:
        super().__init__()
        if flips not in (1, 2, 4):
            raise ValueError(f"flips must be 1, 2 or 4, not {flips}")
        if flip_combine not in ("mean", "min"):
            raise ValueError(f"flip_combine must be 'mean' or 'min', not {flip_combine!r}")
        if scales and not (local_norm and preblur > 0):
            raise ValueError("scales need the local-norm input with a pre-blur (it is what keeps the smaller copy alias-free)")
        self.flips = flips
        self.flip_combine = flip_combine
        self.scales = tuple(scales)
        # the smaller copy is blurred as much as an image resized to that scale, then blurred by
        # `preblur`, would be: preblur / scale at the tile's own resolution
        self.scale_blurs = nn.ModuleList([FixedBlur(preblur / sc) for sc in self.scales])
        self.partners = nn.ModuleList(partners)
        self.local_norm = local_norm
        self.in_mean = in_mean
        self.in_std = in_std
        self.floor = floor
        self.lcn = LocalContrastNorm(factor=lcn_factor, size=lcn_size, eps=lcn_eps)
        self.blur = FixedBlur(preblur) if preblur > 0 else None
        self.net = net
        self.score_margin = score_margin
        self.log_input = log_input
        self.log_mean = log_mean
        self.log_std = log_std

    def normalise(self, v: torch.Tensor) -> torch.Tensor:
        """Local-norm input from a blurred fraction of full scale: -log for transmission, then LCN."""
        if self.log_input:
            v = -torch.log(torch.clamp(v, min=self.floor))
        return self.lcn(v)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.local_norm:
            v = x * self.in_std + self.in_mean
            if self.blur is not None:
                v = self.blur(v)
            return self.normalise(v)
        if self.log_input:
            x = (-torch.log(torch.clamp(x, min=1e-4)) - self.log_mean) / self.log_std
        return x

    def probability(self, z: torch.Tensor) -> torch.Tensor:
        """Anomaly probability of the prepared input. With `flips` > 1 the segmenter also sees
        mirrored copies (left-right, then up-down and both; one batch) and each map is mirrored
        back; `flip_combine` "mean" averages them, "min" keeps a pixel only as high as its least
        convinced copy, so a response tied to one orientation of the scene does not count."""
        if self.flips == 1:
            return torch.sigmoid(self.net(z))
        dims: list[tuple[int, ...]] = [(-1,), (-2,), (-2, -1)][: self.flips - 1]
        batch = torch.cat([z] + [torch.flip(z, d) for d in dims], 0)
        logits = self.net(batch)
        prob = torch.sigmoid(logits).reshape(self.flips, -1, *logits.shape[1:])
        views = [prob[0]] + [torch.flip(prob[i], d) for i, d in enumerate(dims, start=1)]
        if self.flip_combine == "min":
            out = views[0]
            for view in views[1:]:
                out = torch.minimum(out, view)
            return out
        return torch.stack(views).mean(0)

    def scaled_probability(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Probability map of the tile seen at `scales[index]` of its size, brought back to the
        size of the full-scale map. Tile sides times the scale must be multiples of the LCN cell."""
        sc = self.scales[index]
        v = self.scale_blurs[index](x * self.in_std + self.in_mean)
        h, w = int(x.shape[-2]), int(x.shape[-1])  # fixed when exported: the card fixes the tile size
        v = F.interpolate(v, size=(round(h * sc), round(w * sc)), mode="bilinear", align_corners=False)
        prob = self.probability(self.normalise(v))
        return F.interpolate(prob, size=(h // 4, w // 4), mode="bilinear", align_corners=False)

    def combined_probability(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel minimum of the full-size map, the scaled copies' and the partners'."""
        prob = self.probability(self.prepare(x))
        for i in range(len(self.scales)):
            prob = torch.minimum(prob, self.scaled_probability(x, i))
        for partner in self.partners:
            prob = torch.minimum(prob, partner.combined_probability(x))
        return prob

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = self.combined_probability(x)
        amap = F.avg_pool2d(prob, 3, stride=1, padding=1, count_include_pad=False)
        pooled = F.avg_pool2d(prob, 5, stride=1, padding=2, count_include_pad=False)
        m = self.score_margin
        if m > 0:  # tile borders lack context; neighbouring tiles overlap and score those pixels
            pooled = pooled[:, :, m:-m, m:-m]
        score = torch.amax(pooled, dim=(1, 2, 3))
        return score, amap


def freeze_batchnorm(module: nn.Module) -> None:
    """Keep every batch norm in eval mode (running statistics fixed) while the rest trains:
    for fine-tuning a segmenter recovered from an exported graph, whose statistics are folded."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
