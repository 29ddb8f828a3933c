"""The one update function (optimizers.update.apply_update): every path calls it, its fusion
rule, and for every combination of structural switches the single-tensor, foreach and bundled
paths against each other and against the equations (tests/optimizers/reference.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import optimizers
import optimizers.bundled as bundled
import optimizers.generalized as generalized
import optimizers.update as update
from optimizers import UpdateStructure
from optimizers.presets import STRUCTURES
from optimizers.structure import Fusions
from tests.optimizers.reference import structure_reference_run

# --------------------------------------------------------------------------------------------
# 1. One function, one fusion rule
# --------------------------------------------------------------------------------------------


def test_every_path_calls_the_one_update_function(monkeypatch):
    assert generalized.apply_update is bundled.apply_update is update.apply_update
    calls = []
    real = bundled.apply_update

    def spy(ops, structure, theta, grad, m, v, k):
        calls.append((ops, tuple(theta.shape), k.terms[0].shape))
        return real(ops, structure, theta, grad, m, v, k)

    monkeypatch.setattr(bundled, "apply_update", spy)
    trials = optimizers.BundledUpdate("adam", [{}, {}, {}])
    trials.step(torch.zeros(3, 4), torch.ones(3, 4), torch.full((3,), 0.1))
    # One call on the (B, P) matrix, with a (B, 1) column per coefficient.
    assert calls == [(update.COLUMN_OPS, (3, 4), (3, 1))]


# (lerp, root_into_momentum) of each structure
FUSIONS = [
    (STRUCTURES["sgd"], (False, False)),
    (STRUCTURES["momentum"], (False, False)),
    (STRUCTURES["nesterov"], (False, False)),
    (STRUCTURES["rmsprop"], (False, True)),
    (STRUCTURES["adam"], (True, False)),
    (STRUCTURES["nadam"], (True, False)),
    # An EMA with the rate inside the buffer cannot lerp (c * s != 1 - a): the root is fused.
    (UpdateStructure("momentum", True, False, "rho", 1.0, "inside", "inside", False), (False, True)),
    # With a lerp the root is not fused; nor with Nesterov (u is needed twice).
    (UpdateStructure("momentum", True, False, "rho", 1.0, "inside", "outside", False), (True, False)),
    (UpdateStructure("momentum", False, True, "rho", 1.0, "inside", "inside", False), (False, False)),
]


@pytest.mark.parametrize(("structure", "expected"), FUSIONS, ids=[str(i) for i in range(len(FUSIONS))])
def test_the_fusion_rule(structure, expected):
    assert structure.fusions == Fusions(*expected)


# --------------------------------------------------------------------------------------------
# 2. Every structure: single-tensor == foreach bitwise, == the equations, == a bundle's rows
# --------------------------------------------------------------------------------------------

FIRST_MOMENTS = [(None, False, False), ("momentum", False, False), ("momentum", False, True),
                 ("momentum", True, False), ("momentum", True, True)]
SECOND_MOMENTS = [(None, "none"), ("rho", "none"), ("rho", "inside"), ("rho", "outside")]
GRID = [
    UpdateStructure(a, ema, nesterov, rho, 0.25, eps, lr, bias)
    for (a, ema, nesterov), (rho, eps), lr, bias in itertools.product(
        FIRST_MOMENTS, SECOND_MOMENTS, ("inside", "outside"), (False, True)
    )
]
TRIALS = [  # param-group keys; each structure takes those it reads
    {"momentum": 0.7, "rho": 0.9, "eps": 1e-3, "weight_decay": 0.01, "decoupled_weight_decay": 0.02},
    {"momentum": 0.4, "rho": 0.6, "eps": 0.1, "weight_decay": 0.0, "decoupled_weight_decay": 0.05},
]
SHAPES = [(4, 3), (5,)]
LRS = [0.1, 0.05, 0.2, 0.01, 0.3, 0.07]


def _label(s: UpdateStructure) -> str:
    first = "none" if s.momentum_key is None else ("ema" if s.ema else "sum") + ("-nesterov" if s.nesterov else "")
    second = "v" if s.second_moment_key else "no-v"
    return f"m:{first}-{second}-eps:{s.eps_placement}-lr:{s.lr_placement}-bias:{s.bias_correction}"


def _hparams(structure: UpdateStructure, trial: int) -> dict[str, float]:
    keys = set(generalized.group_ranges(structure)) - {"lr"}
    return {k: v for k, v in TRIALS[trial].items() if k in keys}


def _trajectory(structure, hp, theta0, grads, foreach):
    params = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
    opt = optimizers.GeneralizedOptimizer(params, {"lr": LRS[0], **hp}, structure, foreach=foreach)
    steps = []
    for g_step, lr in zip(grads, LRS, strict=True):
        opt.param_groups[0]["lr"] = lr
        for p, g in zip(params, g_step, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
        steps.append([p.detach().clone() for p in params])
    return opt, steps


@pytest.mark.parametrize("structure", GRID, ids=[_label(s) for s in GRID])
def test_every_structure_runs_the_same_update_on_every_path(isolated_registries, structure):
    rng = np.random.default_rng(len(_label(structure)))
    theta0 = [rng.standard_normal(s) for s in SHAPES]
    grads = [[[rng.standard_normal(s) for s in SHAPES] for _ in LRS] for _ in TRIALS]
    singles = []
    for trial in range(len(TRIALS)):
        hp = _hparams(structure, trial)
        opt_s, single = _trajectory(structure, hp, theta0, grads[trial], foreach=False)
        opt_f, foreach = _trajectory(structure, hp, theta0, grads[trial], foreach=True)
        for step_s, step_f in zip(single, foreach, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(step_s, step_f, strict=True))
        for st_s, st_f in zip(opt_s.state.values(), opt_f.state.values(), strict=True):
            assert st_s.keys() == st_f.keys()
            assert all(torch.equal(st_s[k], st_f[k]) for k in st_s if k != "step")
        for i in range(len(SHAPES)):
            ref = structure_reference_run(structure, hp, theta0[i], [g[i] for g in grads[trial]], LRS)
            ours = np.stack([step[i].numpy() for step in single])
            np.testing.assert_allclose(ours, np.stack(ref), rtol=1e-10, atol=1e-12)
        singles.append(single)

    def project(hp):
        return {{"eps": "epsilon"}.get(k, k): v for k, v in hp.items()}

    optimizers.register_preset("grid", structure, {"learning_rate": 0.1, **project(_hparams(structure, 0))})
    trials = optimizers.BundledUpdate("grid", [project(_hparams(structure, i)) for i in range(len(TRIALS))])
    theta = torch.stack([torch.cat([torch.tensor(t).flatten() for t in theta0])] * len(TRIALS))
    for t, lr in enumerate(LRS):
        grad = torch.stack([torch.cat([torch.tensor(g).flatten() for g in grads[i][t]]) for i in range(len(TRIALS))])
        trials.step(theta, grad, torch.full((len(TRIALS),), lr, dtype=torch.float64))
        for i, single in enumerate(singles):
            alone = torch.cat([p.flatten() for p in single[t]])
            torch.testing.assert_close(theta[i], alone, rtol=1e-12, atol=1e-12)
