"""The training loop of one trial.

``train(workload, optimizer, hparams, schedule, seed)`` runs ``steps`` updates with the
scheduled learning rate, evaluates every ``eval_every`` steps and at the end, stops at a
non-finite or too-large training loss (status ``diverged``) and records the first evaluated step
whose target metric reaches the workload's target. Same seed, same curve on CPU. The loop, the
divergence check and the bookkeeping are those of :mod:`workloads.run`, shared with bundles;
this module supplies the :class:`~workloads.run.Learner` of one ``nn.Module`` and a
``torch.optim`` optimizer. Optional bf16 autocast (``mixed_precision=True``) needs CUDA.
Given a :class:`~workloads.parallel.DataParallel`, the trial trains data-parallel on that
rank: a DDP model, its shard of each global batch, sharded and all-reduced evaluation.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, cast

import torch
from torch import nn

import optimizers
from optcompare.errors import InputError

from .base import Workload, rates_of_sums
from .batches import Checkpointable, checkpointable
from .checkpoint import CheckpointUnsupported
from .outcome import EvalRow, TrialOutcome
from .parallel import DataParallel
from .run import (
    Checkpointing,
    RunSettings,
    Stopwatch,
    TrialGroup,
    evaluation_splits,
    resolve_run,
    train_steps,
)

__all__ = ["train"]


class _WithModes(Protocol):
    """An optimizer with a train and an eval mode (``OptimizerSpec.modes``: Schedule-Free)."""

    def train(self) -> object: ...

    def eval(self) -> object: ...


class _SingleLearner:
    """One model, its optimizer and its minibatch stream: the :class:`~workloads.run.Learner`
    of a single trial (one row). With ``parallel``, ``trained`` is the DDP wrapper of
    ``model`` and the stream yields this rank's shards."""

    def __init__(
        self, workload: Workload, model: nn.Module, optimizer: torch.optim.Optimizer,
        batches: Iterator[tuple[torch.Tensor, torch.Tensor]], run: RunSettings,
        parallel: DataParallel | None = None, *, modes: bool = False,
    ) -> None:
        self.workload, self.model, self.optimizer, self.batches, self.run = workload, model, optimizer, batches, run
        self.parallel = parallel
        self.modes = modes
        """The optimizer has train and eval modes (Schedule-Free): it trains in train mode,
        :meth:`evaluating` puts it in eval mode (its averaged iterate) for each evaluation, and
        :meth:`state_dict` saves it in train mode."""
        if modes:
            cast(_WithModes, optimizer).train()
        self.trained = model if parallel is None else parallel.wrap(model, run.device)

    def losses_and_gradients(self) -> torch.Tensor:
        x, y = self.run.to_device(next(self.batches))
        self.optimizer.zero_grad(set_to_none=True)
        with self.run.autocast():
            loss = self.workload.loss(self.trained(x), y)
        loss.backward()
        return loss if self.parallel is None else self.parallel.mean(loss)

    def update(self, learning_rates: Sequence[float]) -> None:
        (rate,) = learning_rates
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.optimizer.step()

    def keep(self, rows: list[int]) -> None:
        del rows  # a single trial that diverges ends the run: there is no row to keep

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """An optimizer with modes in eval mode (its averaged iterate in the model) for the whole
        evaluation step, then back in train mode; otherwise nothing changes."""
        if not self.modes:
            yield
            return
        cast(_WithModes, self.optimizer).eval()
        try:
            yield
        finally:
            cast(_WithModes, self.optimizer).train()  # back to the iterate it trains

    def measure(self, split: Any, rows: list[int]) -> tuple[list[float], list[float]]:  # noqa: ANN401
        del rows
        with self.run.autocast():
            if self.parallel is None:
                error, loss = self.workload.evaluate(self.model, split)
            else:
                sums = self.workload.evaluation_sums(self.model, self.parallel.part(split))
                error, loss = rates_of_sums(self.parallel.total(sums.to(self.run.device)))
        return [error], [loss]

    def state_dict(self) -> dict[str, Any]:
        if not checkpointable(self.batches):
            raise CheckpointUnsupported(
                f"workload {self.workload.name!r} streams its own minibatches, whose position cannot be saved"
            )
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "batches": self.batches.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], rows: list[int]) -> None:
        assert rows == [0], rows  # one trial, one row
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        cast(Checkpointable, self.batches).load_state_dict(state["batches"])  # state_dict() checked it


def _sharded(
    workload: Workload, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], parallel: DataParallel
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's shard of the workload's minibatch stream; InputError for a workload that
    streams its own minibatches (they cannot be sharded the same way as one worker's)."""
    shard = getattr(batches, "shard", None)
    if not callable(shard):
        raise InputError(
            f"workload {workload.name!r} streams its own minibatches, which cannot be split over "
            f"{parallel.world} data-parallel workers; set workers_per_trial: 1 for it"
        )
    return shard(parallel.rank, parallel.world)


def check_modes(workload: Workload, model: nn.Module, optimizer_name: str) -> None:
    """InputError for an optimizer with train and eval modes (Schedule-Free) on a model with
    BatchNorm: it evaluates at its averaged weights, whose BatchNorm statistics were never
    collected (the library recomputes them before evaluation; optcompare does not)."""
    if not optimizers.get_spec(optimizer_name).modes:
        return
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise InputError(
            f"optimizer {optimizer_name!r} evaluates at its averaged weights, whose BatchNorm "
            f"statistics the training never collected, and workload {workload.name!r} has BatchNorm "
            "layers: choose a workload without BatchNorm for it (recomputing the statistics is not "
            "supported yet)"
        )


def parameter_groups(workload: Workload, model: nn.Module, optimizer_name: str) -> list[Any]:
    """What ``optimizer_name`` is created over: the model's parameters, or, for an optimizer that
    updates by role (``muon``), two groups: the workload's hidden 2-D weight matrices with
    ``role: hidden`` (:meth:`~workloads.base.Workload.hidden_matrices`) and the rest. A
    workload that has not declared its hidden matrices gets the default rule, with a warning."""
    params = list(model.parameters())
    if not optimizers.get_spec(optimizer_name).roles:
        return params
    if not workload.declares_hidden_matrices:
        warnings.warn(
            f"workload {workload.name!r} declares no hidden matrices: {optimizer_name} gives Muon the "
            "weights of its Linear layers but the input and output ones (Workload.hidden_matrices; "
            "override it and set declares_hidden_matrices = True)",
            stacklevel=2,
        )
    hidden = {id(t) for t in workload.hidden_matrices(model)}
    return [
        {"params": [p for p in params if id(p) in hidden], "role": "hidden"},
        {"params": [p for p in params if id(p) not in hidden]},
    ]


def train(
    workload: Workload,
    optimizer_name: str,
    hparams: dict[str, float],
    schedule_name: str,
    schedule_params: dict[str, float],
    seed: int,
    *,
    steps: int | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    on_eval: Callable[[EvalRow], None] | None = None,
    batch_size: int | None = None,
    mixed_precision: bool = False,
    divergence_check_every: int | None = None,
    time_limit_s: float | None = None,
    heartbeat: Callable[[int], None] | None = None,
    checkpointing: Checkpointing | None = None,
    parallel: DataParallel | None = None,
    target_value: float | None = None,
) -> TrialOutcome:
    """Train ``workload`` with optimizer ``optimizer_name`` and return the outcome.

    ``hparams`` are the optimizer's hyperparameters (``learning_rate`` is lr_0 of the schedule).
    Evaluation happens after every ``eval_every`` updates and after the last one; each
    evaluation is passed to ``on_eval`` as it happens. On divergence the model is evaluated
    once more at the step where it was detected, so every trial has at least one row.

    ``batch_size`` overrides the workload's (tests, small machines). ``mixed_precision`` runs
    forward passes under bf16 autocast on CUDA (no loss scaling is needed for bf16); on other
    devices it raises :class:`~optcompare.errors.InputError`. ``divergence_check_every``
    defaults to 1 on CPU and :data:`~workloads.run.DIVERGENCE_CHECK_EVERY` elsewhere.
    ``time_limit_s`` stops the trial as ``failed`` once that many seconds have passed since the
    call (data loading included); ``heartbeat(updates)`` is called after every step.
    ``checkpointing`` saves the run's state as it trains and may give a state to continue from
    (:mod:`workloads.checkpoint`). ``parallel`` trains this rank's part of a data-parallel
    trial (:mod:`workloads.parallel`): every rank calls ``train`` with the same arguments.
    ``target_value`` replaces the workload's ``target_value`` for ``steps_to_target`` (an
    experiment keeps the target it recorded).
    """
    clock = Stopwatch() if parallel is None else Stopwatch(parallel.clock)
    run = resolve_run(
        workload, steps, eval_every, device, mixed_precision, divergence_check_every, "trial",
        time_limit_s=time_limit_s, heartbeat=heartbeat, checkpointing=checkpointing, target_value=target_value,
    )
    data = workload.data(run.device)
    splits = evaluation_splits(workload, data)
    torch.manual_seed(seed)  # build_model seeds too; this also fixes dropout draws for the trial
    model = workload.build_model(seed).to(run.device)
    model.train()
    optimizers.check_schedule(optimizer_name, schedule_name)
    check_modes(workload, model, optimizer_name)
    optimizer = optimizers.create(
        optimizer_name, parameter_groups(workload, model, optimizer_name), **hparams  # type: ignore[arg-type]  # mypy: **hparams might fill foreach
    )
    schedule = optimizers.make_schedule(schedule_name, hparams["learning_rate"], run.steps, **schedule_params)
    batches = workload.train_batches(data["train"], seed, batch_size=batch_size)
    if parallel is not None:
        batches = _sharded(workload, batches, parallel)
        parallel.device = run.device
        if parallel.rank:
            torch.manual_seed(parallel.dropout_seed(seed))
    learner = _SingleLearner(
        workload, model, optimizer, batches, run, parallel, modes=optimizers.get_spec(optimizer_name).modes
    )
    group = TrialGroup.start(
        1, run.target, clock, on_eval=None if on_eval is None else lambda _, row: on_eval(row)
    )
    (outcome,) = train_steps(learner, [schedule], run, splits, group)
    return outcome
