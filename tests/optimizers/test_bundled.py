"""BundledUpdate: B trials in one (B, P) update equal each trial's GeneralizedOptimizer."""

from __future__ import annotations

import pytest
import torch

import optimizers
from optimizers.presets import STRUCTURES

PRESETS = sorted(STRUCTURES)


def _member_hparams(name: str, index: int) -> dict[str, float]:
    """Distinct hyperparameters per trial, every structural coefficient varied."""
    hp = {"learning_rate": 0.01 * (index + 1), "weight_decay": 1e-3 * index, "decoupled_weight_decay": 2e-3 * (index % 2)}
    defaults = optimizers.get_spec(name).defaults
    if "momentum" in defaults:
        hp["momentum"] = 0.5 + 0.1 * index
    if "beta1" in defaults:
        hp["beta1"] = 0.8 + 0.05 * index
        hp["beta2"] = 0.99 - 0.02 * index
    if "rho" in defaults:
        hp["rho"] = 0.9 - 0.1 * index
    if "epsilon" in defaults:
        hp["epsilon"] = 10.0 ** (-8 + 2 * index)
    return hp


def _gradient(theta: torch.Tensor, step: int) -> torch.Tensor:
    """A deterministic, parameter-dependent gradient: a quadratic plus a tilt that depends on
    the step only (the same for every row, whatever the bundle size)."""
    gen = torch.Generator().manual_seed(step)
    return 0.7 * theta + torch.randn(theta.shape[-1], generator=gen, dtype=theta.dtype)


@pytest.mark.parametrize("name", PRESETS)
def test_bundled_rows_equal_each_trial_alone_in_float64(name):
    bundle, params = 4, 37
    start = torch.randn(bundle, params, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hparams = [_member_hparams(name, i) for i in range(bundle)]
    schedules = [lambda t, hp=hp: hp["learning_rate"] * (1.0 - t / 40.0) for hp in hparams]
    theta = start.clone()
    update = optimizers.BundledUpdate(name, hparams)
    for t in range(25):
        grad = torch.stack([_gradient(theta[i], t) for i in range(bundle)])
        update.step(theta, grad, torch.tensor([s(t) for s in schedules], dtype=torch.float64))
    for i in range(bundle):
        p = start[i].clone().requires_grad_(True)
        alone = optimizers.create(name, [p], **hparams[i])
        for t in range(25):
            for group in alone.param_groups:
                group["lr"] = schedules[i](t)
            p.grad = _gradient(p.detach(), t)
            alone.step()
        torch.testing.assert_close(theta[i], p.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "nesterov"])
def test_keep_drops_trials_and_the_rest_continue_unchanged(name):
    hparams = [_member_hparams(name, i) for i in range(3)]
    full = torch.randn(3, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    kept = full[[0, 2]].clone()
    a, b = optimizers.BundledUpdate(name, hparams), optimizers.BundledUpdate(name, [hparams[0], hparams[2]])
    for t in range(10):
        if t == 4:
            a.keep(torch.tensor([0, 2]))
            full = full[[0, 2]]
        lr = [0.01, 0.02, 0.03] if full.shape[0] == 3 else [0.01, 0.03]
        a.step(full, _gradient(full, t), torch.tensor(lr, dtype=torch.float64))
        b.step(kept, _gradient(kept, t), torch.tensor([0.01, 0.03], dtype=torch.float64))
    # b never had the middle trial: the survivors of a must match it exactly (state kept per row).
    torch.testing.assert_close(full, kept, rtol=0, atol=0)


def test_unbundlable_and_shape_errors_are_explained():
    import torch.optim

    optimizers.register(
        optimizers.OptimizerSpec("plain-sgd-for-bundles", torch.optim.SGD, {"learning_rate": 0.1}), overwrite=True
    )
    try:
        with pytest.raises(ValueError, match="cannot be bundled.*bundle_size: 1"):
            optimizers.BundledUpdate("plain-sgd-for-bundles", [{}])
    finally:
        import optimizers.registry as registry

        registry._REGISTRY.pop("plain-sgd-for-bundles")
    update = optimizers.BundledUpdate("sgd", [{}, {}])
    with pytest.raises(ValueError, match=r"must both be \(B, P\) with B = 2"):
        update.step(torch.zeros(3, 4), torch.zeros(3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="out of range"):
        optimizers.BundledUpdate("adam", [{"beta1": 1.5}])


def test_structure_keys_map_through_the_specs_torch_keys(isolated_registries):
    """A plugin preset whose project names differ from its param-group keys still gets its values."""
    from optimizers.presets import STRUCTURES

    # A spec of its own with renamed keys (register_preset keeps the structure's names), built on
    # the adam preset's public factory.
    spec = optimizers.OptimizerSpec(
        "renamed-adam",
        optimizers.get_spec("adam").factory,
        {"learning_rate": 1e-3, "b1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "weight_decay": 0.0},
        torch_keys={"learning_rate": "lr", "epsilon": "eps", "b1": "beta1"},
        structure=STRUCTURES["adam"],
    )
    optimizers.register(spec)
    theta = torch.ones(1, 3, dtype=torch.float64)
    update = optimizers.BundledUpdate("renamed-adam", [{"b1": 0.5}])
    update.step(theta, torch.ones(1, 3, dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64))
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    alone = optimizers.create("renamed-adam", [p], b1=0.5)
    p.grad = torch.ones(3, dtype=torch.float64)
    for group in alone.param_groups:
        group["lr"] = 0.1
    alone.step()
    torch.testing.assert_close(theta[0], p.detach())
    broken = optimizers.OptimizerSpec(
        "keyless-adam", optimizers.get_spec("adam").factory, {"learning_rate": 1e-3, "epsilon": 1e-8},
        structure=STRUCTURES["adam"],
    )
    optimizers.register(broken)
    with pytest.raises(ValueError, match="reads 'beta1', which is not one of its hyperparameters"):
        optimizers.BundledUpdate("keyless-adam", [{}])
    # register_preset refuses such a spec up front.
    with pytest.raises(ValueError, match=r"defaults lack 'beta1', 'beta2', read by its structure"):
        optimizers.register_preset("keyless-adam-2", STRUCTURES["adam"], {"learning_rate": 1e-3, "epsilon": 1e-8})


def test_a_preset_registered_with_register_preset_bundles_like_a_builtin(isolated_registries):
    structure = optimizers.UpdateStructure("beta1", True, False, "beta2", 0.0, "outside", "outside", True)
    optimizers.register_preset(
        "adam-again", structure,
        {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0, "decoupled_weight_decay": 0.0},
    )
    hparams = [_member_hparams("adam-again", i) for i in range(3)]
    theta = torch.randn(3, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    mine, builtin = optimizers.BundledUpdate("adam-again", hparams), optimizers.BundledUpdate("adam", hparams)
    ours, theirs = theta.clone(), theta.clone()
    lrs = torch.tensor([0.01, 0.02, 0.03], dtype=torch.float64)
    for t in range(8):
        mine.step(ours, _gradient(ours, t), lrs)
        builtin.step(theirs, _gradient(theirs, t), lrs)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
