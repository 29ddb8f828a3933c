"""Class-per-folder JPEG trees (ImageNet layout) streamed from disk.

``root/<class>/*.JPEG``: the classes are the sorted folder names of the training tree. Images
are decoded with PIL one at a time (in DataLoader worker processes when ``workers > 0``), never
all held in memory. Paths are stored in one byte buffer with offsets, so forked workers share
them without copying (a Python list of a million strings would be copied page by page as its
reference counts change).

Augmentation follows the standard ImageNet recipe (torchvision's defaults):
training: random resized crop (scale 0.08-1, aspect 3/4-4/3, 10 tries then a centre crop) to
``size`` x ``size`` with bilinear resampling, then a horizontal flip with probability 1/2;
evaluation: resize the shorter side to ``resize`` (256 for 224), then a centre crop of ``size``.
Every random draw of a training sample comes from ``numpy.random.default_rng([seed, epoch,
position])``, so batches are the same whatever the number of workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from optcompare.errors import InputError

from ..parallel import rank_rows

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class ImageFiles:
    """Image paths (relative to ``root``) and integer labels."""

    root: str
    blob: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_lists(cls, root: Path, paths: list[str], labels: list[int] | np.ndarray) -> ImageFiles:
        encoded = [p.encode() for p in paths]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        blob = np.frombuffer(b"".join(encoded), np.uint8) if encoded else np.zeros(0, np.uint8)
        return cls(str(root), blob, offsets, np.asarray(labels, np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> str:
        rel = self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes().decode()
        return os.path.join(self.root, rel)

    def take(self, index: torch.Tensor | np.ndarray) -> ImageFiles:
        index = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, np.int64)
        paths = [self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes().decode() for i in index]
        return ImageFiles.from_lists(Path(self.root), paths, self.labels[index])


def scan(root: Path, classes: list[str] | None = None) -> tuple[list[str], ImageFiles]:
    """``(classes, files)`` of a class-per-folder tree; ``classes`` fixes the label order."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    found = sorted(d.name for d in os.scandir(root) if d.is_dir())
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise InputError(f"{root}: class folders not in the training tree: {', '.join(unknown[:5])}")
    index = {c: i for i, c in enumerate(classes)}
    paths: list[str] = []
    labels: list[int] = []
    for name in found:
        entries = sorted(
            e.name for e in os.scandir(root / name) if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES)
        )
        paths += [f"{name}/{e}" for e in entries]
        labels += [index[name]] * len(entries)
    if not paths:
        raise InputError(f"{root}: no images (*.JPEG) in any class folder")
    return classes, ImageFiles.from_lists(root, paths, labels)


def random_resized_crop_box(
    width: int, height: int, rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of a random crop of area fraction in ``scale`` and aspect
    ratio in ``ratio`` (log-uniform), as torchvision's ``RandomResizedCrop``."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class ImageDataset(torch.utils.data.Dataset):
    """Decodes one image per item into a uint8 ``(3, size, size)`` tensor.

    A training item key is ``(index, seed, epoch, position)``; an evaluation key is an index.
    """

    def __init__(self, files: ImageFiles, size: int, resize: int) -> None:
        self.files = files
        self.size = size
        self.resize = resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int | tuple[int, int, int, int]) -> tuple[torch.Tensor, int]:
        from PIL import Image

        index = key[0] if isinstance(key, tuple) else key
        path = self.files.path(index)
        try:
            with Image.open(path) as raw:
                img = raw.convert("RGB")
        except OSError as exc:
            raise InputError(f"{path}: cannot decode image ({exc})") from exc
        if isinstance(key, tuple):
            rng = np.random.default_rng(list(key[1:]))
            box = random_resized_crop_box(img.width, img.height, rng)
            img = img.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            scale = self.resize / min(img.width, img.height)
            w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
            img = img.resize((w, h), Image.Resampling.BILINEAR)
            left, top = (w - self.size) // 2, (h - self.size) // 2
            img = img.crop((left, top, left + self.size, top + self.size))
        array = np.asarray(img, dtype=np.uint8)
        return torch.from_numpy(array.copy()).permute(2, 0, 1), int(self.files.labels[index])


class EpochBatches:
    """Endless training batch keys: each epoch a permutation from ``default_rng([seed, epoch])``;
    the last incomplete batch of an epoch is dropped. ``start`` skips that many batches (a
    restored position); ``rows`` keeps only those rows of each global batch (a data-parallel
    rank's shard). Since every draw is keyed by (seed, epoch, position), both are exact."""

    def __init__(self, n: int, batch_size: int, seed: int, *, start: int = 0, rows: slice = slice(None)) -> None:
        if n // batch_size == 0:
            raise InputError(
                f"train split has {n} images, fewer than batch_size={batch_size}; use a batch size of at most {n}"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.rows = int(start), rows

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int]]]:
        per_epoch = self.n // self.batch_size
        epoch, first = divmod(self.start, per_epoch)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for start in range(first * self.batch_size, self.n - self.batch_size + 1, self.batch_size):
                keys = [(int(order[p]), self.seed, epoch, p) for p in range(start, start + self.batch_size)]
                yield keys[self.rows]
            epoch, first = epoch + 1, 0


class KeyedBatchStream:
    """The training minibatches of a streamed image set (a DataLoader over :class:`EpochBatches`)
    with a position that can be saved: the number of batches the training loop has taken (the
    loader's prefetched batches do not count). :meth:`load_state_dict` rebuilds the loader from
    that batch; :meth:`shard` keeps a data-parallel rank's rows of each global batch. The loader
    is started at the first batch, so a restored or sharded stream starts only one."""

    def __init__(
        self, dataset: ImageDataset, batch_size: int, seed: int, workers: int, pin_memory: bool,
        to_device: Callable[[tuple[torch.Tensor, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        EpochBatches(len(dataset), batch_size, seed)  # the check of the batch size, at once
        self.dataset, self.batch_size, self.seed = dataset, int(batch_size), int(seed)
        self.workers, self.pin_memory, self.to_device = workers, pin_memory, to_device
        self.taken = 0
        self.rows = slice(None)
        self._batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    def __iter__(self) -> KeyedBatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._batches is None:
            sampler = EpochBatches(len(self.dataset), self.batch_size, self.seed, start=self.taken, rows=self.rows)
            self._batches = iter(loader(self.dataset, sampler, self.workers, self.pin_memory))
        batch = next(self._batches)
        self.taken += 1
        return self.to_device(batch)

    def shard(self, rank: int, world: int) -> KeyedBatchStream:
        self.rows = rank_rows(self.batch_size, rank, world, "images")
        self._batches = None
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"taken": self.taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.taken = int(state["taken"])
        self._batches = None  # the loader restarts at the restored batch


class _LoaderOptions(TypedDict, total=False):
    """The DataLoader options :func:`loader` sets."""

    num_workers: int
    pin_memory: bool
    prefetch_factor: int


def loader(
    dataset: ImageDataset, batch_sampler: Iterable[list[Any]], workers: int, pin_memory: bool
) -> torch.utils.data.DataLoader:
    kwargs: _LoaderOptions = {"num_workers": workers, "pin_memory": pin_memory}
    if workers > 0:
        kwargs["prefetch_factor"] = 4
    return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)
