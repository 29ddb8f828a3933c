"""What the training loop of one trial (:func:`workloads.train`) and of a bundle
(:func:`workloads.train_bundle`) share: the settings a run resolves before it starts, the
divergence check and its cadence, the evaluation rows and bookkeeping, the timing, and the loop
itself (:func:`train_steps`).

A run trains one or more trials at once (the *rows* of its model: one for a single trial, B for
a bundle). Per step ``s`` (0-based, ``s`` updates done), :func:`train_steps`

1. sets each row's learning rate from its schedule at ``s``;
2. computes each row's minibatch loss and gradients (:meth:`Learner.losses_and_gradients`);
3. checks the losses for divergence (:class:`DivergenceWatch`): a row whose loss is non-finite or
   above the workload's ``divergence_loss`` is evaluated once more at ``s``, finished with status
   ``diverged`` and dropped before the update;
4. applies the update; after it, when ``s + 1`` is a multiple of ``eval_every`` or the last step,
   evaluates every row;
5. calls the run's heartbeat with ``s + 1`` (a watchdog's sign of life, :mod:`tuning.worker.watchdog`);
6. saves a checkpoint (:class:`Checkpointing`, :mod:`workloads.checkpoint`) when
   ``every_s`` seconds have passed since the last one (or since the start), at a step where the
   divergence check has just run (every step on CPU), unless the run is done;
7. past the run's time limit, ends every remaining row as ``failed`` with the error
   "time limit of N s reached at step S" (its rows so far kept).

A run given a checkpoint's state (``Checkpointing.restored``) starts at its step instead of 0.

The inner loop avoids host synchronisation: on CPU the loss is read every step (free there); on
an accelerator a running maximum of the losses stays on the device and is read every
``divergence_check_every`` steps and at each evaluation step, so a diverged trial stops within
that many steps of its first bad loss.

Everything a run changes while it trains is held in plain objects (:class:`TrialGroup`: the
outcomes with their rows and best-so-far bookkeeping, the active rows and their learning rates;
:class:`Stopwatch`; :class:`DivergenceWatch`), with the model, optimizer and data order in the
:class:`Learner`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from optcompare.errors import InputError
from optcompare.schema import CURVE_METRICS, DIVERGED, FAILED, METRICS

from .base import Workload
from .checkpoint import CheckpointUnsupported, capture_state, restore_state
from .device import configure_device, pick_device
from .outcome import EvalRow, Measurement, Target, TrialOutcome

__all__ = [
    "AUTOCAST_DEVICES",
    "Checkpointing",
    "DIVERGENCE_CHECK_EVERY",
    "EVALUATED_SPLITS",
    "DivergenceWatch",
    "Learner",
    "RunSettings",
    "Stopwatch",
    "TrialGroup",
    "evaluation_splits",
    "resolve_run",
    "time_limit_message",
    "train_steps",
]

DIVERGENCE_CHECK_EVERY = 20
"""Steps between divergence checks on an accelerator (every step on CPU)."""
AUTOCAST_DEVICES = ("cuda",)
"""Device types on which ``mixed_precision=True`` runs bf16 autocast."""
EVALUATED_SPLITS: tuple[str, ...] = tuple(dict.fromkeys(METRICS[name].split for name in CURVE_METRICS))
"""The splits each evaluation measures (``train``, ``val``, ``test``): those of the curve metrics."""

Autocast = Callable[[], contextlib.AbstractContextManager]


@dataclass
class Checkpointing:
    """When a run saves its state and where it goes: ``save(step, state)`` is called at most
    every ``every_s`` seconds (by ``clock``); ``restored`` is a state to continue from."""

    every_s: float
    save: Callable[[int, dict[str, Any]], None]
    restored: dict[str, Any] | None = None
    clock: Callable[[], float] = time.monotonic
    members: list[str] | None = None
    """A key per member of the run (trial ids), which states are saved and restored by
    (None: ``"0"``, ``"1"``, ...)."""

    def keys(self, size: int) -> list[str]:
        return list(self.members) if self.members is not None else [str(i) for i in range(size)]


@dataclass(frozen=True)
class RunSettings:
    """What a training run resolves before it starts."""

    steps: int
    """Updates to apply (the budget)."""
    eval_every: int
    device: torch.device
    divergence_check_every: int
    autocast: Autocast
    """A fresh context for each forward pass: bf16 autocast, or nothing."""
    target: Target
    divergence_loss: float
    time_limit_s: float | None = None
    """Seconds of the run (from its start, data loading included) after which the remaining
    rows stop as ``failed`` (None: no limit)."""
    heartbeat: Callable[[int], None] | None = None
    """Called with the number of updates done after each step."""
    checkpointing: Checkpointing | None = None

    def evaluates_after(self, updates: int) -> bool:
        """Whether the run evaluates once ``updates`` updates are done."""
        return updates % self.eval_every == 0 or updates == self.steps

    def to_device(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        if x.device != self.device:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return x, y


def resolve_run(
    workload: Workload,
    steps: int | None,
    eval_every: int | None,
    device: str | None,
    mixed_precision: bool,
    divergence_check_every: int | None,
    unit: str,
    *,
    time_limit_s: float | None = None,
    heartbeat: Callable[[int], None] | None = None,
    checkpointing: Checkpointing | None = None,
    target_value: float | None = None,
) -> RunSettings:
    """Budget, evaluation interval, device, divergence-check interval, autocast and target of a
    run (defaults from the workload; ``target_value`` None: the workload's), its time limit and heartbeat;
    :class:`~optcompare.errors.InputError` for bad values (``unit`` names the run in messages:
    ``trial``, ``bundle``)."""
    if time_limit_s is not None and not time_limit_s > 0:
        raise InputError(f"the time limit of a {unit} must be > 0 seconds, got {time_limit_s!r}; give a positive number or None")
    total = int(steps if steps is not None else workload.step_budget)
    every = int(eval_every if eval_every is not None else workload.eval_interval)
    if total < 1 or every < 1:
        raise InputError(f"steps ({total}) and eval_every ({every}) of a {unit} must be >= 1; raise them to 1 or more")
    target = Target.of(workload, target_value)
    dev = pick_device(device)
    configure_device(dev)
    if mixed_precision and dev.type not in AUTOCAST_DEVICES:
        raise InputError(
            f"mixed_precision=True needs a CUDA device (bf16 autocast); the {unit} runs on {dev.type!r}. "
            "Turn mixed precision off or run on a GPU."
        )
    check_every = int(divergence_check_every or (1 if dev.type == "cpu" else DIVERGENCE_CHECK_EVERY))
    autocast: Autocast = (
        (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if mixed_precision else contextlib.nullcontext
    )
    return RunSettings(
        total, every, dev, check_every, autocast, target, float(workload.divergence_loss), time_limit_s, heartbeat,
        checkpointing,
    )


def evaluation_splits(workload: Workload, data: dict[str, Any]) -> dict[str, Any]:
    """The splits each evaluation measures, by name: the training subset that evaluations
    measure (:meth:`Workload.train_eval_split`), validation and test."""
    splits = {**data, "train": workload.train_eval_split(data["train"])}
    return {name: splits[name] for name in EVALUATED_SPLITS}


@dataclass
class Stopwatch:
    """Seconds since the run started, and since the current training segment started, by the
    clock ``now`` (a data-parallel run's is rank 0's, :meth:`workloads.parallel.DataParallel.clock`,
    so that the time limit stops every rank at the same step)."""

    now: Callable[[], float] = time.perf_counter
    started: float = field(init=False)
    segment_started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.segment_started = self.now()

    def elapsed(self) -> float:
        return self.now() - self.started

    def restart_segment(self) -> None:
        self.segment_started = self.now()

    def segment(self) -> float:
        """Seconds since the segment started."""
        return self.now() - self.segment_started

    def shift(self, elapsed_s: float) -> None:
        """Continue a run that had been going for ``elapsed_s`` seconds (a restored checkpoint)."""
        self.started = self.now() - elapsed_s
        self.restart_segment()


@dataclass
class DivergenceWatch:
    """The divergence check of a run: a row has diverged when its minibatch loss is not
    ``<= divergence_loss`` (NaN compares false).

    With ``divergence_check_every == 1`` each step's losses are read at once. Otherwise
    :attr:`worst`, the elementwise running maximum of the losses since the last check (NaN
    propagates), stays on the device and is read after step ``s`` when ``s + 1`` is a multiple
    of the interval or the run evaluates after ``s + 1`` updates.
    """

    run: RunSettings
    worst: torch.Tensor | None = None

    def bad_rows(self, step: int, losses: torch.Tensor) -> list[int]:
        """Rows (positions along ``losses``; a 0-d loss is row 0) found diverged at ``step``."""
        run = self.run
        if run.divergence_check_every == 1:
            values = losses.tolist()
        else:
            losses = losses.detach()
            self.worst = losses if self.worst is None else torch.maximum(self.worst, losses)
            if (step + 1) % run.divergence_check_every and not run.evaluates_after(step + 1):
                return []
            values, self.worst = self.worst.tolist(), None
        limit = run.divergence_loss
        if not isinstance(values, list):
            return [] if values <= limit else [0]
        return [row for row, value in enumerate(values) if not value <= limit]


class Learner(Protocol):
    """The models of a run's rows, their optimizer state and their data order."""

    def losses_and_gradients(self) -> torch.Tensor:
        """Fetch each row's next minibatch, compute its loss and gradients; return the losses
        (0-d for a single trial, ``(rows,)`` for a bundle)."""

    def update(self, learning_rates: Sequence[float]) -> None:
        """Apply the optimizer update with each row's learning rate."""

    def keep(self, rows: list[int]) -> None:
        """Drop every row not in ``rows`` (gradients, parameters, state, data order)."""

    def evaluating(self) -> AbstractContextManager[None]:
        """The models as they are evaluated, for one whole evaluation step: an optimizer with
        train and eval modes (Schedule-Free) in eval mode, back in train mode after."""

    def measure(self, split: Any, rows: list[int]) -> tuple[list[float], list[float]]:  # noqa: ANN401
        """Error rates and mean losses over the whole ``split`` of the models at ``rows``."""

    def state_dict(self) -> dict[str, Any]:
        """Models, optimizer state and data order (:mod:`workloads.checkpoint`); raises
        :class:`~workloads.checkpoint.CheckpointUnsupported` when they cannot be saved."""

    def load_state_dict(self, state: dict[str, Any], rows: list[int]) -> None:
        """Put back the ``rows`` (positions in the saved rows, in the order wanted) of what
        :meth:`state_dict` returned."""


@dataclass
class TrialGroup:
    """The trials a run trains together and what it has recorded of them.

    ``active[r]`` is the member (index into :attr:`outcomes`) of row ``r`` of the model;
    ``learning_rates[m]`` is member ``m``'s rate at its last update. ``on_eval(member, row)``
    gets each evaluation as it is recorded, ``on_finish(member, outcome)`` each member as it
    finishes. ``evaluates=False`` records no evaluations (throughput probes).
    """

    outcomes: list[TrialOutcome]
    active: list[int]
    learning_rates: list[float]
    target: Target
    clock: Stopwatch
    on_eval: Callable[[int, EvalRow], None] | None = None
    on_finish: Callable[[int, TrialOutcome], None] | None = None
    evaluates: bool = True

    @classmethod
    def start(
        cls, size: int, target: Target, clock: Stopwatch, *,
        on_eval: Callable[[int, EvalRow], None] | None = None,
        on_finish: Callable[[int, TrialOutcome], None] | None = None,
        evaluates: bool = True,
    ) -> TrialGroup:
        return cls(
            [TrialOutcome() for _ in range(size)], list(range(size)), [0.0] * size, target, clock,
            on_eval, on_finish, evaluates,
        )

    def rows(self) -> list[int]:
        """Every row of the model."""
        return list(range(len(self.active)))

    def set_learning_rates(self, rates: Sequence[float]) -> None:
        for member, rate in zip(self.active, rates, strict=True):
            self.learning_rates[member] = rate

    def charge_segment(self) -> None:
        """Share the seconds of the training segment that ends now evenly among the active
        members, so that the members' ``train_time_s`` add up to the run's training time."""
        share = self.clock.segment() / len(self.active)
        for member in self.active:
            self.outcomes[member].train_time_s += share

    def evaluate(self, step: int, rows: list[int], learner: Learner, splits: dict[str, Any]) -> None:
        """Measure the models at ``rows`` on every evaluated split; record one row each."""
        if not self.evaluates:
            return
        with learner.evaluating():
            measured = {name: learner.measure(split, rows) for name, split in splits.items()}
        now = self.clock.elapsed()
        for k, row in enumerate(rows):
            member = self.active[row]
            by_split: dict[str, Measurement] = {
                name: (errors[k], losses[k]) for name, (errors, losses) in measured.items()
            }
            record = EvalRow.of_measurements(step, self.learning_rates[member], by_split, now)
            self.outcomes[member].record(record, self.target)
            if self.on_eval is not None:
                self.on_eval(member, record)

    def evaluate_all(self, step: int, learner: Learner, splits: dict[str, Any]) -> None:
        """End the training segment, evaluate every row, start the next segment."""
        self.charge_segment()
        self.evaluate(step, self.rows(), learner, splits)
        self.clock.restart_segment()

    def stop(self, step: int, error: str) -> None:
        """End the segment; finish every active member as ``failed`` with ``error`` at ``step``
        (its evaluation rows so far are kept); nothing stays active."""
        self.charge_segment()
        for member in self.active:
            self.outcomes[member].status = FAILED
            self.outcomes[member].error = error
        self.finish(self.rows(), step)
        self.active = []

    def finish(self, rows: list[int], step: int) -> None:
        now = self.clock.elapsed()
        for row in rows:
            member = self.active[row]
            outcome = self.outcomes[member]
            outcome.total_steps = step
            outcome.wall_time_s = now
            if self.on_finish is not None:
                self.on_finish(member, outcome)

    def diverge(self, step: int, rows: list[int], learner: Learner, splits: dict[str, Any]) -> list[int]:
        """End the segment; mark the members at ``rows`` diverged, evaluate them once more at
        ``step`` and finish them; drop them from :attr:`active`. Return the rows kept."""
        self.charge_segment()
        for row in rows:
            self.outcomes[self.active[row]].status = DIVERGED
        self.evaluate(step, rows, learner, splits)
        self.finish(rows, step)
        dropped = set(rows)
        keep = [row for row in range(len(self.active)) if row not in dropped]
        self.active = [self.active[row] for row in keep]
        self.clock.restart_segment()
        return keep


def train_steps(
    learner: Learner,
    schedules: Sequence[Callable[[int], float]],
    run: RunSettings,
    splits: dict[str, Any],
    group: TrialGroup,
) -> list[TrialOutcome]:
    """Train ``group``'s members (``schedules[m]`` is member ``m``'s learning rate by step) for
    ``run.steps`` updates, evaluating and checking for divergence as the module docstring says;
    return the outcomes in member order."""
    watch = DivergenceWatch(run)
    step = 0
    saving = run.checkpointing
    if saving is not None and saving.restored is not None:
        step = restore_state(saving.restored, learner, group, saving.keys(len(group.outcomes)))
    last_save = None if saving is None else saving.clock()
    group.clock.restart_segment()
    while step < run.steps and group.active:
        rates = [schedules[member](step) for member in group.active]
        group.set_learning_rates(rates)
        losses = learner.losses_and_gradients()
        bad = watch.bad_rows(step, losses)
        if bad:
            keep = group.diverge(step, bad, learner, splits)
            if not keep:
                break
            learner.keep(keep)
            rates = [rates[row] for row in keep]
        learner.update(rates)
        step += 1
        if run.evaluates_after(step):
            group.evaluate_all(step, learner, splits)
        if run.heartbeat is not None:
            run.heartbeat(step)
        if (
            saving is not None and last_save is not None and step < run.steps and watch.worst is None
            and saving.clock() - last_save >= saving.every_s
        ):
            group.charge_segment()  # the training time so far goes into the state
            try:
                saving.save(step, capture_state(step, learner, group, run.device, saving.keys(len(group.outcomes))))
            except CheckpointUnsupported:
                saving.every_s = math.inf  # e.g. a workload's own minibatch iterator: no checkpoints
            group.clock.restart_segment()
            last_save = saving.clock()
        if run.time_limit_s is not None and step < run.steps and group.clock.elapsed() >= run.time_limit_s:
            group.stop(step, time_limit_message(run.time_limit_s, step))
            return group.outcomes
    group.finish(group.rows(), step)
    return group.outcomes


def time_limit_message(limit_s: float, step: int) -> str:
    """The error of a trial stopped by its time limit."""
    return f"time limit of {limit_s:g} s reached at step {step}"

