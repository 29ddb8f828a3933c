"""``fashion-mnist-cnn``: the simple CNN on Fashion-MNIST (Choi et al. 2019).

Data: the four IDX files of Fashion-MNIST in ``data_dir`` (``.gz`` as distributed, or
decompressed). Fashion-MNIST has no validation split: a fixed seeded hold-out of 10,000 of the
60,000 training images is the validation split (train/val/test = 50,000/10,000/10,000); the
official test set is the test split. No augmentation.
"""

from __future__ import annotations

import torch
from torch import nn

from optcompare.errors import InputError

from ._images import ImageWorkload
from .base import Split
from .data.common import holdout
from .data.images import find_idx, read_idx
from .models import SimpleCnn

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
VAL_SIZE = 10_000
CLASSES = 10


class FashionMnistCnn(ImageWorkload):
    name = "fashion-mnist-cnn"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "simple CNN (conv32-conv64-fc1024, 3.3M params) on Fashion-MNIST, batch 256"
    batch_size = 256
    step_budget = 10_000
    eval_interval = 500
    target_value = 0.066
    """Validation error ~6.6% (Choi et al. 2019; unconfirmed)."""
    expected_files = tuple(f"{stem}.gz" for pair in FILES.values() for stem in pair)
    data_description = "Fashion-MNIST IDX files; seeded 10,000-image validation hold-out from train"
    data_source = (
        "Get them from https://github.com/zalandoresearch/fashion-mnist (data/fashion) and put the "
        "four files directly in data_dir (gzip-compressed or not)."
    )
    mean = (0.2860,)
    std = (0.3530,)

    def check_data(self) -> None:
        # Accept the decompressed files as well as the .gz ones.
        if self.data_dir is not None and self.data_dir.is_dir() and all(
            (self.data_dir / f"{stem}.gz").exists() or (self.data_dir / stem).exists()
            for pair in FILES.values() for stem in pair
        ):
            return
        super().check_data()

    def load_splits(self) -> dict[str, Split]:
        assert self.data_dir is not None
        arrays = {}
        for split, (images, labels) in FILES.items():
            image_path, label_path = find_idx(self.data_dir, images), find_idx(self.data_dir, labels)
            x = read_idx(image_path)
            y = read_idx(label_path).astype("int64")
            if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
                raise InputError(
                    f"{image_path} has shape {x.shape} and {label_path} has shape {y.shape}: expected "
                    "N 28x28 images (N, 28, 28) and N labels (N,); check that both files are Fashion-MNIST's"
                )
            bad = y[(y < 0) | (y >= CLASSES)]
            if len(bad):
                raise InputError(
                    f"{label_path}: {len(bad)} label(s) outside 0..{CLASSES - 1} (e.g. {int(bad[0])}); "
                    "is it a Fashion-MNIST labels file?"
                )
            arrays[split] = (torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y))
        train_x, train_y = arrays["train"]
        train_idx, val_idx = holdout(len(train_y), VAL_SIZE)
        return {
            "train": Split(train_x[train_idx], train_y[train_idx]),
            "val": Split(train_x[val_idx], train_y[val_idx]),
            "test": Split(*arrays["test"]),
        }

    def build_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return SimpleCnn(in_channels=1, size=28, classes=CLASSES)
