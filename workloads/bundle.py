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

The loop, the divergence check and the evaluations are those of a single trial
(:func:`workloads.run.train_steps`); the stacked model and batches are in
:mod:`workloads.stacked`. Evaluations run every ``eval_every`` steps on every member at once. Each member's curve equals
the curve of the same trial trained alone up to floating-point rounding (batched kernels sum in
a different order); models with dropout draw their masks from one bundle-wide stream, so their
masks differ from a lone run's (same distribution). Batch norm running statistics are not
supported: workloads declare :attr:`Workload.supports_bundling`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

import optimizers
from optcompare.errors import InputError

from .base import Workload
from .outcome import EvalRow, TrialOutcome
from .run import (
    Checkpointing,
    RunSettings,
    Stopwatch,
    TrialGroup,
    evaluation_splits,
    resolve_run,
    train_steps,
)
from .stacked import StackedBatches, StackedModel

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


class _BundleLearner:
    """The stacked models of a bundle, their :class:`optimizers.BundledUpdate` and their
    stacked minibatches: the :class:`~workloads.run.Learner` of B rows."""

    def __init__(
        self, stack: StackedModel, update: optimizers.BundledUpdate, batches: StackedBatches, run: RunSettings,
        eval_chunk: int,
    ) -> None:
        self.stack, self.update_rule, self.batches, self.run, self.eval_chunk = stack, update, batches, run, eval_chunk
        self.gradient: torch.Tensor | None = None

    def losses_and_gradients(self) -> torch.Tensor:
        x, y = self.run.to_device(next(self.batches))
        self.gradient, losses = self.stack.gradients_and_losses(x, y)
        return losses

    def update(self, learning_rates: Sequence[float]) -> None:
        assert self.gradient is not None
        self.update_rule.step(self.stack.theta, self.gradient, torch.tensor(learning_rates, dtype=torch.float64))

    def keep(self, rows: list[int]) -> None:
        self.stack.keep(rows)
        self.batches.keep(rows)
        self.update_rule.keep(torch.tensor(rows))
        if self.gradient is not None:
            self.gradient = self.gradient[torch.tensor(rows, device=self.gradient.device)]

    def evaluating(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # a bundle's update (the generalized family) has no modes

    def measure(self, split: Any, rows: list[int]) -> tuple[list[float], list[float]]:  # noqa: ANN401
        return self.stack.measure(split, rows, self.eval_chunk)

    def state_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack.state_dict(),
            "update": self.update_rule.state_dict(),
            "batches": self.batches.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], rows: list[int]) -> None:
        self.stack.load_state_dict(state["stack"], rows)
        self.update_rule.load_state_dict(state["update"], rows, self.stack.theta.device)
        self.batches.load_state_dict(state["batches"], rows)
        self.gradient = None


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
    time_limit_s: float | None = None,
    heartbeat: Callable[[int], None] | None = None,
    checkpointing: Checkpointing | None = None,
    evaluate: bool = True,
    target_value: float | None = None,
) -> list[TrialOutcome]:
    """Train every member of the bundle; return their outcomes in member order.

    Arguments mean what they mean for :func:`workloads.train`; ``on_eval(member, row)`` gets
    each evaluation as it happens and ``on_finish(member, outcome)`` each member as it finishes
    (a diverged member finishes early). A member's ``wall_time_s`` is the bundle's elapsed time
    when it finished; its ``train_time_s`` is its share of the bundle's training time (each
    training segment split evenly over the members it trained), so shares add up to the
    bundle's training time. ``evaluate=False`` skips every evaluation (throughput probes): the
    outcomes then have no rows. ``time_limit_s`` stops every unfinished member as ``failed``.
    ``checkpointing`` saves the bundle's state as one (every member's rows, parameters, optimizer
    state and data order); restored, the bundle's members (named by ``checkpointing.members``)
    may be any subset of those training when it was saved (:mod:`workloads.checkpoint`).
    """
    clock = Stopwatch()
    if not members:
        raise InputError("a bundle needs at least one member; pass one BundleMember or more")
    reason = bundle_supported(workload, optimizer_name)
    if reason is not None:
        raise InputError(f"cannot bundle: {reason}; use bundle_size: 1")
    run = resolve_run(
        workload, steps, eval_every, device, mixed_precision, divergence_check_every, "bundle",
        time_limit_s=time_limit_s, heartbeat=heartbeat, checkpointing=checkpointing, target_value=target_value,
    )
    data = workload.data(run.device)
    splits = evaluation_splits(workload, data)
    models = []
    for m in members:
        torch.manual_seed(m.seed)  # as workloads.train does before build_model
        models.append(workload.build_model(m.seed))
    stack = StackedModel(workload, models, run.device, run.autocast)
    del models
    torch.manual_seed(members[0].seed)  # dropout masks: one stream for the bundle
    learner = _BundleLearner(
        stack,
        optimizers.BundledUpdate(optimizer_name, [m.hparams for m in members]),
        StackedBatches(workload, data["train"], [m.seed for m in members], batch_size),
        run,
        eval_chunk=max(64, min(workload.eval_chunk, EVAL_ROWS_PER_CHUNK // len(members))),
    )
    schedules = [
        optimizers.make_schedule(schedule_name, m.hparams["learning_rate"], run.steps, **m.schedule_params)
        for m in members
    ]
    group = TrialGroup.start(len(members), run.target, clock, on_eval=on_eval, on_finish=on_finish, evaluates=evaluate)
    return train_steps(learner, schedules, run, splits, group)
