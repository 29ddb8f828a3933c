"""``imagenet-resnet50``: ResNet-50 on ImageNet (ILSVRC-2012), Choi et al. 2019.

Data: ``data_dir/train/<wnid>/*.JPEG`` and ``data_dir/val/<wnid>/*.JPEG`` (the validation
images sorted into class folders, as most ImageNet tooling expects). The official validation
set is the test split; a fixed seeded hold-out of 10,000 training images is the validation
split; the training loss is measured on a fixed subset of 10,000 other training images.
Images stream from disk through a DataLoader (``loader_workers`` processes) and are never held
in memory; see :mod:`workloads.data.imagefolder` for the augmentation. Every random draw is
keyed by (seed, epoch, position), so a checkpoint saves the stream's position as the number of
batches taken, and data-parallel ranks each decode only their rows of a global batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._images import ImageWorkload
from .data.common import holdout
from .data.imagefolder import ImageDataset, ImageFiles, KeyedBatchStream, loader, scan
from .models import ResNet50

VAL_SIZE = 10_000


class ImagenetResnet50(ImageWorkload):
    name = "imagenet-resnet50"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "ResNet-50 v1.5 (25.6M params, batch norm) on ImageNet JPEGs, random-resized-crop 224, batch 1024"
    batch_size = 1024
    step_budget = 150_000
    eval_interval = 5_000
    target_value = 0.24
    """Validation error ~24% (Choi et al. 2019; unconfirmed)."""
    supports_bundling = False
    train_eval_size = 10_000
    eval_chunk = 250
    expected_files = ("train/*/*", "val/*/*")
    data_description = (
        "ImageNet ILSVRC-2012 as class-per-folder JPEG trees train/<wnid>/*.JPEG and val/<wnid>/*.JPEG; "
        "seeded 10,000-image validation hold-out from train, official val as test"
    )
    data_source = (
        "Get ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org (registration "
        "required), extract the per-class train tars into train/<wnid>/, and sort the validation images "
        "into val/<wnid>/ by their ground-truth labels."
    )
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(
        self, data_dir: str | Path | None = None, *, image_size: int = 224, loader_workers: int | None = None
    ) -> None:
        """``image_size`` shrinks the crops (evaluation resizes to ``image_size * 256 / 224``)
        for tests on a CPU; the model is the same ResNet-50. ``loader_workers`` decoding
        processes (default: up to 8, one core left free; 0 decodes in the training process)."""
        super().__init__(data_dir)
        self.image_size = int(image_size)
        self.resize = round(self.image_size * 256 / 224)
        self.loader_workers = (
            min(8, max(0, (os.cpu_count() or 1) - 1)) if loader_workers is None else int(loader_workers)
        )
        self.classes: list[str] = []
        self._device = torch.device("cpu")

    def load_splits(self) -> dict[str, ImageFiles]:
        assert self.data_dir is not None
        self.classes, train = scan(self.data_dir / "train")
        _, test = scan(self.data_dir / "val", self.classes)
        train_idx, val_idx = holdout(len(train), VAL_SIZE)
        return {"train": train.take(train_idx), "val": train.take(val_idx), "test": test}

    def data(self, device: torch.device) -> dict[str, Any]:
        self._device = torch.device(device)
        return super().data(device)

    def train_eval_split(self, train: ImageFiles) -> ImageFiles:
        size = self.train_eval_size
        if size is None or len(train) <= size:
            return train
        return train.take(np.sort(np.random.default_rng(0).permutation(len(train))[:size]))

    def build_model(self, seed: int) -> nn.Module:
        if not self.classes:  # the number of classes is that of the training tree
            self.check_data()
            assert self.data_dir is not None
            self.classes = sorted(d.name for d in os.scandir(self.data_dir / "train") if d.is_dir())
        torch.manual_seed(seed)
        return ResNet50(classes=len(self.classes))

    def _on_device(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A decoded batch (pinned memory on CUDA) copied without blocking, then normalised there."""
        x, y = batch
        dev = self._device
        return self._normalise(x.to(dev, non_blocking=True)), y.to(dev, non_blocking=True)

    @classmethod
    def shardable(cls) -> bool:
        return True  # every draw is keyed by (seed, epoch, position): a rank loads its rows only

    def train_batches(self, train: ImageFiles, seed: int, batch_size: int | None = None) -> KeyedBatchStream:
        """Decoded training batches whose position (batches taken) a checkpoint saves, and whose
        rows a data-parallel rank can keep (:class:`~workloads.data.imagefolder.KeyedBatchStream`)."""
        dataset = ImageDataset(train, self.image_size, self.resize)
        return KeyedBatchStream(
            dataset, int(batch_size or self.batch_size), seed, self.loader_workers, self._device.type == "cuda",
            self._on_device,
        )

    def eval_batches(self, split: ImageFiles, chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        keys = [list(range(s, min(s + chunk, len(split)))) for s in range(0, len(split), chunk)]
        dataset = ImageDataset(split, self.image_size, self.resize)
        return map(self._on_device, loader(dataset, keys, self.loader_workers, self._device.type == "cuda"))
