"""The minibatch stream of an in-memory split, with a state that can be saved and restored.

:class:`BatchStream` is what :meth:`workloads.base.Workload.train_batches` returns: endless
minibatches of ``batch_size`` examples, each epoch a fresh permutation drawn from a CPU
generator seeded with the trial's seed, the last incomplete batch of an epoch dropped, and
the workload's :meth:`~workloads.base.Workload.train_transform` applied with a second
generator (augmentation draws) on the data's device: an in-memory data set on CUDA is batched
and augmented there, and a step copies nothing from the host. Its whole position is :meth:`state_dict`: both generators'
states, the current epoch's permutation and how many of its batches were taken; after
:meth:`load_state_dict` the stream yields exactly the batches the saved one would have.

Data-parallel trials (:mod:`workloads.parallel`). :meth:`BatchStream.shard` makes the stream of
rank ``r`` of ``N`` yield rows ``[r B/N, (r+1) B/N)`` of each global batch of ``B`` examples: every
rank draws the same permutation and the same augmentation of the whole global batch, then keeps
its shard, so the N shards of a step are exactly the batch one worker would train on (the
augmentation of the other ranks' rows is computed and dropped: a little extra work per step, for
streams that agree bitwise). The position is that of the global stream, so a checkpoint restores
on any number of workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeGuard

import torch

from .parallel import rank_rows

__all__ = ["BatchStream", "Checkpointable", "checkpointable"]


class Checkpointable(Protocol):
    """A minibatch stream whose position can be saved (:meth:`state_dict`) and restored."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def checkpointable(stream: object) -> TypeGuard[Checkpointable]:
    """Whether a minibatch stream can save and restore its position (``state_dict`` and
    ``load_state_dict``, as :class:`BatchStream` and LM1B's window stream have)."""
    return callable(getattr(stream, "state_dict", None)) and callable(getattr(stream, "load_state_dict", None))


class BatchStream:
    """Endless minibatches of ``train`` (module docstring)."""

    def __init__(
        self,
        train: Any,  # noqa: ANN401 - a Split
        batch_size: int,
        order_seed: int,
        augment_seed: int,
        transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    ) -> None:
        self.x, self.y = train.x, train.y
        self.n = len(train)
        self.batch = int(batch_size)
        self.per_epoch = self.n // self.batch
        self.order_gen = torch.Generator(device="cpu").manual_seed(order_seed)
        # The permutation is drawn on the CPU (the same data order on every device, copied once
        # per epoch); augmentation draws on the data's device, so a step copies nothing.
        self.augment_gen = torch.Generator(device=self.x.device).manual_seed(augment_seed)
        self.transform = transform
        self.order: torch.Tensor | None = None
        self.position = 0
        """Batches of the current epoch already taken."""
        self.rows = slice(None)
        """The rows of each global batch this stream yields (all, unless :meth:`shard`)."""

    def shard(self, rank: int, world: int) -> BatchStream:
        """Yield only rank ``rank``'s ``batch_size / world`` rows of each global batch (module
        docstring); InputError when the batch does not split evenly."""
        self.rows = rank_rows(self.batch, rank, world)
        return self

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.order is None or self.position == self.per_epoch:
            self.order = torch.randperm(self.n, generator=self.order_gen).to(self.x.device)
            self.position = 0
        idx = self.order[self.position * self.batch : (self.position + 1) * self.batch]
        self.position += 1
        return self.transform(self.x[idx], self.augment_gen)[self.rows], self.y[idx][self.rows]

    def state_dict(self) -> dict[str, Any]:
        """The stream's position: generator states, the epoch's permutation (on the CPU) and
        the batches taken from it."""
        return {
            "order_gen": self.order_gen.get_state(),
            "augment_gen": self.augment_gen.get_state(),
            "order": None if self.order is None else self.order.cpu(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order_gen.set_state(state["order_gen"])
        self.augment_gen.set_state(state["augment_gen"])
        order = state["order"]
        self.order = None if order is None else order.to(self.x.device)
        self.position = int(state["position"])
