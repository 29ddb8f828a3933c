"""The training loop of one trial on MNIST-1D: determinism, learning and steps-to-target, the
scheduled learning rate, divergence at every cadence, mixed precision and the overrides."""

from __future__ import annotations

import math

import pytest
import torch

import workloads
import workloads.run as run
from optcompare.errors import InputError
from workloads.mnist1d_mlp import Mnist1dMlp

ADAM = ("adam", {"learning_rate": 3e-3}, "constant", {})
SGD_EXPLODING = ("sgd", {"learning_rate": 1e4}, "constant", {})
LINEAR = ("linear_decay", {"decay_steps_factor": 1.0, "decay_factor": 0.1})
TARGET = 0.5


@pytest.fixture(scope="module")
def mlp() -> workloads.Workload:
    return workloads.get("mnist1d-mlp")


def test_same_seed_same_curve_and_different_seed_differs(mlp):
    args = ("adam", {"learning_rate": 3e-3}, *LINEAR)
    a = workloads.train(mlp, *args, seed=3, steps=60, eval_every=20)
    b = workloads.train(mlp, *args, seed=3, steps=60, eval_every=20)
    c = workloads.train(mlp, *args, seed=4, steps=60, eval_every=20)
    strip = lambda o: [(r.step, r.train_loss, r.val_error, r.test_loss) for r in o.rows]  # noqa: E731
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)
    assert [r.step for r in a.rows] == [20, 40, 60]
    assert a.status == "completed" and a.total_steps == 60


def test_training_learns_and_records_steps_to_target(mlp):
    # The target is given (0.5, the workload's before 2026-12-07): the default target is set for
    # the full budget, far below what 400 steps reach.
    out = workloads.train(mlp, "adam", {"learning_rate": 3e-3}, *LINEAR, seed=0, steps=400, eval_every=50,
                          target_value=TARGET)
    first, last = out.rows[0], out.rows[-1]
    assert last.train_loss < first.train_loss
    assert last.val_error < 0.6  # chance is 0.9
    summary = out.summary()
    assert summary["final_val_error"] == last.val_error
    assert summary["best_val_error"] == min(r.val_error for r in out.rows)
    assert summary["best_val_step"] == min(out.rows, key=lambda r: (r.val_error, r.step)).step
    # These settings pass the 0.5 target about halfway through (step 200 of 400 on CPU), with
    # evaluations before it that do not: the recorded step is the first evaluation at or below.
    hits = [r.step for r in out.rows if r.val_error <= TARGET]
    assert hits and hits[0] <= 300 and hits[0] > out.rows[0].step
    assert out.steps_to_target == hits[0]
    assert summary["steps_to_target"] == hits[0]
    assert all(r.val_error > TARGET for r in out.rows if r.step < hits[0])
    assert 0 < out.train_time_s <= out.wall_time_s


class _LossTarget(Mnist1dMlp):
    target_metric = "val_loss"
    target_value = 1.9


def test_target_on_validation_loss():
    out = workloads.train(_LossTarget(), *ADAM, seed=0, steps=200, eval_every=50)
    hits = [r.step for r in out.rows if r.val_loss <= 1.9]
    assert out.steps_to_target == (hits[0] if hits else None)
    assert out.steps_to_target is not None


def test_a_target_metric_outside_the_schemas_is_refused(mlp):
    with pytest.raises(TypeError, match="target_metric 'accuracy' is not one of"):

        class Bad(Mnist1dMlp):
            target_metric = "accuracy"

    instance = Mnist1dMlp()
    instance.target_metric = "accuracy"  # set on an instance, past the class check
    with pytest.raises(ValueError, match="target_metric 'accuracy'"):
        workloads.train(instance, *ADAM, seed=0, steps=1)


def test_schedule_sets_the_learning_rate_of_each_evaluation(mlp):
    out = workloads.train(mlp, "sgd", {"learning_rate": 0.1}, *LINEAR, seed=0, steps=40, eval_every=20)
    # Row at step s reports the rate used for update s-1: 0.1 * (1 - 0.9 * (s-1)/40).
    assert [r.learning_rate for r in out.rows] == pytest.approx([0.1 * (1 - 0.9 * 19 / 40), 0.1 * (1 - 0.9 * 39 / 40)])


class _LowBound(Mnist1dMlp):
    divergence_loss = 0.5
    """Below the untrained model's loss (about 2.3): every trial crosses it on its first step,
    with a finite loss that only the comparison with the workload's bound catches."""


def _exploded(r: workloads.EvalRow) -> bool:
    return not math.isfinite(r.train_loss) or r.train_loss > 1


def _finite_above_the_bound(r: workloads.EvalRow) -> bool:
    return math.isfinite(r.train_loss) and 0.5 < r.train_loss < 10 and math.isfinite(r.val_loss)


DIVERGING = {
    # id: (workload, optimizer, divergence_check_every, where it stops, what its one row shows)
    "exploding-every-step": (Mnist1dMlp, SGD_EXPLODING, None, lambda t: t < 200, _exploded),
    "exploding-every-7": (Mnist1dMlp, SGD_EXPLODING, 7, lambda t: t < 200 and (t + 1) % 7 == 0, lambda r: True),
    # Stopped at the first check, before that update.
    "above-the-bound-every-step": (_LowBound, ADAM, 1, lambda t: t == 0, _finite_above_the_bound),
    "above-the-bound-every-7": (_LowBound, ADAM, 7, lambda t: t == 6, _finite_above_the_bound),
}


@pytest.mark.parametrize(("make", "optimizer", "check_every", "stops", "shows"), DIVERGING.values(), ids=DIVERGING)
def test_divergence_stops_training_and_marks_the_trial(make, optimizer, check_every, stops, shows):
    out = workloads.train(make(), *optimizer, seed=0, steps=200, eval_every=50, divergence_check_every=check_every)
    assert out.status == "diverged" and out.summary()["status"] == "diverged"
    assert stops(out.total_steps), out.total_steps
    assert len(out.rows) == 1 and out.rows[0].step == out.total_steps  # evaluated once, at the stop
    assert shows(out.rows[0]), out.rows[0]


def test_cadence_does_not_change_a_healthy_curve(mlp):
    a = workloads.train(mlp, *ADAM, seed=5, steps=40, eval_every=20)
    b = workloads.train(mlp, *ADAM, seed=5, steps=40, eval_every=20, divergence_check_every=9)
    assert [r.val_loss for r in a.rows] == [r.val_loss for r in b.rows]


def test_mixed_precision_refuses_cpu_clearly(mlp):
    with pytest.raises(InputError, match="mixed_precision=True needs a CUDA device"):
        workloads.train(mlp, *ADAM, seed=0, steps=2, device="cpu", mixed_precision=True)


def test_mixed_precision_path_runs_bf16_autocast(monkeypatch):
    # Exercise the autocast code path on CPU (production allows it on CUDA only).
    monkeypatch.setattr(run, "AUTOCAST_DEVICES", ("cuda", "cpu"))
    seen: list[torch.dtype] = []
    w = workloads.get("mnist1d-mlp")
    original = w.loss

    def spy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(logits.dtype)
        return original(logits, y)

    monkeypatch.setattr(w, "loss", spy)
    out = workloads.train(w, *ADAM, seed=0, steps=20, eval_every=10, device="cpu", mixed_precision=True)
    assert out.status == "completed" and seen and set(seen) == {torch.bfloat16}
    assert all(torch.isfinite(torch.tensor(r.val_loss)) for r in out.rows)


def test_batch_size_override_and_steps_beyond_one_epoch():
    w = workloads.get("digits-cnn")
    out = workloads.train(w, *ADAM, seed=0, steps=5, eval_every=5, batch_size=500)
    assert out.status == "completed" and out.total_steps == 5  # 1197 // 500 = 2 steps per epoch
    with pytest.raises(InputError, match="fewer than batch_size=5000"):
        workloads.train(w, *ADAM, seed=0, steps=1, batch_size=5000)


@pytest.mark.parametrize(("steps", "eval_every"), [(0, 10), (10, 0), (-1, 1)])
def test_a_budget_or_interval_below_one_is_an_input_error(mlp, steps, eval_every):
    with pytest.raises(InputError, match=rf"steps \({steps}\) and eval_every \({eval_every}\) of a trial must be >= 1"):
        workloads.train(mlp, *ADAM, seed=0, steps=steps, eval_every=eval_every)
