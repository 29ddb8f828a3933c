"""Data-parallel training of one trial over ``N`` workers (``torch.distributed``, DDP).

The process group is set up by whoever starts the workers (Ray Train's ``TorchTrainer`` in a
study, :mod:`tuning.worker.data_parallel`; ``torch.multiprocessing`` in tests); :class:`DataParallel`
is what the training loop of one trial (:func:`workloads.train`) needs from it. Every rank
builds the same model from the same seed and runs the same loop; what differs per rank is
only which examples it touches:

- **Minibatches.** The workload's batch size ``B`` is the global batch. Each rank draws the
  same permutation and augmentation of it and keeps rows ``[r B/N, (r+1) B/N)``
  (:meth:`workloads.batches.BatchStream.shard`), so one step's shards are the batch a single
  worker would train on.
- **Gradients.** The model is wrapped in ``DistributedDataParallel``, which all-reduces the
  gradients to their mean over ranks after ``backward``: with equal shards,
  ``(1/N) sum_r (1/b) sum_{i in shard r} grad l_i = (1/B) sum_{i in batch} grad l_i``, the
  single-worker gradient up to the order of float additions. The generalized optimizer then
  runs unchanged, on every rank, on the same gradients, so the parameters stay equal.
- **Divergence.** The minibatch loss the divergence check reads is the mean of the ranks'
  losses (an all-reduce), so every rank takes the same decision at the same step.
- **Evaluation.** Rank ``r`` measures the contiguous part ``[floor(r n/N), floor((r+1) n/N))``
  of each split; the sums ``[wrong, loss_sum, count]`` (:meth:`workloads.base.Workload.evaluation_sums`)
  are all-reduced in float64, so every rank records the same evaluation row.
- **Time.** Decisions taken by the clock (when to report, when to checkpoint) must be the same
  on every rank, since reports and checkpoints are collective: :meth:`DataParallel.clock` is
  rank 0's ``time.monotonic()``, broadcast every :attr:`DataParallel.clock_sync_every` calls
  (every rank calls it at the same points of the loop).

What is not the single-worker run: batch norm statistics are per rank (over ``B/N`` examples)
unless the model runs on CUDA, where its ``BatchNorm`` layers become ``SyncBatchNorm``; dropout
masks are drawn per rank from per-rank seeds. Curves of models without either agree with the
single-worker run within float32 reduction-order error (tests/workloads/test_data_parallel.py
states the tolerance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from optcompare.errors import InputError

__all__ = ["DataParallel", "rank_rows", "shard_range"]


def rank_rows(batch_size: int, rank: int, world: int, unit: str = "examples") -> slice:
    """Rows ``[r B/N, (r+1) B/N)`` of a global batch of ``B`` that rank ``r`` of ``N`` trains on;
    :class:`~optcompare.errors.InputError` when ``B`` does not split evenly."""
    if batch_size % world:
        raise InputError(
            f"a batch of {batch_size} {unit} does not split evenly over {world} data-parallel workers; "
            f"use a batch size that is a multiple of {world}, or another number of workers"
        )
    per_rank = batch_size // world
    return slice(rank * per_rank, (rank + 1) * per_rank)


def shard_range(size: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous part ``[floor(r n / N), floor((r + 1) n / N))`` of ``n`` items that rank
    ``r`` of ``N`` evaluates (parts differ in size by at most one; together they cover all)."""
    return size * rank // world, size * (rank + 1) // world


@dataclass
class DataParallel:
    """Rank ``rank`` of ``world`` data-parallel workers of one trial, in an initialised
    ``torch.distributed`` process group (module docstring)."""

    rank: int
    world: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """Where collective tensors live: the run's device (NCCL reduces CUDA tensors only)."""
    clock_sync_every: int = 16
    """Calls of :meth:`clock` between broadcasts of rank 0's time."""
    _calls: int = field(default=0, repr=False)
    _now: float = field(default=0.0, repr=False)

    @classmethod
    def current(cls) -> DataParallel:
        """The rank and world size of the initialised default process group."""
        import torch.distributed as dist

        return cls(dist.get_rank(), dist.get_world_size())

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` (with ``SyncBatchNorm`` on CUDA)."""
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[device.index])
        return DistributedDataParallel(model)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` (a detached copy) over the ranks."""
        import torch.distributed as dist

        total = value.detach().clone().to(self.device)
        dist.all_reduce(total)
        return total / self.world

    def total(self, sums: torch.Tensor) -> torch.Tensor:
        """``sums`` added over the ranks (in place, returned)."""
        import torch.distributed as dist

        dist.all_reduce(sums)
        return sums

    def part(self, split: Any) -> Any:  # noqa: ANN401 - a Split
        """This rank's part of an evaluation split (:func:`shard_range`)."""
        lo, hi = shard_range(len(split), self.rank, self.world)
        return split.take(torch.arange(lo, hi))

    def clock(self) -> float:
        """Rank 0's ``time.monotonic()``, the same on every rank (broadcast every
        :attr:`clock_sync_every` calls; in between the last broadcast value)."""
        if self._calls % self.clock_sync_every == 0:
            import torch.distributed as dist

            now = torch.tensor([time.monotonic()], dtype=torch.float64, device=self.device)
            dist.broadcast(now, src=0)
            self._now = float(now)
        self._calls += 1
        return self._now

    def dropout_seed(self, seed: int) -> int:
        """The seed of the dropout draws of rank ``rank > 0`` (rank 0 draws from the trial's
        own seed, as a one-worker run does)."""
        return (int(seed) * 1_000_003 + 104_729 * self.rank) % (2**63)
