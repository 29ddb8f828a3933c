"""The embedded MNIST-1D workload and the shared training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import workloads
from workloads.data.mnist1d import load_mnist1d

LINEAR = ("linear_decay", {"decay_steps_factor": 1.0, "decay_factor": 0.1})


def test_splits_are_disjoint_and_sized(tmp_path):
    arrays = load_mnist1d(tmp_path)
    assert arrays["x_train"].shape == (3000, 40)
    assert arrays["x_val"].shape == (1000, 40) and arrays["x_test"].shape == (1000, 40)
    assert set(np.unique(arrays["y_train"])) == set(range(10))
    # No example appears in two splits.
    rows = {split: {r.tobytes() for r in arrays[f"x_{split}"]} for split in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    # The cache is reused: a second load returns identical arrays without regenerating.
    again = load_mnist1d(tmp_path)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_same_seed_same_curve_and_different_seed_differs():
    w = workloads.get("mnist1d-mlp")
    args = ("adam", {"learning_rate": 3e-3}, *LINEAR)
    a = workloads.train(w, *args, seed=3, steps=60, eval_every=20)
    b = workloads.train(w, *args, seed=3, steps=60, eval_every=20)
    c = workloads.train(w, *args, seed=4, steps=60, eval_every=20)
    strip = lambda o: [(r.step, r.train_loss, r.val_error, r.test_loss) for r in o.rows]  # noqa: E731
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)
    assert [r.step for r in a.rows] == [20, 40, 60]
    assert a.status == "completed" and a.total_steps == 60


def test_training_learns_and_records_steps_to_target():
    w = workloads.get("mnist1d-mlp")
    out = workloads.train(w, "adam", {"learning_rate": 3e-3}, *LINEAR, seed=0, steps=400, eval_every=100)
    first, last = out.rows[0], out.rows[-1]
    assert last.train_loss < first.train_loss
    assert last.val_error < 0.6  # chance is 0.9
    summary = out.summary()
    assert summary["final_val_error"] == last.val_error
    assert summary["best_val_error"] == min(r.val_error for r in out.rows)
    if out.steps_to_target is not None:
        hit = next(r for r in out.rows if r.val_error <= w.target_value)
        assert out.steps_to_target == hit.step
    assert 0 < out.train_time_s <= out.wall_time_s


def test_schedule_sets_the_learning_rate_of_each_evaluation():
    w = workloads.get("mnist1d-mlp")
    out = workloads.train(w, "sgd", {"learning_rate": 0.1}, *LINEAR, seed=0, steps=40, eval_every=20)
    # Row at step s reports the rate used for update s-1: 0.1 * (1 - 0.9 * (s-1)/40).
    assert [r.learning_rate for r in out.rows] == pytest.approx([0.1 * (1 - 0.9 * 19 / 40), 0.1 * (1 - 0.9 * 39 / 40)])


def test_divergence_stops_training_and_marks_the_trial():
    w = workloads.get("mnist1d-mlp")
    out = workloads.train(w, "sgd", {"learning_rate": 1e4}, "constant", {}, seed=0, steps=200, eval_every=50)
    assert out.status == "diverged"
    assert out.total_steps < 200
    assert len(out.rows) == 1 and out.rows[0].step == out.total_steps
    assert not math.isfinite(out.rows[0].train_loss) or out.rows[0].train_loss > 1


def test_unknown_workload_lists_choices():
    with pytest.raises(ValueError, match="mnist1d-mlp"):
        workloads.get("imagenet-vit")


def test_device_defaults_to_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert workloads.pick_device().type == expected
