"""The embedded MNIST-1D workload and the shared training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import workloads
from optcompare.errors import InputError
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
    out = workloads.train(w, "adam", {"learning_rate": 3e-3}, *LINEAR, seed=0, steps=400, eval_every=50)
    first, last = out.rows[0], out.rows[-1]
    assert last.train_loss < first.train_loss
    assert last.val_error < 0.6  # chance is 0.9
    summary = out.summary()
    assert summary["final_val_error"] == last.val_error
    assert summary["best_val_error"] == min(r.val_error for r in out.rows)
    # These settings pass the 0.5 target about halfway through (step 200 of 400 on CPU), with
    # evaluations before it that do not: the recorded step is the first evaluation at or below.
    hits = [r.step for r in out.rows if r.val_error <= w.target_value]
    assert hits and hits[0] <= 300 and hits[0] > out.rows[0].step
    assert out.steps_to_target == hits[0]
    assert summary["steps_to_target"] == hits[0]
    assert all(r.val_error > w.target_value for r in out.rows if r.step < hits[0])
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


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, available: bool, count: int = 2, current: int = 1) -> None:
    """Make torch report ``count`` CUDA devices (current one ``current``) or none."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if available else 0)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)


def test_device_defaults_to_cuda_when_present(monkeypatch):
    _fake_cuda(monkeypatch, available=True)
    assert workloads.pick_device() == torch.device("cuda", 1)  # the current device, with its index
    assert workloads.pick_device("cuda") == torch.device("cuda", 1)
    assert workloads.pick_device("cuda:0") == torch.device("cuda", 0)
    assert workloads.pick_device("cpu") == torch.device("cpu")


def test_device_defaults_to_cpu_without_cuda(monkeypatch):
    _fake_cuda(monkeypatch, available=False)
    assert workloads.pick_device() == torch.device("cpu")
    assert workloads.pick_device(None) == workloads.pick_device("") == torch.device("cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_requested_without_cuda_is_an_input_error(monkeypatch, device):
    _fake_cuda(monkeypatch, available=False)
    with pytest.raises(InputError, match=rf"device '{device}' was requested but CUDA is not available"):
        workloads.pick_device(device)
    w = workloads.get("mnist1d-mlp")
    with pytest.raises(InputError, match="CUDA is not available"):
        workloads.train(w, "adam", {"learning_rate": 1e-3}, "constant", {}, seed=0, steps=1, device=device)


def test_cuda_index_beyond_the_visible_devices_is_an_input_error(monkeypatch):
    _fake_cuda(monkeypatch, available=True, count=2)
    assert workloads.pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(InputError, match=r"'cuda:3' was requested but only 2 CUDA device\(s\) are visible"):
        workloads.pick_device("cuda:3")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1"])
def test_unparsable_device_is_an_input_error(device):
    with pytest.raises(InputError, match=rf"device '{device}' is not a device torch understands.*'cuda:N'"):
        workloads.pick_device(device)
