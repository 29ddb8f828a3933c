"""The Workload interface: what a trial trains and how it is measured.

A workload declares its constants as class attributes (batch size, step budget, evaluation
interval, target) and implements three methods: load the splits, build the model for a seed,
and compute the loss. Batching, evaluation and the training loop are shared
(:mod:`workloads.loop`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

__all__ = ["Split", "Workload"]


@dataclass(frozen=True)
class Split:
    """One data split held in memory as tensors: inputs ``x`` and integer class labels ``y``."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


class Workload(ABC):
    """A model, its data and its training budget.

    Subclasses set the class constants and implement :meth:`load_splits` and
    :meth:`build_model`. The default loss is cross-entropy over class logits and the error is
    the top-1 misclassification rate.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    batch_size: ClassVar[int]
    step_budget: ClassVar[int]
    eval_interval: ClassVar[int]
    target_metric: ClassVar[str] = "val_error"
    target_value: ClassVar[float]
    divergence_loss: ClassVar[float] = 1e3
    """A training loss above this (or non-finite) marks the trial ``diverged``."""
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")

    def __init__(self, data_dir: str | None = None) -> None:
        self.data_dir = data_dir
        self._splits: dict[str, Split] | None = None

    @abstractmethod
    def load_splits(self) -> dict[str, Split]:
        """Read or generate every split named in :attr:`splits`. Called once per process."""

    @abstractmethod
    def build_model(self, seed: int) -> nn.Module:
        """A freshly initialised model; the same seed gives the same initial weights."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean minibatch loss (cross-entropy by default)."""
        return nn.functional.cross_entropy(logits, y)

    def data(self, device: torch.device) -> dict[str, Split]:
        """The splits on ``device``, loaded on first use and cached on the instance."""
        if self._splits is None:
            self._splits = self.load_splits()
        if any(s.x.device != device for s in self._splits.values()):
            self._splits = {k: s.to(device) for k, s in self._splits.items()}
        return self._splits

    def train_batches(self, train: Split, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless minibatches: each epoch a fresh permutation drawn from a generator seeded
        with ``seed``; the last incomplete batch of an epoch is dropped."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        n = len(train)
        per_epoch = n // self.batch_size
        if per_epoch == 0:
            raise ValueError(
                f"workload {self.name!r}: train split has {n} examples, fewer than "
                f"batch_size={self.batch_size}"
            )
        while True:
            order = torch.randperm(n, generator=gen).to(train.x.device)
            for i in range(per_epoch):
                idx = order[i * self.batch_size : (i + 1) * self.batch_size]
                yield train.x[idx], train.y[idx]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Split, chunk: int = 4096) -> tuple[float, float]:
        """(error rate, mean loss) over the whole split, in evaluation mode."""
        was_training = model.training
        model.eval()
        wrong = 0
        loss_sum = 0.0
        for start in range(0, len(split), chunk):
            x = split.x[start : start + chunk]
            y = split.y[start : start + chunk]
            logits = model(x)
            loss_sum += float(self.loss(logits, y)) * len(y)
            wrong += int((logits.argmax(dim=-1) != y).sum())
        model.train(was_training)
        n = max(1, len(split))
        loss = loss_sum / n
        return wrong / n, (loss if math.isfinite(loss) else math.inf)
