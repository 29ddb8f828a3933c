"""Shared loader of the CIFAR workloads (python pickle batches, uint8 in memory).

CIFAR-10 and CIFAR-100 have no validation split: a fixed seeded hold-out of 5,000 of the 50,000
training images is the validation split (train/val/test = 45,000/5,000/10,000). Training batches
are augmented with a random crop of the 4-pixel zero-padded image and a random horizontal flip;
all images are normalised with the per-channel mean and std of the training set.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from optcompare.errors import InputError

from ._images import ImageWorkload
from .base import Split
from .data.common import holdout
from .data.images import read_cifar_batch

VAL_SIZE = 5_000
NOMINAL_TRAIN = 50_000 - VAL_SIZE


def epochs_to_steps(epochs: int, batch_size: int) -> int:
    """Steps of ``epochs`` passes over the 45,000 training images (last partial batch dropped)."""
    return epochs * (NOMINAL_TRAIN // batch_size)


class CifarWorkload(ImageWorkload):
    folder: ClassVar[str]
    train_files: ClassVar[tuple[str, ...]]
    test_files: ClassVar[tuple[str, ...]]
    label_key: ClassVar[bytes]
    classes: ClassVar[int]
    crop_pad = 4
    supports_bundling = False

    def load_splits(self) -> dict[str, Split]:
        assert self.data_dir is not None
        root = self.data_dir / self.folder

        def read(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
            parts = []
            for n in names:
                images, labels = read_cifar_batch(root / n, self.label_key)
                bad = labels[(labels < 0) | (labels >= self.classes)]
                if len(bad):
                    raise InputError(
                        f"{root / n}: {len(bad)} label(s) outside 0..{self.classes - 1} (e.g. {int(bad[0])}) "
                        f"under {self.label_key!r}; is this the {self.folder} release of {self.name!r}'s data set?"
                    )
                parts.append((images, labels))
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

        x, y = read(self.train_files)
        x_test, y_test = read(self.test_files)
        train_idx, val_idx = holdout(len(y), VAL_SIZE)
        x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
        return {
            "train": Split(x_t[train_idx], y_t[train_idx]),
            "val": Split(x_t[val_idx], y_t[val_idx]),
            "test": Split(torch.from_numpy(x_test), torch.from_numpy(y_test)),
        }


def _paths(folder: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{folder}/{n}" for n in names)


class Cifar10Workload(CifarWorkload):
    folder = "cifar-10-batches-py"
    train_files = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
    test_files = ("test_batch",)
    label_key = b"labels"
    classes = 10
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    expected_files = _paths(folder, (*train_files, *test_files))
    data_description = "CIFAR-10 python version; seeded 5,000-image validation hold-out from train"
    data_source = (
        "Get cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
        "in data_dir (it creates cifar-10-batches-py/)."
    )


class Cifar100Workload(CifarWorkload):
    folder = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    label_key = b"fine_labels"
    classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    expected_files = _paths(folder, (*train_files, *test_files))
    data_description = "CIFAR-100 python version (fine labels); seeded 5,000-image validation hold-out from train"
    data_source = (
        "Get cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
        "in data_dir (it creates cifar-100-python/)."
    )
