"""Image data in standard on-disk formats, read with numpy only.

- IDX (MNIST, Fashion-MNIST): ``train-images-idx3-ubyte.gz`` etc., gzip-compressed or not.
- CIFAR-10 / CIFAR-100 "python version": pickled dicts with ``b"data"`` (N x 3072 uint8,
  channel-major) and ``b"labels"`` / ``b"fine_labels"``. Unpickling is restricted to the
  numpy types these files contain, so a data directory cannot run code.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optcompare.errors import InputError

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

_IDX_TYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (``.gz`` is decompressed). InputError if malformed."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise InputError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims, dtype=np.int64))
    body = raw[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise InputError(f"{path}: IDX header says {dims} but the file holds {len(body)} bytes of data")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def find_idx(directory: Path, stem: str) -> Path:
    """``stem.gz`` or ``stem`` under ``directory`` (the first that exists)."""
    for name in (f"{stem}.gz", stem):
        if (directory / name).exists():
            return directory / name
    raise InputError(f"{directory}: missing {stem}.gz")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 from one CIFAR pickle."""
    try:
        with open(path, "rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise InputError(f"{path}: cannot read CIFAR python batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise InputError(f"{path}: not a CIFAR python batch (needs keys b'data' and {label_key!r})")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise InputError(f"{path}: expected data of shape (N, 3072) and N labels, got {data.shape}, {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels
