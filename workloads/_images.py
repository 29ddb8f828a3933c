"""Shared pieces of the in-memory image workloads: normalisation and on-device augmentation."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.nn import functional as F  # noqa: N812

from .base import Workload


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    """Per-image random ``pad``-pixel-padded crop back to the input size and random horizontal
    flip (the standard CIFAR augmentation), for a ``(B, C, H, W)`` batch on any device.

    Offsets and flips are drawn from ``generator`` on its device (the data's: a training stream
    keeps its augmentation generator where the data set lives, :class:`~workloads.batches.BatchStream`),
    so on CUDA a step copies nothing from the host; the gather runs on ``x``'s device. Padding is
    zeros, as torchvision's ``RandomCrop(padding=pad)`` before normalising. (CPU and CUDA
    generators are different streams: the same seed augments differently on the two devices,
    and identically on each.)
    """
    b, c, h, w = x.shape
    gen_dev = generator.device
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=gen_dev)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=gen_dev)
    flip = torch.rand(b, 1, generator=generator, device=gen_dev) < 0.5
    rows = dy + torch.arange(h, device=gen_dev)
    cols = dx + torch.arange(w, device=gen_dev)
    cols = torch.where(flip, cols.flip(1), cols)
    dev = x.device
    rows, cols = rows.to(dev, non_blocking=True), cols.to(dev, non_blocking=True)
    padded = F.pad(x, (pad, pad, pad, pad))
    return padded[
        torch.arange(b, device=dev)[:, None, None, None],
        torch.arange(c, device=dev)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


class ImageWorkload(Workload):
    """Images held in memory as uint8 ``(N, C, H, W)``; normalised per channel on the device
    (``(x / 255 - mean) / std``), with optional pad-and-crop plus flip augmentation."""

    mean: ClassVar[tuple[float, ...]]
    std: ClassVar[tuple[float, ...]]
    crop_pad: ClassVar[int] = 0
    """Pixels of padding for random-crop + flip augmentation of training batches (0: none)."""
    eval_chunk = 1000

    _norm: tuple[torch.Tensor, torch.Tensor] | None = None

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        norm = self._norm
        if norm is None or norm[0].device != x.device:
            scale = torch.tensor([1.0 / (255.0 * s) for s in self.std], device=x.device)
            shift = torch.tensor([m / s for m, s in zip(self.mean, self.std, strict=True)], device=x.device)
            norm = self._norm = (scale.view(1, -1, 1, 1), shift.view(1, -1, 1, 1))
        return x.float() * norm[0] - norm[1]

    def eval_transform(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalise(x)

    def train_transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop_pad:
            x = random_crop_flip(x, generator, self.crop_pad)
        return self._normalise(x)
