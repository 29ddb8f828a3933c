"""Character-level text data: vocabulary, encoding and fixed-length windows."""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100
"""Target value of padding positions: no loss, not counted in error or loss (``F.cross_entropy``'s
default ``ignore_index``)."""


def char_vocab(text: str) -> list[str]:
    """The sorted distinct characters of ``text`` (the model's vocabulary)."""
    return sorted(set(text))


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Character ids of ``text`` (int64); every character must be in ``vocab``."""
    table = {ch: i for i, ch in enumerate(vocab)}
    return np.fromiter((table[ch] for ch in text), dtype=np.int64, count=len(text))


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping next-token windows covering every prediction in ``ids``.

    ``x[i] = ids[i*T : i*T + T]`` and ``y[i] = ids[i*T + 1 : i*T + T + 1]``; the last window
    is padded (inputs with 0, targets with ``IGNORE_INDEX``) so that all ``len(ids) - 1``
    predictions are scored exactly once. Shapes ``(N, T)``, int64.
    """
    ids = np.asarray(ids, dtype=np.int64)
    predictions = len(ids) - 1
    if predictions < 1:
        return np.zeros((0, seq_len), np.int64), np.zeros((0, seq_len), np.int64)
    n = -(-predictions // seq_len)
    x = np.zeros(n * seq_len, np.int64)
    y = np.full(n * seq_len, IGNORE_INDEX, np.int64)
    x[:predictions] = ids[:-1]
    y[:predictions] = ids[1:]
    return x.reshape(n, seq_len), y.reshape(n, seq_len)
