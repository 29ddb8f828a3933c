"""Shared pieces of the character-level language-model workloads."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import Split, Workload
from .data.text import char_vocab, encode, windows
from .models import CharLstm


@dataclass(frozen=True)
class LstmSize:
    """The sizes of a :class:`~workloads.models.CharLstm`: embedding width, hidden width, number
    of LSTM layers and dropout rate."""

    embed: int
    hidden: int
    layers: int
    dropout: float


class CharLmWorkload(Workload):
    """A character LSTM on one text, split into contiguous blocks by fractions of its length.

    Error is the next-character error rate and loss the mean cross-entropy per character, over
    every position of the split (windows of :attr:`seq_len`, each from a zero state). The
    vocabulary is the set of characters of the whole text.
    """

    seq_len: ClassVar[int]
    split_fractions: ClassVar[tuple[float, float, float]]
    """Fractions of the text (in order) for train, val and test."""
    lstm: ClassVar[LstmSize]
    eval_chunk = 512
    supports_bundling = False  # nn.LSTM has no vmap batching rule: vmap loops over the trials

    _vocab: list[str] | None = None

    @abstractmethod
    def read_text(self) -> str:
        """The whole text (read or shipped); subclasses say where it comes from."""

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = char_vocab(self.read_text())
        return self._vocab

    def load_splits(self) -> dict[str, Split]:
        text = self.read_text()
        self._vocab = char_vocab(text)
        ids = encode(text, self._vocab)
        bounds = [0]
        for fraction in self.split_fractions:
            bounds.append(bounds[-1] + round(fraction * len(ids)))
        bounds[-1] = len(ids)
        out = {}
        for name, lo, hi in zip(self.splits, bounds, bounds[1:], strict=False):
            x, y = windows(ids[lo:hi], self.seq_len)
            out[name] = Split(torch.from_numpy(x), torch.from_numpy(y))
        return out

    def build_model(self, seed: int) -> nn.Module:
        vocab = len(self.vocab)
        torch.manual_seed(seed)
        size = self.lstm
        return CharLstm(vocab, size.embed, size.hidden, size.layers, size.dropout)
