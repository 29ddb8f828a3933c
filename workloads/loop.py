"""The training loop shared by every workload.

``train(workload, optimizer, hparams, schedule, seed)`` runs ``steps`` updates with the
scheduled learning rate, evaluates every ``eval_every`` steps and at the end, stops at the first
non-finite or too-large training loss (status ``diverged``) and records the first evaluated step
whose target metric reaches the workload's target. Same seed, same curve on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

import optimizers

from .base import Workload

__all__ = ["EvalRow", "TrialOutcome", "pick_device", "train"]


@dataclass(frozen=True)
class EvalRow:
    """One evaluation of the model: a row of the ``curves`` table (less ids)."""

    step: int
    learning_rate: float
    train_loss: float
    val_error: float
    val_loss: float
    test_error: float
    test_loss: float
    wall_time_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class TrialOutcome:
    """What one training run produced: its status, evaluations and timing."""

    status: str
    """``completed`` or ``diverged``."""
    rows: list[EvalRow] = field(default_factory=list)
    total_steps: int = 0
    steps_to_target: int | None = None
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    """Seconds spent inside training steps (forward, backward, update, batch fetch)."""

    def summary(self) -> dict[str, float | int | str | None]:
        """The metric columns of a ``trials`` row."""
        last = self.rows[-1] if self.rows else None
        best = min(self.rows, key=lambda r: (r.val_error, r.step)) if self.rows else None
        nan = math.nan
        return {
            "status": self.status,
            "final_train_loss": last.train_loss if last else nan,
            "final_val_error": last.val_error if last else nan,
            "final_val_loss": last.val_loss if last else nan,
            "final_test_error": last.test_error if last else nan,
            "final_test_loss": last.test_loss if last else nan,
            "best_val_error": best.val_error if best else nan,
            "best_val_step": best.step if best else -1,
            "steps_to_target": self.steps_to_target,
            "total_steps": self.total_steps,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
        }


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` if given, else CUDA when present, else CPU."""
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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
) -> TrialOutcome:
    """Train ``workload`` with optimizer ``optimizer_name`` and return the outcome.

    ``hparams`` are the optimizer's hyperparameters (``learning_rate`` is lr_0 of the schedule).
    Evaluation happens after every ``eval_every`` updates and after the last one; each
    evaluation is passed to ``on_eval`` as it happens. On divergence the model is evaluated
    once more at the step where it diverged, so every trial has at least one row.
    """
    start = time.perf_counter()
    total = int(steps if steps is not None else workload.step_budget)
    every = int(eval_every if eval_every is not None else workload.eval_interval)
    if total < 1 or every < 1:
        raise ValueError(f"steps ({total}) and eval_every ({every}) must be >= 1")
    dev = pick_device(device)
    data = workload.data(dev)
    model = workload.build_model(seed).to(dev)
    model.train()
    opt = optimizers.create(optimizer_name, list(model.parameters()), **hparams)
    lr_at = optimizers.make_schedule(schedule_name, hparams["learning_rate"], total, **schedule_params)
    batches = workload.train_batches(data["train"], seed)
    outcome = TrialOutcome(status="completed")
    target = workload.target_value

    def evaluate(step: int, lr: float) -> None:
        train_error, train_loss = workload.evaluate(model, data["train"])
        del train_error
        val_error, val_loss = workload.evaluate(model, data["val"])
        test_error, test_loss = workload.evaluate(model, data["test"])
        row = EvalRow(
            step, lr, train_loss, val_error, val_loss, test_error, test_loss,
            time.perf_counter() - start,
        )
        outcome.rows.append(row)
        if outcome.steps_to_target is None and val_error <= target:
            outcome.steps_to_target = step
        if on_eval is not None:
            on_eval(row)

    step = 0
    lr = lr_at(0)
    segment_start = time.perf_counter()
    while step < total:
        lr = lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = next(batches)
        opt.zero_grad(set_to_none=True)
        loss = workload.loss(model(x), y)
        loss.backward()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) or loss_value > workload.divergence_loss:
            outcome.status = "diverged"
            break
        opt.step()
        step += 1
        if step % every == 0 or step == total:
            outcome.train_time_s += time.perf_counter() - segment_start
            evaluate(step, lr)
            segment_start = time.perf_counter()
    if outcome.status == "diverged":
        outcome.train_time_s += time.perf_counter() - segment_start
        evaluate(step, lr)
    outcome.total_steps = step
    outcome.wall_time_s = time.perf_counter() - start
    return outcome
