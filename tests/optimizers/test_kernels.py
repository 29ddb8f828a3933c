"""The foreach and single-tensor paths against each other and against the float64 reference,
on random problems and random hyperparameters, over whole trajectories; which path runs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import optimizers
from tests.optimizers.reference import reference_run

NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"]
SHAPES = [(7, 5), (5,), (3, 2, 2), (1,)]
STEPS = 30


def random_hparams(name: str, rng: np.random.Generator) -> dict[str, float]:
    """Hyperparameters drawn log-uniformly over wide ranges (as a wide search would)."""
    def log(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    hp: dict[str, float] = {"weight_decay": log(1e-5, 1e-1), "decoupled_weight_decay": log(1e-5, 1e-1)}
    if name in ("momentum", "nesterov", "rmsprop"):
        hp["momentum"] = 1.0 - log(1e-3, 1.0)
    if name == "rmsprop":
        hp["rho"] = 1.0 - log(1e-4, 1.0)
        hp["epsilon"] = log(1e-10, 1.0)
    if name in ("adam", "nadam"):
        hp["beta1"] = 1.0 - log(1e-3, 1.0)
        hp["beta2"] = 1.0 - log(1e-4, 1.0)
        hp["epsilon"] = log(1e-8, 1e2)
    return hp


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    theta0 = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    lrs = list(np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), size=STEPS)))
    return rng, theta0, grads, lrs


def _run(name, hp, theta0, grads, lrs, foreach, dtype=torch.float64):
    params = [torch.nn.Parameter(torch.tensor(t, dtype=dtype)) for t in theta0]
    opt = optimizers.create(name, params, foreach=foreach, learning_rate=lrs[0], **hp)
    trajectory = []
    for g_step, lr in zip(grads, lrs, strict=True):
        opt.param_groups[0]["lr"] = float(lr)
        for p, g in zip(params, g_step, strict=True):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        trajectory.append([p.detach().clone() for p in params])
    return opt, trajectory


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", NAMES)
def test_foreach_equals_single_tensor_bitwise_and_matches_reference(name, seed):
    rng, theta0, grads, lrs = _problem(seed)
    hp = random_hparams(name, rng)
    opt_f, traj_f = _run(name, hp, theta0, grads, lrs, foreach=True)
    opt_s, traj_s = _run(name, hp, theta0, grads, lrs, foreach=False)
    for step_f, step_s in zip(traj_f, traj_s, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(step_f, step_s, strict=True))
    for st_f, st_s in zip(opt_f.state.values(), opt_s.state.values(), strict=True):
        assert st_f["step"] == st_s["step"] == STEPS
        assert all(torch.equal(st_f[k], st_s[k]) for k in st_f if k != "step")
    for i in range(len(SHAPES)):
        ref = reference_run(name, hp, theta0[i], [g[i] for g in grads], lrs)
        ours = np.stack([step[i].numpy() for step in traj_f])
        np.testing.assert_allclose(ours, np.stack(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_state_saved_by_one_kernel_continues_bitwise_in_the_other(name):
    rng, theta0, grads, lrs = _problem(11)
    hp = random_hparams(name, rng)
    params = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
    opt = optimizers.create(name, params, foreach=False, learning_rate=0.01, **hp)
    for g_step in grads[:10]:
        for p, g in zip(params, g_step, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    saved_state = copy.deepcopy(opt.state_dict())
    saved_params = [p.detach().clone() for p in params]
    twins = [torch.nn.Parameter(p.clone()) for p in saved_params]
    twin = optimizers.create(name, twins, foreach=True, learning_rate=0.01, **hp)
    twin.load_state_dict(saved_state)
    for g_step in grads[10:]:
        for ps in (params, twins):
            for p, g in zip(ps, g_step, strict=True):
                p.grad = torch.tensor(g)
        opt.step()
        twin.step()
    assert all(torch.equal(a, b) for a, b in zip(params, twins, strict=True))


def test_parameters_that_start_late_get_their_own_bias_correction():
    # b was frozen for the first 3 steps: its t restarts at 0, unlike a's (per-parameter steps
    # inside one foreach bucket take the list-of-scalars path).
    a = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    for foreach in (True, False):
        pa_, pb = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
        opt = optimizers.create("adam", [pa_, pb], foreach=foreach, learning_rate=0.1, epsilon=1.0)
        for step in range(5):
            pa_.grad = torch.full((3,), 0.5, dtype=torch.float64)
            pb.grad = torch.full((3,), 0.5, dtype=torch.float64) if step >= 3 else None
            opt.step()
        ref_a = reference_run("adam", {"epsilon": 1.0}, np.ones(3), [np.full(3, 0.5)] * 5, [0.1] * 5)
        ref_b = reference_run("adam", {"epsilon": 1.0}, np.ones(3), [np.full(3, 0.5)] * 2, [0.1] * 2)
        np.testing.assert_allclose(pa_.detach().numpy(), ref_a[-1], rtol=1e-12)
        np.testing.assert_allclose(pb.detach().numpy(), ref_b[-1], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_dtypes_in_one_group_are_bucketed(name):
    rng, theta0, grads, lrs = _problem(3)
    hp = random_hparams(name, rng)
    p64 = torch.nn.Parameter(torch.tensor(theta0[0]))
    p32 = torch.nn.Parameter(torch.tensor(theta0[0], dtype=torch.float32))
    opt = optimizers.create(name, [p64, p32], foreach=True, learning_rate=0.01, **hp)
    for g_step in grads[:5]:
        p64.grad = torch.tensor(g_step[0])
        p32.grad = torch.tensor(g_step[0], dtype=torch.float32)
        opt.step()
    assert p32.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in opt.state[p32].values() if torch.is_tensor(v))
    np.testing.assert_allclose(p32.detach().numpy(), p64.detach().numpy(), rtol=2e-4, atol=2e-5)


def test_decoupled_weight_decay_by_hand():
    # theta=1, g=0, lr=0.1, lambda=0.5: theta <- 1 * (1 - 0.05) = 0.95 for sgd (no gradient step).
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = optimizers.create("sgd", [p], learning_rate=0.1, decoupled_weight_decay=0.5)
    p.grad = torch.zeros(1, dtype=torch.float64)
    opt.step()
    assert p.item() == pytest.approx(0.95, abs=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_kernels_stay_bitwise_equal_when_parameters_have_different_step_counts(name):
    rng, theta0, grads, lrs = _problem(5)
    hp = random_hparams(name, rng)
    runs = []
    for foreach in (True, False):
        params = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
        opt = optimizers.create(name, params, foreach=foreach, learning_rate=0.01, **hp)
        for step, g_step in enumerate(grads[:12]):
            for i, (p, g) in enumerate(zip(params, g_step, strict=True)):
                p.grad = None if (i == 1 and step < 4) else torch.tensor(g)  # params[1] starts late
            opt.step()
        runs.append(params)
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


# --------------------------------------------------------------------------------------------
# Default kernel: as torch.optim, foreach only when every updated parameter is a dense CUDA tensor
# --------------------------------------------------------------------------------------------


def _spy_paths(monkeypatch) -> list[str]:
    """The ops table of each call GeneralizedOptimizer makes to the one update function:
    "single" (TENSOR_OPS, one call per tensor) or "foreach" (FOREACH_OPS, one per bucket)."""
    import optimizers.generalized as generalized
    from optimizers.update import FOREACH_OPS, TENSOR_OPS

    calls: list[str] = []
    real = generalized.apply_update

    def spy(ops, *args):
        calls.append({id(TENSOR_OPS): "single", id(FOREACH_OPS): "foreach"}[id(ops)])
        return real(ops, *args)

    monkeypatch.setattr(generalized, "apply_update", spy)
    return calls


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("foreach", "expected"), [(None, ["single", "single"]), (False, ["single", "single"]), (True, ["foreach"])]
)
def test_default_kernel_on_cpu_is_single_tensor(name, foreach, expected, monkeypatch):
    params = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
    opt = optimizers.create(name, params, foreach=foreach)
    calls = _spy_paths(monkeypatch)
    for p in params:
        p.grad = torch.full_like(p, 0.5)
    opt.step()
    assert calls == expected


def test_default_kernel_rule_follows_the_devices():
    from types import SimpleNamespace

    opt = optimizers.create("adam", [torch.nn.Parameter(torch.ones(2))])
    cuda = SimpleNamespace(device=torch.device("cuda", 0), is_sparse=False)
    cpu = SimpleNamespace(device=torch.device("cpu"), is_sparse=False)
    sparse_cuda = SimpleNamespace(device=torch.device("cuda", 0), is_sparse=True)
    assert opt.uses_foreach([cuda, cuda])
    assert not opt.uses_foreach([cuda, cpu])
    assert not opt.uses_foreach([cpu])
    assert not opt.uses_foreach([cuda, sparse_cuda])
    opt.foreach = False
    assert not opt.uses_foreach([cuda])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_default_kernel_on_cuda_is_foreach(monkeypatch):
    params = [torch.nn.Parameter(torch.ones(3, device="cuda"))]
    opt = optimizers.create("adam", params)
    calls = _spy_paths(monkeypatch)
    params[0].grad = torch.ones_like(params[0])
    opt.step()
    assert calls == ["foreach"]


@pytest.mark.parametrize("bad", ["no", 1, 0, "False"])
def test_foreach_must_be_a_bool_or_none(bad):
    params = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match=rf"foreach={bad!r} is not a bool; valid values: True, False or None"):
        optimizers.create("sgd", params, foreach=bad)
    from optimizers.presets import STRUCTURES

    with pytest.raises(ValueError, match=rf"foreach={bad!r} is not a bool"):
        optimizers.GeneralizedOptimizer(params, {"lr": 0.1}, STRUCTURES["sgd"], foreach=bad)
