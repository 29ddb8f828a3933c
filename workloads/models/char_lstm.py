"""Character-level LSTM language model."""

from __future__ import annotations

import torch
from torch import nn


class CharLstm(nn.Module):
    """embedding -> dropout -> ``layers``-layer LSTM (dropout between layers) -> dropout ->
    linear to next-character logits. Input ``(B, T)`` ids, output ``(B, T, vocab)``; every
    sequence starts from a zero state (batches are independent windows)."""

    def __init__(self, vocab: int, embed: int = 128, hidden: int = 128, layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.drop(self.embed(x)))
        return self.head(self.drop(out))
