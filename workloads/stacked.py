"""B models of one architecture as one: stacked parameters and stacked minibatches.

:class:`StackedModel` holds the parameters of B copies of a model as one member-major matrix
``theta`` of shape ``(B, P)`` and runs the forward and backward pass of all copies at once with
``torch.func.vmap(grad_and_value(loss))`` over ``torch.func.functional_call`` of one base module
built on the ``meta`` device (building it inside vmap raises a randomness error).
:class:`StackedBatches` draws each copy's minibatch from its own seeded data order, stacked to
``(B, batch, ...)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from optcompare.errors import InputError

from .base import IGNORE_INDEX, Workload
from .batches import Checkpointable, checkpointable
from .checkpoint import CheckpointUnsupported
from .run import Autocast

__all__ = ["StackedBatches", "StackedModel"]


class StackedModel:
    """B copies of one architecture as a ``(B, P)`` matrix ``theta`` plus per-name views into
    it, and their stacked buffers."""

    def __init__(
        self, workload: Workload, models: Sequence[nn.Module], device: torch.device, autocast: Autocast
    ) -> None:
        first = models[0]
        self.workload, self.autocast = workload, autocast
        self.names = [name for name, _ in first.named_parameters()]
        self.shapes = [p.shape for _, p in first.named_parameters()]
        self.sizes = [p.numel() for _, p in first.named_parameters()]
        rows = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models]
        self.theta = torch.stack(rows).to(device)
        self.buffers = {
            name: torch.stack([dict(m.named_buffers())[name] for m in models]).to(device)
            for name, _ in first.named_buffers()
        }
        self.base = copy.deepcopy(first).to("meta")
        self.base.train()
        self._views()
        base = self.base

        def member_loss(params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return workload.loss(torch.func.functional_call(base, (params, buffers), (x,)), y)

        def member_logits(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(base, (params, buffers), (x,))

        self._grad_and_loss = torch.func.vmap(torch.func.grad_and_value(member_loss), randomness="different")
        self._logits = torch.func.vmap(member_logits, in_dims=(0, 0, None), randomness="different")

    def _views(self) -> None:
        b = self.theta.shape[0]
        self.params: dict[str, torch.Tensor] = {}
        offset = 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            self.params[name] = self.theta[:, offset : offset + size].view(b, *shape)
            offset += size

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, device=self.theta.device)
        self.theta = self.theta[index]
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self._views()

    def state_dict(self) -> dict[str, Any]:
        """Every row's parameters and buffers (on the CPU)."""
        return {"theta": self.theta.cpu(), "buffers": {k: v.cpu() for k, v in self.buffers.items()}}

    def load_state_dict(self, state: dict[str, Any], rows: list[int]) -> None:
        """The saved ``rows``' parameters and buffers, into a stack of ``len(rows)`` copies."""
        index = torch.tensor(rows)
        device = self.theta.device
        self.theta = state["theta"][index].to(device=device, dtype=self.theta.dtype).contiguous()
        self.buffers = {k: state["buffers"][k][index].to(device) for k in self.buffers}
        self._views()

    def gradients_and_losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each copy's gradient as a ``(B, P)`` matrix laid out as ``theta``, and its loss
        ``(B,)``, on the stacked minibatch ``x`` ``(B, batch, ...)``, ``y``."""
        with self.autocast():
            grads, losses = self._grad_and_loss(self.params, self.buffers, x, y)
        flat = torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in self.names], dim=1)
        return flat, losses.detach()

    @torch.no_grad()
    def measure(self, split: Any, rows: list[int], chunk: int) -> tuple[list[float], list[float]]:  # noqa: ANN401
        """Error rates and mean losses of the copies at ``rows`` over the whole ``split``, in
        evaluation mode: sums per predicted target (padding excluded) over chunks of ``chunk``
        examples stay on the device until the end; a non-finite mean loss is ``inf``."""
        index = torch.tensor(rows, device=self.theta.device)
        params = {k: v[index] for k, v in self.params.items()}
        buffers = {k: v[index] for k, v in self.buffers.items()}
        wrong = loss_sum = count = None
        self.base.eval()
        for x, y in self.workload.eval_batches(split, chunk):
            with self.autocast():
                logits = self._logits(params, buffers, x)
            flat = logits.reshape(len(rows), -1, logits.shape[-1]).float()
            target = y.reshape(-1)
            valid = target != IGNORE_INDEX
            losses = F.cross_entropy(
                flat.transpose(1, 2), target.expand(len(rows), -1), reduction="none", ignore_index=IGNORE_INDEX
            ).sum(1)
            wrongs = ((flat.argmax(dim=-1) != target) & valid).sum(1)
            wrong = wrongs if wrong is None else wrong + wrongs
            loss_sum = losses if loss_sum is None else loss_sum + losses
            count = valid.sum() if count is None else count + valid.sum()
        self.base.train()
        if count is None or int(count) == 0:
            return [math.nan] * len(rows), [math.nan] * len(rows)
        assert wrong is not None and loss_sum is not None  # set with count, batch by batch
        errors = (wrong.double() / count.double()).tolist()
        means = (loss_sum.double() / count.double()).tolist()
        return errors, [m if math.isfinite(m) else math.inf for m in means]


class StackedBatches:
    """Each copy's minibatches, stacked: ``(B, batch, ...)`` inputs and targets.

    Workloads with the default in-memory batching get one gather per step from per-copy
    permutations drawn exactly as :meth:`Workload.train_batches` draws them; others (streamed
    data, augmentation) run one :meth:`Workload.train_batches` iterator per copy.
    """

    def __init__(
        self, workload: Workload, train: Any, seeds: Sequence[int], batch_size: int | None  # noqa: ANN401
    ) -> None:
        cls = type(workload)
        self.vectorised = (
            cls.train_batches is Workload.train_batches and cls.train_transform is Workload.train_transform
        )
        if not self.vectorised:
            self.iterators: list[Iterator] = [workload.train_batches(train, s, batch_size=batch_size) for s in seeds]
            return
        self.workload = workload
        self.x_all, self.y_all = train.x, train.y
        self.batch = int(batch_size or workload.batch_size)
        self.n = len(self.y_all)
        self.per_epoch = self.n // self.batch
        if self.per_epoch == 0:
            raise InputError(
                f"workload {workload.name!r}: train split has {self.n} examples, fewer than "
                f"batch_size={self.batch}; use a batch size of at most {self.n}"
            )
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.position = self.per_epoch  # start with a fresh epoch
        self.orders: torch.Tensor | None = None

    def __iter__(self) -> StackedBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.vectorised:
            pairs = [next(it) for it in self.iterators]
            return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
        if self.position == self.per_epoch:
            self.orders = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators]).to(
                self.x_all.device
            )
            self.position = 0
        i = self.position
        orders = self.orders
        assert orders is not None  # drawn above at the first batch (position starts at per_epoch)
        idx = orders[:, i * self.batch : (i + 1) * self.batch]
        self.position += 1
        x = self.x_all[idx]
        x = self.workload.eval_transform(x.flatten(0, 1)).unflatten(0, idx.shape)
        return x, self.y_all[idx]

    def keep(self, rows: list[int]) -> None:
        if not self.vectorised:
            self.iterators = [self.iterators[r] for r in rows]
            return
        self.generators = [self.generators[r] for r in rows]
        if self.orders is not None:
            self.orders = self.orders[rows]

    def state_dict(self) -> dict[str, Any]:
        """Each copy's data order: its generator's state and permutation and the epoch position
        (or each copy's :class:`~workloads.batches.BatchStream` state)."""
        if not self.vectorised:
            if not all(checkpointable(it) for it in self.iterators):
                raise CheckpointUnsupported("the workload streams its own minibatches, whose position cannot be saved")
            return {"streams": [cast(Checkpointable, it).state_dict() for it in self.iterators]}
        return {
            "generators": [g.get_state() for g in self.generators],
            "orders": None if self.orders is None else self.orders.cpu(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any], rows: list[int]) -> None:
        if not self.vectorised:
            for iterator, row in zip(self.iterators, rows, strict=True):
                cast(Checkpointable, iterator).load_state_dict(state["streams"][row])  # state_dict() checked them
            return
        for generator, row in zip(self.generators, rows, strict=True):
            generator.set_state(state["generators"][row])
        orders = state["orders"]
        self.orders = None if orders is None else orders[torch.tensor(rows)].to(self.x_all.device)
        self.position = int(state["position"])
