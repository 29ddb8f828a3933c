"""Trial bundles: train B trials of one (workload, optimizer) as one vectorised model.

Each member of a bundle is a trial with its own hyperparameters, schedule parameters and seed.
:func:`train_bundle` builds each member's model from its seed exactly as :func:`workloads.train`
does, stacks the parameters into one member-major matrix ``theta`` of shape ``(B, P)``, and
per step

1. draws each member's minibatch from its own seeded data order (the batches
   :meth:`Workload.train_batches` would give that trial alone), stacked to ``(B, batch, ...)``;
2. runs the forward and backward pass of all members at once with
   ``torch.func.vmap(grad_and_value(loss))`` over ``torch.func.functional_call`` of one base module
   built on the ``meta`` device (building it inside vmap raises a randomness error);
3. checks each member's loss for divergence (non-finite or above the workload's bound): a
   diverged member is evaluated once more, finished with status ``diverged`` and dropped from the
   bundle (its rows of ``theta``, the optimizer state and the data orders are removed), so it
   cannot disturb the others;
4. applies :class:`optimizers.BundledUpdate` with each member's scheduled learning rate.

Evaluations run every ``eval_every`` steps on every member at once. Each member's curve equals
the curve of the same trial trained alone up to floating-point rounding (batched kernels sum in
a different order); models with dropout draw their masks from one bundle-wide stream, so their
masks differ from a lone run's (same distribution). Batch norm running statistics are not
supported: workloads declare :attr:`Workload.supports_bundling`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F  # noqa: N812

import optimizers
from optcompare.errors import InputError

from .base import IGNORE_INDEX, Workload
from .loop import EvalRow, TrialOutcome, evaluation_splits, resolve_run

__all__ = ["BundleMember", "bundle_supported", "train_bundle"]

EVAL_ROWS_PER_CHUNK = 8192
"""Evaluation chunk size times bundle size stays near this many examples (bounds memory)."""


@dataclass(frozen=True)
class BundleMember:
    """One trial of a bundle: what differs between members."""

    hparams: dict[str, float]
    schedule_params: dict[str, float]
    seed: int


def bundle_supported(workload: Workload | type[Workload], optimizer_name: str) -> str | None:
    """None when trials of ``workload`` with ``optimizer_name`` can be bundled, else the reason."""
    if not workload.supports_bundling:
        return f"workload {workload.name!r} does not support bundling (batch norm, or no batched kernels)"
    cls = workload if isinstance(workload, type) else type(workload)
    if cls.evaluate is not Workload.evaluate:
        return f"workload {workload.name!r} overrides evaluate(), which bundles cannot vectorise"
    if optimizers.bundle_structure(optimizer_name) is None:
        return f"optimizer {optimizer_name!r} is not a preset of the generalized family"
    return None


class _Batches:
    """Each member's minibatches, stacked: ``(B, batch, ...)`` inputs and targets.

    Workloads with the default in-memory batching get one gather per step from per-member
    permutations drawn exactly as :meth:`Workload.train_batches` draws them; others (streamed
    data, augmentation) run one :meth:`Workload.train_batches` iterator per member.
    """

    def __init__(self, workload: Workload, train: object, seeds: Sequence[int], batch_size: int | None) -> None:
        cls = type(workload)
        self.vectorised = (
            cls.train_batches is Workload.train_batches and cls.train_transform is Workload.train_transform
        )
        if not self.vectorised:
            self.iterators: list[Iterator] = [workload.train_batches(train, s, batch_size=batch_size) for s in seeds]
            return
        self.workload = workload
        self.x_all, self.y_all = train.x, train.y  # type: ignore[attr-defined]
        self.batch = int(batch_size or workload.batch_size)
        self.n = len(self.y_all)
        self.per_epoch = self.n // self.batch
        if self.per_epoch == 0:
            raise ValueError(
                f"workload {workload.name!r}: train split has {self.n} examples, fewer than batch_size={self.batch}"
            )
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.position = self.per_epoch  # start with a fresh epoch
        self.orders: torch.Tensor | None = None

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.vectorised:
            pairs = [next(it) for it in self.iterators]
            return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
        if self.position == self.per_epoch:
            self.orders = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators]).to(
                self.x_all.device
            )
            self.position = 0
        i = self.position
        idx = self.orders[:, i * self.batch : (i + 1) * self.batch]  # type: ignore[index]
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


class _StackedModel:
    """B copies of one architecture as a ``(B, P)`` matrix plus per-name views into it."""

    def __init__(self, models: list[torch.nn.Module], device: torch.device) -> None:
        first = models[0]
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
        self._views()

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

    def flat_grad(self, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in self.names], dim=1)


def train_bundle(
    workload: Workload,
    optimizer_name: str,
    members: Sequence[BundleMember],
    schedule_name: str,
    *,
    steps: int | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    on_eval: Callable[[int, EvalRow], None] | None = None,
    on_finish: Callable[[int, TrialOutcome], None] | None = None,
    batch_size: int | None = None,
    mixed_precision: bool = False,
    divergence_check_every: int | None = None,
    evaluate: bool = True,
) -> list[TrialOutcome]:
    """Train every member of the bundle; return their outcomes in member order.

    Arguments mean what they mean for :func:`workloads.train`; ``on_eval(member, row)`` gets
    each evaluation as it happens and ``on_finish(member, outcome)`` each member as it finishes
    (a diverged member finishes early). A member's ``wall_time_s`` is the bundle's elapsed time
    when it finished; its ``train_time_s`` is its share of the bundle's training time (each
    training segment split evenly over the members it trained), so shares add up to the
    bundle's training time. ``evaluate=False`` skips every evaluation (throughput probes): the
    outcomes then have no rows.
    """
    start = time.perf_counter()
    if not members:
        raise ValueError("a bundle needs at least one member")
    reason = bundle_supported(workload, optimizer_name)
    if reason is not None:
        raise InputError(f"cannot bundle: {reason}; use bundle_size: 1")
    run = resolve_run(workload, steps, eval_every, device, mixed_precision, divergence_check_every, "bundle")
    total, every, dev, check_every, autocast = run.total, run.every, run.device, run.check_every, run.autocast
    data = workload.data(dev)
    eval_sets = evaluation_splits(workload, data)
    models = []
    for m in members:
        torch.manual_seed(m.seed)  # as workloads.train does before build_model
        models.append(workload.build_model(m.seed))
    stack = _StackedModel(models, dev)
    del models
    torch.manual_seed(members[0].seed)  # dropout masks: one stream for the bundle
    base = stack.base
    base.train()

    def member_loss(params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return workload.loss(torch.func.functional_call(base, (params, buffers), (x,)), y)

    grad_step = torch.func.vmap(torch.func.grad_and_value(member_loss), randomness="different")
    forward = torch.func.vmap(
        lambda p, b, x: torch.func.functional_call(base, (p, b), (x,)), in_dims=(0, 0, None), randomness="different"
    )
    update = optimizers.BundledUpdate(optimizer_name, [m.hparams for m in members])
    schedules = [
        optimizers.make_schedule(schedule_name, m.hparams["learning_rate"], total, **m.schedule_params)
        for m in members
    ]
    batches = _Batches(workload, data["train"], [m.seed for m in members], batch_size)
    outcomes = [TrialOutcome(status="completed") for _ in members]
    active = list(range(len(members)))  # member index of each row of theta
    last_lr = [s(0) for s in schedules]
    target = workload.target_value
    on_loss = workload.target_metric == "val_loss"
    chunk = max(64, min(workload.eval_chunk, EVAL_ROWS_PER_CHUNK // len(members)))

    @torch.no_grad()
    def measure(split: object, rows: list[int]) -> tuple[list[float], list[float]]:
        """(error, mean loss) of the members at ``rows`` of theta over the whole split."""
        index = torch.tensor(rows, device=dev)
        params = {k: v[index] for k, v in stack.params.items()}
        buffers = {k: v[index] for k, v in stack.buffers.items()}
        wrong = loss_sum = count = None
        base.eval()
        for x, y in workload.eval_batches(split, chunk):
            with autocast():
                logits = forward(params, buffers, x)
            flat = logits.reshape(len(rows), -1, logits.shape[-1]).float()
            target_flat = y.reshape(-1)
            valid = target_flat != IGNORE_INDEX
            losses = F.cross_entropy(
                flat.transpose(1, 2), target_flat.expand(len(rows), -1), reduction="none",
                ignore_index=IGNORE_INDEX,
            ).sum(1)
            wrongs = ((flat.argmax(dim=-1) != target_flat) & valid).sum(1)
            wrong = wrongs if wrong is None else wrong + wrongs
            loss_sum = losses if loss_sum is None else loss_sum + losses
            count = valid.sum() if count is None else count + valid.sum()  # stays on the device
        base.train()
        if count is None or int(count) == 0:
            nan = float("nan")
            return [nan] * len(rows), [nan] * len(rows)
        errors = (wrong.double() / count.double()).tolist()
        means = (loss_sum.double() / count.double()).tolist()
        return errors, [m if m == m and m != float("inf") else float("inf") for m in means]

    def record_evaluation(step: int, rows: list[int]) -> None:
        if not evaluate:
            return
        _, train_loss = measure(eval_sets["train"], rows)
        val_error, val_loss = measure(eval_sets["val"], rows)
        test_error, test_loss = measure(eval_sets["test"], rows)
        now = time.perf_counter() - start
        for k, row in enumerate(rows):
            member = active[row]
            record = EvalRow(
                step, last_lr[member], train_loss[k], val_error[k], val_loss[k], test_error[k], test_loss[k], now
            )
            outcome = outcomes[member]
            outcome.rows.append(record)
            if outcome.steps_to_target is None and (record.val_loss if on_loss else record.val_error) <= target:
                outcome.steps_to_target = step
            if on_eval is not None:
                on_eval(member, record)

    def finish(rows: list[int], step: int) -> None:
        now = time.perf_counter() - start
        for row in rows:
            outcome = outcomes[active[row]]
            outcome.total_steps = step
            outcome.wall_time_s = now
            if on_finish is not None:
                on_finish(active[row], outcome)

    def charge(seconds: float) -> None:
        for member in active:
            outcomes[member].train_time_s += seconds / len(active)

    limit = workload.divergence_loss
    step = 0
    worst: torch.Tensor | None = None
    segment_start = time.perf_counter()
    while step < total and active:
        lrs = [schedules[m](step) for m in active]
        for m, lr in zip(active, lrs, strict=True):
            last_lr[m] = lr
        x, y = batches.next()
        if x.device != dev:
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        with autocast():
            grads, losses = grad_step(stack.params, stack.buffers, x, y)
        losses = losses.detach()
        bad: list[int] = []
        if check_every == 1:
            ok = (losses <= limit).tolist()  # NaN compares False
            bad = [r for r, good in enumerate(ok) if not good]
        else:
            worst = losses if worst is None else torch.maximum(worst, losses)
            if (step + 1) % check_every == 0 or (step + 1) % every == 0 or step + 1 == total:
                ok = (worst <= limit).tolist()
                bad = [r for r, good in enumerate(ok) if not good]
                worst = None
        if bad:
            charge(time.perf_counter() - segment_start)
            for r in bad:
                outcomes[active[r]].status = "diverged"
            record_evaluation(step, bad)
            finish(bad, step)
            dropped = set(bad)
            keep = [r for r in range(len(active)) if r not in dropped]
            if not keep:
                active = []
                break
            stack.keep(keep)
            batches.keep(keep)
            update.keep(torch.tensor(keep))
            index = torch.tensor(keep, device=dev)
            grads = {k: v[index] for k, v in grads.items()}
            lrs = [lrs[r] for r in keep]
            active = [active[r] for r in keep]
            segment_start = time.perf_counter()
        update.step(stack.theta, stack.flat_grad(grads), torch.tensor(lrs, dtype=torch.float64))
        step += 1
        if step % every == 0 or step == total:
            charge(time.perf_counter() - segment_start)
            record_evaluation(step, list(range(len(active))))
            segment_start = time.perf_counter()
    if active:
        finish(list(range(len(active))), step)
    return outcomes
