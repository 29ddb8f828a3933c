"""MNIST-1D generated offline with ``mnist1d.data.make_dataset`` and cached as ``.npz``.

The canonical data set (default arguments: 5000 samples, seed 42, 4000 train / 1000 test) is
generated locally; the package's download path is never used. The last 1000 of the 4000
training examples become the validation split, so train/val/test = 3000/1000/1000.
Generation takes several seconds, so the arrays are cached under ``cache_dir`` (default
``$OPTCOMPARE_CACHE`` or ``~/.cache/optcompare``); concurrent processes serialise on a file lock
and the cache file appears atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .common import default_cache_dir, file_lock

VAL_SIZE = 1000
CACHE_NAME = "mnist1d-default-v1.npz"


def _generate() -> dict[str, np.ndarray]:
    os.environ.setdefault("MPLBACKEND", "Agg")  # mnist1d.utils imports pyplot
    from mnist1d.data import get_dataset_args, make_dataset

    raw = make_dataset(get_dataset_args())
    x = raw["x"].astype(np.float32)
    y = raw["y"].astype(np.int64)
    return {
        "x_train": x[:-VAL_SIZE],
        "y_train": y[:-VAL_SIZE],
        "x_val": x[-VAL_SIZE:],
        "y_val": y[-VAL_SIZE:],
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }


def load_mnist1d(cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Arrays ``x_train y_train x_val y_val x_test y_test`` (float32 inputs of length 40)."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CACHE_NAME
    if not path.exists():
        with file_lock(directory / (CACHE_NAME + ".lock")):
            if not path.exists():
                arrays = _generate()
                tmp = directory / f".{CACHE_NAME}.{os.getpid()}.tmp"
                with open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)  # type: ignore[arg-type]  # mypy: **arrays might fill allow_pickle
                os.replace(tmp, path)
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}
