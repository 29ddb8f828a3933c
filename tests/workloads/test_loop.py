"""The shared training loop: mixed precision, divergence cadence, target metrics, overrides."""

from __future__ import annotations

import math

import pytest
import torch

import workloads
import workloads.loop as loop
from optcompare.errors import InputError
from workloads.mnist1d_mlp import Mnist1dMlp

ADAM = ("adam", {"learning_rate": 3e-3}, "constant", {})


def test_mixed_precision_refuses_cpu_clearly():
    w = workloads.get("mnist1d-mlp")
    with pytest.raises(InputError, match="mixed_precision=True needs a CUDA device"):
        workloads.train(w, *ADAM, seed=0, steps=2, device="cpu", mixed_precision=True)


def test_mixed_precision_path_runs_bf16_autocast(monkeypatch):
    # Exercise the autocast code path on CPU (production allows it on CUDA only).
    monkeypatch.setattr(loop, "_AUTOCAST_DEVICES", ("cuda", "cpu"))
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


def test_divergence_detected_at_a_cadence_still_stops_and_marks():
    w = workloads.get("mnist1d-mlp")
    out = workloads.train(
        w, "sgd", {"learning_rate": 1e4}, "constant", {}, seed=0, steps=200, eval_every=50,
        divergence_check_every=7,
    )
    assert out.status == "diverged"
    assert out.total_steps < 200 and (out.total_steps + 1) % 7 == 0
    assert len(out.rows) == 1 and out.rows[0].step == out.total_steps


def test_cadence_does_not_change_a_healthy_curve():
    w = workloads.get("mnist1d-mlp")
    a = workloads.train(w, *ADAM, seed=5, steps=40, eval_every=20)
    b = workloads.train(w, *ADAM, seed=5, steps=40, eval_every=20, divergence_check_every=9)
    assert [r.val_loss for r in a.rows] == [r.val_loss for r in b.rows]


class _LossTarget(Mnist1dMlp):
    target_metric = "val_loss"
    target_value = 1.9


def test_target_on_validation_loss():
    out = workloads.train(_LossTarget(), *ADAM, seed=0, steps=200, eval_every=50)
    hits = [r.step for r in out.rows if r.val_loss <= 1.9]
    assert out.steps_to_target == (hits[0] if hits else None)
    assert out.steps_to_target is not None


def test_batch_size_override_and_steps_beyond_one_epoch():
    w = workloads.get("digits-cnn")
    out = workloads.train(w, *ADAM, seed=0, steps=5, eval_every=5, batch_size=500)
    assert out.status == "completed" and out.total_steps == 5  # 1197 // 500 = 2 steps per epoch
    with pytest.raises(ValueError, match="fewer than batch_size=5000"):
        workloads.train(w, *ADAM, seed=0, steps=1, batch_size=5000)


def test_bad_target_metric_is_refused():
    class Bad(Mnist1dMlp):
        target_metric = "accuracy"

    with pytest.raises(ValueError, match="target_metric 'accuracy'"):
        workloads.train(Bad(), *ADAM, seed=0, steps=1)


class _LowBound(Mnist1dMlp):
    divergence_loss = 0.5
    """Below the untrained model's loss (about 2.3): every trial crosses it on its first step."""


@pytest.mark.parametrize("check_every", [1, 7])
def test_a_finite_loss_above_the_workload_bound_is_divergence(check_every):
    # The other divergence tests blow the loss up to inf/NaN; this one stays finite and is
    # caught only by the comparison with the workload's divergence_loss.
    out = workloads.train(
        _LowBound(), *ADAM, seed=0, steps=50, eval_every=25, divergence_check_every=check_every
    )
    assert out.status == "diverged"
    assert out.total_steps == check_every - 1  # stopped at the first check, before that update
    assert len(out.rows) == 1 and out.rows[0].step == out.total_steps
    row = out.rows[0]
    assert math.isfinite(row.train_loss) and 0.5 < row.train_loss < 10
    assert math.isfinite(row.val_loss)
    assert out.summary()["status"] == "diverged"


def test_a_finite_loss_above_the_workload_bound_is_divergence_in_a_bundle():
    from workloads.bundle import BundleMember, train_bundle

    members = [BundleMember({"learning_rate": 3e-3}, {}, seed=s) for s in (0, 1)]
    outcomes = train_bundle(_LowBound(), "adam", members, "constant", steps=50, eval_every=25)
    for out in outcomes:
        assert out.status == "diverged" and out.total_steps == 0
        assert len(out.rows) == 1 and math.isfinite(out.rows[0].train_loss) and out.rows[0].train_loss > 0.5
