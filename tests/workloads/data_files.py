"""Tiny data sets written in the real on-disk formats (IDX, CIFAR pickles, JPEG trees, text
shards), so every data workload can be trained a few steps on a CPU in seconds."""

from __future__ import annotations

import gzip
import itertools
import pickle
import struct
from pathlib import Path

import numpy as np

from workloads.tinytext_lstm import TEXT_PATH


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_fashion(root: Path, n_train: int = 64, n_test: int = 16) -> Path:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def _cifar_pickle(
    path: Path, n: int, classes: int, label_key: bytes, rng: np.random.Generator, *, python2: bool = False
) -> None:
    """One CIFAR batch file: as Python 2's cPickle wrote the real ones (``python2``), or with
    Python 3's pickle at protocol 2 (bytes then go through ``_codecs.encode``)."""
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(i % classes) for i in range(n)]
    if python2:
        path.write_bytes(python2_cifar_pickle(data, labels, label_key))
        return
    batch = {
        b"batch_label": b"synthetic",
        b"data": data,
        label_key: labels,
        b"filenames": [f"img{i}.png".encode() for i in range(n)],
    }
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)


def python2_cifar_pickle(data: np.ndarray, labels: list[int], label_key: bytes) -> bytes:
    """A CIFAR batch pickled as the real files were: by Python 2's cPickle at protocol 2.

    Written opcode by opcode, in cPickle's order: Python 2 ``str`` keys and values are
    ``SHORT_BINSTRING`` / ``BINSTRING`` (bytes when read with ``encoding="bytes"``), the uint8
    array is ``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')`` then ``BUILD``
    with numpy's state ``(1, shape, dtype('u1'), False, raw bytes)``, the dtype is
    ``numpy.dtype('u1', 0, 1)`` with its version-3 state, and objects are memoised with
    ``BINPUT`` / ``LONG_BINPUT`` as they are created.
    """
    out = bytearray()
    memo = itertools.count(1)

    def put() -> None:
        index = next(memo)
        out.extend(b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index))  # (LONG_)BINPUT

    def string(value: bytes) -> None:
        if len(value) < 256:
            out.extend(b"U" + bytes([len(value)]) + value)  # SHORT_BINSTRING
        else:
            out.extend(b"T" + struct.pack("<i", len(value)) + value)  # BINSTRING
        put()

    def integer(value: int) -> None:
        if 0 <= value < 256:
            out.extend(b"K" + bytes([value]))  # BININT1
        elif 0 <= value < 65536:
            out.extend(b"M" + struct.pack("<H", value))  # BININT2
        else:
            out.extend(b"J" + struct.pack("<i", value))  # BININT

    def raw(opcodes: bytes) -> None:
        out.extend(opcodes)

    rows, cols = data.shape
    raw(b"\x80\x02}")  # PROTO 2, EMPTY_DICT
    put()
    raw(b"(")  # MARK for SETITEMS
    string(b"data")
    raw(b"cnumpy.core.multiarray\n_reconstruct\n")
    put()
    raw(b"cnumpy\nndarray\n")
    put()
    integer(0)
    raw(b"\x85")  # TUPLE1: (0,)
    string(b"b")
    raw(b"\x87R")  # TUPLE3, REDUCE: _reconstruct(ndarray, (0,), 'b')
    put()
    raw(b"(")  # MARK of the array state
    integer(1)
    integer(rows)
    integer(cols)
    raw(b"\x86cnumpy\ndtype\n")  # TUPLE2 (the shape), GLOBAL numpy.dtype
    put()
    string(b"u1")
    integer(0)
    integer(1)
    raw(b"\x87R")  # dtype('u1', 0, 1)
    put()
    raw(b"(")
    integer(3)
    string(b"|")
    raw(b"NNN" + b"J\xff\xff\xff\xff" * 2)
    integer(0)
    raw(b"tb")  # dtype state (3, '|', None, None, None, -1, -1, 0), BUILD
    raw(b"\x89")  # NEWFALSE: not Fortran order
    string(np.ascontiguousarray(data, dtype=np.uint8).tobytes())
    raw(b"tb")  # array state tuple, BUILD
    string(label_key)
    raw(b"]")
    put()
    raw(b"(")
    for value in labels:
        integer(int(value))
    raw(b"e")  # APPENDS
    string(b"batch_label")
    string(b"training batch 1 of 5")
    string(b"filenames")
    raw(b"]")
    put()
    raw(b"(")
    for i in range(rows):
        string(f"img_{i}.png".encode())
    raw(b"e")
    raw(b"u.")  # SETITEMS, STOP
    return bytes(out)


def write_cifar10(root: Path, per_batch: int = 13, n_test: int = 16) -> Path:
    """CIFAR-10 in Python 2 pickles, as distributed (CIFAR-100 below uses Python 3 pickles, so
    that both encodings of bytes are exercised)."""
    rng = np.random.default_rng(2)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        _cifar_pickle(folder / f"data_batch_{i}", per_batch, 10, b"labels", rng, python2=True)
    _cifar_pickle(folder / "test_batch", n_test, 10, b"labels", rng, python2=True)
    return root


def write_cifar100(root: Path, n_train: int = 64, n_test: int = 16) -> Path:
    rng = np.random.default_rng(3)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    _cifar_pickle(folder / "train", n_train, 100, b"fine_labels", rng)
    _cifar_pickle(folder / "test", n_test, 100, b"fine_labels", rng)
    return root


def write_imagenet(root: Path, per_class: int = 12, val_per_class: int = 3) -> Path:
    from PIL import Image

    rng = np.random.default_rng(4)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for wnid in ("n01440764", "n01443537"):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                h, w = int(rng.integers(40, 72)), int(rng.integers(40, 72))
                pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{k}.JPEG", format="JPEG", quality=80)
    return root


def write_warpeace(root: Path, chars: int = 12_000) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "war_and_peace.txt").write_text(TEXT_PATH.read_text(encoding="utf-8")[:chars], encoding="utf-8")
    return root


def write_lm1b(root: Path, train_lines: int = 40, heldout_lines: int = 8) -> Path:
    rng = np.random.default_rng(5)
    words = TEXT_PATH.read_text(encoding="utf-8").split()

    def sentences(n: int) -> str:
        return "".join(" ".join(rng.choice(words, int(rng.integers(4, 16)))) + " .\n" for _ in range(n))

    train = root / "training-monolingual.tokenized.shuffled"
    held = root / "heldout-monolingual.tokenized.shuffled"
    train.mkdir(parents=True, exist_ok=True)
    held.mkdir(parents=True, exist_ok=True)
    for i in (1, 2):
        (train / f"news.en-{i:05d}-of-00100").write_text(sentences(train_lines), encoding="utf-8")
    for i in (0, 1):
        (held / f"news.en.heldout-{i:05d}-of-00050").write_text(sentences(heldout_lines), encoding="utf-8")
    return root


WRITERS = {
    "fashion-mnist-cnn": write_fashion,
    "cifar10-resnet32": write_cifar10,
    "cifar10-vgg16": write_cifar10,
    "cifar100-cnn": write_cifar100,
    "imagenet-resnet50": write_imagenet,
    "warpeace-lstm": write_warpeace,
    "lm1b-transformer": write_lm1b,
}
"""Data workload name -> writer of its tiny data set."""

OPTIONS = {
    "imagenet-resnet50": {"image_size": 32, "loader_workers": 0},
    "lm1b-transformer": {"seq_len": 16, "vocab_size": 400},
}
"""Constructor options that keep a CPU test fast (smaller crops, shorter context, small BPE)."""
