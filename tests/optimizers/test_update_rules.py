"""The presets' update rules: against the float64 reference (tests/optimizers/reference.py,
written from the equations of Choi et al. (2019), section 2, alone, not from ``optimizers/``,
so that a shared mistake cannot hide), by hand, against torch.optim, and the inclusions of
section 3 as trajectories of a small regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import optimizers
from tests.optimizers.reference import reference_run  # tests/optimizers/reference.py
from tests.optimizers.trajectories import LRS, NAMES, case_id, run_ours

# --------------------------------------------------------------------------------------------
# 1. Table test: each optimizer x hyperparameter settings vs the reference
# --------------------------------------------------------------------------------------------

RULE_CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {"momentum": 0.9}),
    ("momentum", {"momentum": 0.0}),
    ("momentum", {"momentum": 0.5, "weight_decay": 0.01}),
    ("nesterov", {"momentum": 0.9}),
    ("nesterov", {"momentum": 0.0}),
    ("nesterov", {"momentum": 0.5, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.0, "rho": 0.9, "epsilon": 1e-10}),
    ("rmsprop", {"momentum": 0.9, "rho": 0.99, "epsilon": 1e-3, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.5, "rho": 0.0, "epsilon": 0.5}),
    ("rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("adam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 1e-3}),
    ("adam", {"beta1": 0.0, "beta2": 0.9, "epsilon": 1e-8}),
    ("adam", {"beta1": 0.5, "beta2": 0.99, "epsilon": 10.0, "weight_decay": 0.05}),
    ("nadam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("nadam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 1e-3}),
    ("nadam", {"beta1": 0.0, "beta2": 0.9, "epsilon": 1e-8}),
    ("nadam", {"beta1": 0.5, "beta2": 0.99, "epsilon": 10.0, "weight_decay": 0.05}),
]


@pytest.mark.parametrize(("name", "hp"), RULE_CASES, ids=[case_id(c) for c in RULE_CASES])
def test_update_rule_matches_reference(problem, name, hp):
    theta0, grads = problem
    expected = reference_run(name, hp, theta0, grads, LRS)
    got = run_ours(name, hp, theta0, grads, LRS)
    for t, (e, g) in enumerate(zip(expected, got, strict=True)):
        np.testing.assert_allclose(
            g.numpy(), e, rtol=1e-12, atol=1e-15, err_msg=f"{name} {hp} step {t}"
        )


def test_table_covers_every_registered_optimizer_of_the_family():
    assert optimizers.names()[: len(NAMES)] == NAMES
    # The rest come from their libraries (tests/optimizers/test_library.py): not of the family.
    assert all(optimizers.get_spec(n).structure is None for n in optimizers.names()[len(NAMES):])
    assert {name for name, _ in RULE_CASES} == set(NAMES)


# --------------------------------------------------------------------------------------------
# 2. Hand-computed first updates, theta0 = 1.0, g = 0.5, lr = 0.1
# --------------------------------------------------------------------------------------------

HAND_CASES = [
    # sgd: 1 - 0.1*0.5 = 0.95
    ("sgd", {}, 0.95),
    # sgd + L2: g = 0.5 + 0.1*1.0 = 0.6; 1 - 0.1*0.6 = 0.94
    ("sgd", {"weight_decay": 0.1}, 0.94),
    # momentum: v = 0.9*0 + 0.5 = 0.5; 1 - 0.1*0.5 = 0.95 (first step is SGD's)
    ("momentum", {"momentum": 0.9}, 0.95),
    # nesterov: v = 0.5; step along 0.9*0.5 + 0.5 = 0.95; 1 - 0.1*0.95 = 0.905
    ("nesterov", {"momentum": 0.9}, 0.905),
    # rmsprop: v = 0.9*1 + 0.1*0.25 = 0.925 (v0 = 1); sqrt(v + eps) = sqrt(0.925 + 0.075) = 1;
    #          m = 0 + 0.1*0.5/1 = 0.05; 1 - 0.05 = 0.95
    ("rmsprop", {"momentum": 0.9, "rho": 0.9, "epsilon": 0.075}, 0.95),
    # adam (defaults): m = 0.1*0.5 = 0.05; v = 0.001*0.25; sqrt(v) = 0.5*sqrt(0.001)
    #   = 0.015811388300841897; b_1 = sqrt(0.001)/0.1;
    #   step = 0.1 * b_1 * m / (sqrt(v) + 1e-8) = 0.1 * 0.0158113883 / (0.0158113883 + 1e-8)
    #        = 0.1 / (1 + 6.32455532e-7) = 0.0999999367544868;  theta = 0.9000000632455132
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, 0.9000000632455132),
    # adam, beta2 = 0: v = g^2, sqrt(v) = 0.5, b_1 = 1/(1-0.9) = 10, m = 0.05;
    #   step = 0.1 * 10 * 0.05 / (0.5 + 0.5) = 0.05; theta = 0.95
    ("adam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 0.5}, 0.95),
    # nadam (defaults): numerator = 0.9*0.05 + 0.1*0.5 = 0.095 (1.9x adam's m);
    #   step = 0.1 * 1.9 * 0.0158113883 / (0.0158113883 + 1e-8) = 0.1899998798335...
    #   theta = 0.810000120166475
    ("nadam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, 0.810000120166475),
    # nadam, beta2 = 0, eps = 0.5: step = 0.1 * 10 * 0.095 / (0.5 + 0.5) = 0.095; theta = 0.905
    ("nadam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 0.5}, 0.905),
]


@pytest.mark.parametrize(
    ("name", "hp", "expected"), HAND_CASES, ids=[case_id(c[:2]) for c in HAND_CASES]
)
def test_first_update_by_hand(name, hp, expected):
    got = run_ours(name, hp, 1.0, [0.5], [0.1])
    assert got[0].item() == pytest.approx(expected, rel=1e-14, abs=0.0)


def test_second_update_by_hand_lr_placement():
    """Two steps, g = 0.5 both times, lr 0.1 then 0.2: where eta_t sits becomes visible."""
    # momentum: v1 = 0.5, theta1 = 0.95; v2 = 0.9*0.5 + 0.5 = 0.95; theta2 = 0.95 - 0.2*0.95 = 0.76
    mom = run_ours("momentum", {"momentum": 0.9}, 1.0, [0.5, 0.5], [0.1, 0.2])
    assert mom[1].item() == pytest.approx(0.76, rel=1e-14)
    # rmsprop with rho = 1, eps = 0 (v stays 1): m1 = 0.1*0.5 = 0.05, theta1 = 0.95;
    #   m2 = 0.9*0.05 + 0.2*0.5 = 0.145 (old lr kept in the buffer); theta2 = 0.95 - 0.145 = 0.805
    rms = run_ours(
        "rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}, 1.0, [0.5, 0.5], [0.1, 0.2]
    )
    assert rms[1].item() == pytest.approx(0.805, rel=1e-14)


# --------------------------------------------------------------------------------------------
# 3. Departures from (and agreements with) torch.optim
# --------------------------------------------------------------------------------------------


def _torch_run(opt_cls, theta0, grads, lrs, per_step=None, **kw) -> list[torch.Tensor]:
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = opt_cls([p], lr=lrs[0], foreach=False, **kw)
    out = []
    for t, (g, eta) in enumerate(zip(grads, lrs, strict=True)):
        opt.param_groups[0]["lr"] = eta
        if per_step is not None:
            per_step(opt.param_groups[0], t)
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().clone())
    return out


def test_adam_differs_from_torch_adam_for_large_eps(problem):
    theta0, grads = problem
    ours = run_ours("adam", {"epsilon": 1.0}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.Adam, theta0, grads, LRS, betas=(0.9, 0.999), eps=1.0)
    # Ours adds eps to sqrt(v) before the correction sqrt(1-beta2^(t+1)) ~ 0.03 is applied,
    # torch after it: with eps = 1 the steps differ by a large factor.
    step_ours = (ours[0] - torch.tensor(theta0)).abs()
    step_theirs = (theirs[0] - torch.tensor(theta0)).abs()
    assert torch.all(step_theirs > 3.0 * step_ours)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-3, atol=0.0)


@pytest.mark.parametrize("eps", [1e-300, 1e-14])
def test_adam_agrees_with_torch_adam_for_tiny_eps(problem, eps):
    theta0, grads = problem
    ours = run_ours("adam", {"epsilon": eps}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.Adam, theta0, grads, LRS, betas=(0.9, 0.999), eps=eps)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0.0)


def test_adam_equals_torch_adam_with_rescaled_eps(problem):
    """Exact relation: our eps equals torch's eps_t = eps / sqrt(1 - beta2^(t+1))."""
    theta0, grads = problem
    eps, b2 = 0.3, 0.99

    def rescale(group, t):
        group["eps"] = eps / math.sqrt(1.0 - b2 ** (t + 1))

    ours = run_ours("adam", {"epsilon": eps, "beta2": b2}, theta0, grads, LRS)
    theirs = _torch_run(
        torch.optim.Adam, theta0, grads, LRS, per_step=rescale, betas=(0.9, b2), eps=eps
    )
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0.0)


def test_nadam_differs_from_torch_nadam(problem):
    """torch.optim.NAdam has a momentum-decay schedule; ours has none (Choi et al. 2019, section 2)."""
    theta0, grads = problem
    ours = run_ours("nadam", {"epsilon": 1e-12}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.NAdam, theta0, grads, LRS, betas=(0.9, 0.999), eps=1e-12)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-3, atol=0.0)


# Last column: bitwise equality expected. torch's Nesterov forms g + gamma*buf with one fused
# multiply-add (``grad.add(buf, alpha=momentum)``), ours rounds gamma*m first
# (``m.mul(a).add_(g)``): the two differ by an ulp unless gamma*m is exact (gamma = 0.5 is).
SGD_CASES = [
    ("sgd", {}, {}, True),
    ("sgd", {"weight_decay": 0.1}, {"weight_decay": 0.1}, True),
    ("momentum", {"momentum": 0.9}, {"momentum": 0.9}, True),
    (
        "momentum",
        {"momentum": 0.5, "weight_decay": 0.01},
        {"momentum": 0.5, "weight_decay": 0.01},
        True,
    ),
    ("nesterov", {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, False),
    (
        "nesterov",
        {"momentum": 0.5, "weight_decay": 0.01},
        {"momentum": 0.5, "weight_decay": 0.01, "nesterov": True},
        False,  # we apply g and gamma*v as two in-place terms: last-ulp rounding differs
    ),
]


@pytest.mark.parametrize(
    ("name", "hp", "torch_kw", "bitwise"), SGD_CASES, ids=[case_id(c[:2]) for c in SGD_CASES]
)
def test_sgd_family_equals_torch_sgd(problem, name, hp, torch_kw, bitwise):
    theta0, grads = problem
    ours = run_ours(name, hp, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.SGD, theta0, grads, LRS, dampening=0.0, **torch_kw)
    for t, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if bitwise:
            assert torch.equal(a, b), f"{name} step {t}: max diff {(a - b).abs().max().item()}"
        else:
            torch.testing.assert_close(a, b, rtol=1e-15, atol=1e-16)


# --------------------------------------------------------------------------------------------
# 4. Inclusions (Choi et al. 2019, section 3) on a small nn.Linear regression, 20 steps
# --------------------------------------------------------------------------------------------


def _linear_trajectory(name: str, hp: dict, lrs: list[float]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2).double()
    opt = optimizers.create(name, model.parameters(), **{"learning_rate": lrs[0], **hp})
    out = []
    for eta in lrs:
        opt.param_groups[0]["lr"] = eta
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        out.append(torch.cat([q.detach().flatten() for q in model.parameters()]))
    return out


CONST_LR = [0.05] * 20
VARYING_LR = [0.05 * (1.0 - 0.04 * t) for t in range(20)]

EXACT_INCLUSIONS = [
    ("sgd", {}, "momentum", {"momentum": 0.0}),
    ("sgd", {"weight_decay": 0.01}, "momentum", {"momentum": 0.0, "weight_decay": 0.01}),
    ("sgd", {}, "nesterov", {"momentum": 0.0}),
    ("sgd", {"weight_decay": 0.01}, "nesterov", {"momentum": 0.0, "weight_decay": 0.01}),
]


@pytest.mark.parametrize(("narrow", "nhp", "wide", "whp"), EXACT_INCLUSIONS)
def test_sgd_inside_momentum_and_nesterov_bitwise(narrow, nhp, wide, whp):
    a = _linear_trajectory(narrow, nhp, VARYING_LR)
    b = _linear_trajectory(wide, whp, VARYING_LR)
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, y), f"step {t}"


@pytest.mark.parametrize("gamma", [0.0, 0.9])
def test_momentum_inside_rmsprop_rho_one(gamma):
    a = _linear_trajectory("momentum", {"momentum": gamma}, CONST_LR)
    b = _linear_trajectory("rmsprop", {"momentum": gamma, "rho": 1.0, "epsilon": 0.0}, CONST_LR)
    assert not torch.equal(a[0], a[-1])  # the problem actually moves
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(y, x, rtol=1e-12, atol=1e-14)


def test_rmsprop_rho_one_differs_from_momentum_under_a_schedule():
    """The learning rate sits inside RMSProp's buffer, so the inclusion needs a constant rate."""
    a = _linear_trajectory("momentum", {"momentum": 0.9}, VARYING_LR)
    b = _linear_trajectory("rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}, VARYING_LR)
    assert not torch.allclose(a[-1], b[-1], rtol=1e-6, atol=0.0)


@pytest.mark.parametrize(("narrow", "wide"), [("momentum", "adam"), ("nesterov", "nadam")])
def test_momentum_inside_adam_as_eps_grows(problem, narrow, wide):
    """alpha_t = eta_t*eps*(1-beta1^(t+1)) / ((1-beta1)*sqrt(1-beta2^(t+1))): error ~ 1/eps."""
    theta0, grads = problem
    gamma, b2 = 0.9, 0.0
    target = reference_run(narrow, {"momentum": gamma}, theta0, grads, LRS)[-1]
    errors = []
    for eps in [1e1, 1e3, 1e5, 1e7]:
        alphas = [
            eta * eps * (1 - gamma ** (t + 1)) / ((1 - gamma) * math.sqrt(1 - b2 ** (t + 1)))
            for t, eta in enumerate(LRS)
        ]
        got = run_ours(wide, {"beta1": gamma, "beta2": b2, "epsilon": eps}, theta0, grads, alphas)
        errors.append(float(np.abs(got[-1].numpy() - target).max()))
    assert all(e2 < e1 / 50 for e1, e2 in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-6


# --------------------------------------------------------------------------------------------
# 5. float32 parameters: the state follows their dtype, the trajectory the reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "hp"), RULE_CASES, ids=[case_id(c) for c in RULE_CASES])
def test_float32_follows_params(problem, name, hp):
    theta0, grads = problem
    expected = reference_run(name, hp, theta0, grads, LRS)
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float32))
    opt = optimizers.create(name, [p], **{"learning_rate": LRS[0], **hp})
    for g, eta in zip(grads, LRS, strict=True):
        opt.param_groups[0]["lr"] = eta
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    assert p.dtype == torch.float32
    for value in opt.state[p].values():
        if torch.is_tensor(value):
            assert value.dtype == torch.float32 and value.device == p.device
    np.testing.assert_allclose(p.detach().numpy(), expected[-1], rtol=2e-5, atol=2e-6)

