"""The training loop shared by every workload.

``train(workload, optimizer, hparams, schedule, seed)`` runs ``steps`` updates with the
scheduled learning rate, evaluates every ``eval_every`` steps and at the end, stops at a
non-finite or too-large training loss (status ``diverged``) and records the first evaluated step
whose target metric reaches the workload's target. Same seed, same curve on CPU.

The inner loop avoids host synchronisation: on CPU the loss is read every step (free there); on
an accelerator a running maximum of the loss stays on the device and is read every
``divergence_check_every`` steps and at each evaluation, so a diverged trial stops within that
many steps of the first bad loss. Optional bf16 autocast (``mixed_precision=True``) needs CUDA.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

import optimizers
from optcompare.errors import InputError

from .base import Workload

__all__ = ["EvalRow", "TrialOutcome", "pick_device", "train"]

DIVERGENCE_CHECK_EVERY = 20
"""Steps between divergence checks on an accelerator (every step on CPU)."""
_AUTOCAST_DEVICES = ("cuda",)
"""Device types on which ``mixed_precision=True`` runs bf16 autocast."""
TARGET_METRICS = ("val_error", "val_loss")


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


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """``preferred`` if given, else CUDA when present, else CPU. A CUDA device without an index
    gets the current one, so that it compares equal to the device of tensors placed on it.

    :class:`~optcompare.errors.InputError` when ``preferred`` is not a device string torch
    understands, names CUDA while CUDA is not available (a CPU-only torch build, or no GPU
    visible), or names a CUDA index beyond the visible devices.
    """
    if not preferred:
        preferred = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(preferred)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InputError(
            f"device {preferred!r} is not a device torch understands ({exc}); use 'cpu', 'cuda' or "
            "'cuda:N', or leave the device unset to use CUDA when present and the CPU otherwise"
        ) from exc
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        why = (
            f"this torch build ({torch.__version__}) has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible to this process"
        )
        raise InputError(
            f"device {str(preferred)!r} was requested but CUDA is not available: {why}. "
            "Use device 'cpu', or leave the device unset to pick CUDA only when present."
        )
    count = torch.cuda.device_count()
    if dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if dev.index >= count:
        raise InputError(
            f"device {str(preferred)!r} was requested but only {count} CUDA device(s) are visible "
            f"(cuda:0 to cuda:{count - 1}); pick one of those or leave the index out"
        )
    return dev


@dataclass(frozen=True)
class RunSettings:
    """What a training run resolves before it starts (shared by :func:`train` and bundles)."""

    total: int
    every: int
    device: torch.device
    check_every: int
    autocast: Callable[[], contextlib.AbstractContextManager]


def resolve_run(
    workload: Workload,
    steps: int | None,
    eval_every: int | None,
    device: str | None,
    mixed_precision: bool,
    divergence_check_every: int | None,
    unit: str,
) -> RunSettings:
    """Budget, evaluation interval, device, divergence-check interval and autocast of a run;
    ValueError/InputError for bad values (``unit`` names the run in messages)."""
    total = int(steps if steps is not None else workload.step_budget)
    every = int(eval_every if eval_every is not None else workload.eval_interval)
    if total < 1 or every < 1:
        raise ValueError(f"steps ({total}) and eval_every ({every}) must be >= 1")
    if workload.target_metric not in TARGET_METRICS:
        raise ValueError(
            f"workload {workload.name!r}: target_metric {workload.target_metric!r} is not one of {TARGET_METRICS}"
        )
    dev = pick_device(device)
    if mixed_precision and dev.type not in _AUTOCAST_DEVICES:
        raise InputError(
            f"mixed_precision=True needs a CUDA device (bf16 autocast); the {unit} runs on {dev.type!r}. "
            "Turn mixed precision off or run on a GPU."
        )
    check_every = int(divergence_check_every or (1 if dev.type == "cpu" else DIVERGENCE_CHECK_EVERY))
    autocast = (
        (lambda: torch.autocast(dev.type, dtype=torch.bfloat16))
        if mixed_precision
        else contextlib.nullcontext
    )
    return RunSettings(total, every, dev, check_every, autocast)


def evaluation_splits(workload: Workload, data: dict) -> dict:
    """The splits each evaluation measures: the train-eval subset, validation and test."""
    return {"train": workload.train_eval_split(data["train"]), "val": data["val"], "test": data["test"]}


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
) -> TrialOutcome:
    """Train ``workload`` with optimizer ``optimizer_name`` and return the outcome.

    ``hparams`` are the optimizer's hyperparameters (``learning_rate`` is lr_0 of the schedule).
    Evaluation happens after every ``eval_every`` updates and after the last one; each
    evaluation is passed to ``on_eval`` as it happens. On divergence the model is evaluated
    once more at the step where it was detected, so every trial has at least one row.

    ``batch_size`` overrides the workload's (tests, small machines). ``mixed_precision`` runs
    forward passes under bf16 autocast on CUDA (no loss scaling is needed for bf16); on other
    devices it raises :class:`~optcompare.errors.InputError`. ``divergence_check_every``
    defaults to 1 on CPU and :data:`DIVERGENCE_CHECK_EVERY` elsewhere.
    """
    start = time.perf_counter()
    run = resolve_run(workload, steps, eval_every, device, mixed_precision, divergence_check_every, "trial")
    total, every, dev, check_every, autocast = run.total, run.every, run.device, run.check_every, run.autocast
    data = workload.data(dev)
    eval_sets = evaluation_splits(workload, data)
    torch.manual_seed(seed)  # build_model seeds too; this also fixes dropout draws for the trial
    model = workload.build_model(seed).to(dev)
    model.train()
    opt = optimizers.create(optimizer_name, list(model.parameters()), **hparams)
    lr_at = optimizers.make_schedule(schedule_name, hparams["learning_rate"], total, **schedule_params)
    batches = workload.train_batches(data["train"], seed, batch_size=batch_size)
    outcome = TrialOutcome(status="completed")
    target = workload.target_value
    on_loss = workload.target_metric == "val_loss"

    def evaluate(step: int, lr: float) -> None:
        with autocast():
            _, train_loss = workload.evaluate(model, eval_sets["train"])
            val_error, val_loss = workload.evaluate(model, eval_sets["val"])
            test_error, test_loss = workload.evaluate(model, eval_sets["test"])
        row = EvalRow(
            step, lr, train_loss, val_error, val_loss, test_error, test_loss,
            time.perf_counter() - start,
        )
        outcome.rows.append(row)
        if outcome.steps_to_target is None and (val_loss if on_loss else val_error) <= target:
            outcome.steps_to_target = step
        if on_eval is not None:
            on_eval(row)

    limit = workload.divergence_loss
    groups = opt.param_groups
    step = 0
    lr = lr_at(0)
    worst: torch.Tensor | None = None
    segment_start = time.perf_counter()
    while step < total:
        lr = lr_at(step)
        for group in groups:
            group["lr"] = lr
        x, y = next(batches)
        if x.device != dev:
            x = x.to(dev, non_blocking=True)
            y = y.to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = workload.loss(model(x), y)
        loss.backward()
        if check_every == 1:
            if not loss.item() <= limit:  # also catches NaN
                outcome.status = "diverged"
                break
        else:
            worst = loss.detach() if worst is None else torch.maximum(worst, loss.detach())
            if (step + 1) % check_every == 0 or (step + 1) % every == 0 or step + 1 == total:
                if not worst.item() <= limit:
                    outcome.status = "diverged"
                    break
                worst = None
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
