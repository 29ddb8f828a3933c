"""Shared loader of the CIFAR workloads (python pickle batches, uint8 in memory).

CIFAR-10 and CIFAR-100 have no validation split: a fixed seeded hold-out of 5,000 of the 50,000
training images is the validation split (train/val/test = 45,000/5,000/10,000). Training batches
are augmented with a random crop of the 4-pixel zero-padded image and a random horizontal flip;
all images are normalised with the per-channel mean and std of the training set.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class CifarRelease:
    """One CIFAR "python version" release: the archive, the folder it extracts to, its batch
    files, the key of its labels, its number of classes, the per-channel mean and std of its
    training images, and how the workloads split it."""

    archive: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: bytes
    classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    data_description: str

    @property
    def expected_files(self) -> tuple[str, ...]:
        return tuple(f"{self.folder}/{n}" for n in (*self.train_files, *self.test_files))

    @property
    def data_source(self) -> str:
        return (
            f"Get {self.archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it in data_dir "
            f"(it creates {self.folder}/)."
        )


CIFAR10 = CifarRelease(
    "cifar-10-python.tar.gz", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
    b"labels", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
    "CIFAR-10 python version; seeded 5,000-image validation hold-out from train",
)
CIFAR100 = CifarRelease(
    "cifar-100-python.tar.gz", "cifar-100-python", ("train",), ("test",),
    b"fine_labels", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
    "CIFAR-100 python version (fine labels); seeded 5,000-image validation hold-out from train",
)


class CifarWorkload(ImageWorkload):
    """A CIFAR workload: a subclass sets :attr:`release`, from which its normalisation, expected
    files and data description are taken when the subclass is defined."""

    release: ClassVar[CifarRelease]
    crop_pad = 4
    supports_bundling = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        release = vars(cls).get("release")
        if release is not None:
            cls.mean, cls.std = release.mean, release.std
            cls.expected_files, cls.data_source = release.expected_files, release.data_source
            cls.data_description = release.data_description
        super().__init_subclass__(**kwargs)

    def load_splits(self) -> dict[str, Split]:
        assert self.data_dir is not None
        release = self.release
        root = self.data_dir / release.folder

        def read(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
            parts = []
            for n in names:
                images, labels = read_cifar_batch(root / n, release.label_key)
                bad = labels[(labels < 0) | (labels >= release.classes)]
                if len(bad):
                    raise InputError(
                        f"{root / n}: {len(bad)} label(s) outside 0..{release.classes - 1} (e.g. {int(bad[0])}) "
                        f"under {release.label_key!r}; is this the {release.folder} release of {self.name!r}'s "
                        "data set?"
                    )
                parts.append((images, labels))
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

        x, y = read(release.train_files)
        x_test, y_test = read(release.test_files)
        train_idx, val_idx = holdout(len(y), VAL_SIZE)
        x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
        return {
            "train": Split(x_t[train_idx], y_t[train_idx]),
            "val": Split(x_t[val_idx], y_t[val_idx]),
            "test": Split(torch.from_numpy(x_test), torch.from_numpy(y_test)),
        }


class Cifar10Workload(CifarWorkload):
    release = CIFAR10


class Cifar100Workload(CifarWorkload):
    release = CIFAR100
